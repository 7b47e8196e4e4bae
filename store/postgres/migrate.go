package postgres

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations holds the schema, one file per version: NNNN_name.sql, applied
// in order, each exactly once per schema. Files are never edited once
// released; a change is a new file. Migrations only add (tables, columns,
// indexes), so a node still running the previous version keeps working
// while a newer one migrates.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migration is one file of migrations.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads and orders the embedded files.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration file %s: name must start with a positive version and _", e.Name())
		}
		b, err := fs.ReadFile(migrations, "migrations/"+e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: version, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share a version", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// migrate applies the pending migrations in one transaction and returns the
// schema they live in. A transaction-scoped advisory lock, keyed by the
// schema, makes nodes that start at once take turns: the first applies the
// migrations, the others find them applied. PostgreSQL's DDL is
// transactional, so a failed migration leaves nothing half done.
func migrate(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	all, err := loadMigrations()
	if err != nil {
		return "", fmt.Errorf("reading migrations: %w", err)
	}
	var schema string
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var current *string
		if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&current); err != nil {
			return err
		}
		if current == nil {
			return errors.New("no schema to create tables in: the search_path names no existing schema")
		}
		schema = *current
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("migrate", schema)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS cubeauth_schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT version FROM cubeauth_schema_migrations`)
		if err != nil {
			return err
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		for _, m := range all {
			if slices.Contains(applied, int32(m.version)) {
				continue
			}
			// No arguments: pgx sends the file with the simple protocol,
			// which runs several statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("applying migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO cubeauth_schema_migrations (version, name) VALUES ($1, $2)`,
				m.version, m.name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("migrating schema: %w", err)
	}
	return schema, nil
}

// lockKey is the advisory lock key for purpose in schema.
func lockKey(purpose, schema string) int64 {
	sum := sha256.Sum256([]byte("cubeauth." + purpose + "." + schema))
	var k int64
	for _, b := range sum[:8] {
		k = k<<8 | int64(b)
	}
	return k
}

// channelName is the NOTIFY channel of the stores on schema. NOTIFY
// channels belong to the database, so the schema goes into the name; it is
// hashed to stay a short, plain identifier.
func channelName(schema string) string {
	sum := sha256.Sum256([]byte(schema))
	return "cubeauth_" + hex.EncodeToString(sum[:8])
}
