package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/cubeauth/cubeauth/store"
)

const signingKeyColumns = `kid, alg, slot, private_key, created_at, expires_at`

func scanSigningKey(row pgx.Row) (store.SigningKey, error) {
	var k store.SigningKey
	err := row.Scan(&k.ID, &k.Alg, &k.Slot, &k.PrivateKey, &k.CreatedAt, &k.ExpiresAt)
	k.CreatedAt, k.ExpiresAt = k.CreatedAt.UTC(), k.ExpiresAt.UTC()
	return k, err
}

// AddSigningKey stores k unless its (alg, slot) holds a live key, and
// returns the stored key. The insert and the read are one statement, so
// concurrent adders on any number of nodes all get the winner's key.
func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey) (store.SigningKey, error) {
	const op = "adding signing key"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return store.SigningKey{}, wrap(op, err)
	}
	defer cancel()
	// An expired key of the slot is replaced; a live one wins. The no-op
	// update makes RETURNING yield the row that is there.
	stored, err := scanSigningKey(s.pool.QueryRow(ctx, `INSERT INTO cubeauth_signing_keys (`+signingKeyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (alg, slot) DO UPDATE SET
			kid = CASE WHEN cubeauth_signing_keys.expires_at > now() THEN cubeauth_signing_keys.kid ELSE EXCLUDED.kid END,
			private_key = CASE WHEN cubeauth_signing_keys.expires_at > now() THEN cubeauth_signing_keys.private_key ELSE EXCLUDED.private_key END,
			created_at = CASE WHEN cubeauth_signing_keys.expires_at > now() THEN cubeauth_signing_keys.created_at ELSE EXCLUDED.created_at END,
			expires_at = CASE WHEN cubeauth_signing_keys.expires_at > now() THEN cubeauth_signing_keys.expires_at ELSE EXCLUDED.expires_at END
		RETURNING `+signingKeyColumns,
		k.ID, k.Alg, k.Slot, k.PrivateKey, k.CreatedAt, k.ExpiresAt))
	return stored, s.fail(op, err)
}

// ListSigningKeys returns the unexpired keys ordered by alg, then slot.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	const op = "listing signing keys"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+signingKeyColumns+` FROM cubeauth_signing_keys
		WHERE expires_at > now() ORDER BY alg, slot`)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var keys []store.SigningKey
	for rows.Next() {
		k, err := scanSigningKey(rows)
		if err != nil {
			return nil, s.fail(op, err)
		}
		keys = append(keys, k)
	}
	return keys, s.fail(op, rows.Err())
}
