package postgres

import (
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cubeauth/cubeauth/internal/testpg"
	"github.com/cubeauth/cubeauth/store"
	"github.com/cubeauth/cubeauth/store/storetest"
)

// BenchmarkUserQueries runs storetest's user queries over
// CUBEAUTH_BENCH_USERS users (default 1,000,000), copied once per run into
// a fresh schema of the private cluster (internal/testpg), indexes and all:
//
//	go test -run '^$' -bench UserQueries -benchtime 200x ./store/postgres/
func BenchmarkUserQueries(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("CUBEAUTH_BENCH_USERS")); err == nil && v > 0 {
		n = v
	}
	s, err := Open(b.Context(), Options{DSN: testpg.Schema(b), MaxConns: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.PutApp(b.Context(), store.App{ID: 1, AuthKey: "k", Stage: store.StageDevelopment}); err != nil {
		b.Fatal(err)
	}
	rows := make([][]any, n)
	for i := range rows {
		u := storetest.BenchUser(i)
		rows[i] = []any{u.AppID, u.Login, u.Email, u.FullName, u.Phone, u.Tags, u.ExternalID, u.PasswordHash, u.CreatedAt, u.UpdatedAt}
	}
	_, err = s.pool.CopyFrom(b.Context(), pgx.Identifier{"cubeauth_users"},
		[]string{"app_id", "login", "email", "full_name", "phone", "tags", "external_id", "password_hash", "created_at", "updated_at"},
		pgx.CopyFromRows(rows))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.Exec(b.Context(), "VACUUM ANALYZE cubeauth_users"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	storetest.BenchmarkUserQueries(b, s, n)
}
