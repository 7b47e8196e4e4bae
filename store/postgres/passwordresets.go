package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cubeauth/cubeauth/store"
)

// resetLive is the condition of a reset that has not expired, judged by
// the database's clock so that every node agrees.
const resetLive = `expires_at > now()`

func scanReset(row pgx.Row) (store.PasswordReset, error) {
	var r store.PasswordReset
	var hash []byte
	if err := row.Scan(&hash, &r.AppID, &r.UserID, &r.CreatedAt, &r.ExpiresAt); err != nil {
		return r, err
	}
	if len(hash) != len(r.TokenHash) {
		return store.PasswordReset{}, fmt.Errorf("password reset with a token hash of %d bytes", len(hash))
	}
	copy(r.TokenHash[:], hash)
	r.CreatedAt, r.ExpiresAt = r.CreatedAt.UTC(), r.ExpiresAt.UTC()
	return r, nil
}

// CreatePasswordReset stores a new reset. It returns store.ErrNotFound when
// the user does not exist (or is an expired guest); the foreign key makes
// the reset go when the user goes.
func (s *Store) CreatePasswordReset(ctx context.Context, r store.PasswordReset) error {
	const op = "creating password reset"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	err = execOne(ctx, s.pool, `INSERT INTO cubeauth_password_resets (token_hash, app_id, user_id, created_at, expires_at)
		SELECT $1, app_id, id, $4, $5 FROM cubeauth_users
		WHERE app_id = $2 AND id = $3 AND (expires_at IS NULL OR expires_at > now())`,
		r.TokenHash[:], r.AppID, r.UserID, r.CreatedAt, r.ExpiresAt)
	if isForeignKeyViolation(err) {
		// The user was deleted between the SELECT and the insert.
		return wrap(op, store.ErrNotFound)
	}
	return s.fail(op, err)
}

// GetPasswordReset returns the unexpired reset with this token hash, or
// store.ErrNotFound.
func (s *Store) GetPasswordReset(ctx context.Context, h store.TokenHash) (store.PasswordReset, error) {
	const op = "getting password reset"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return store.PasswordReset{}, wrap(op, err)
	}
	defer cancel()
	r, err := scanReset(s.pool.QueryRow(ctx, `SELECT token_hash, app_id, user_id, created_at, expires_at
		FROM cubeauth_password_resets WHERE token_hash = $1 AND `+resetLive, h[:]))
	return r, s.fail(op, err)
}

// TakePasswordReset deletes the unexpired reset and returns it, in one
// statement: of concurrent takers, the one whose DELETE finds the row gets
// it; the others find nothing.
func (s *Store) TakePasswordReset(ctx context.Context, h store.TokenHash) (store.PasswordReset, error) {
	const op = "taking password reset"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return store.PasswordReset{}, wrap(op, err)
	}
	defer cancel()
	r, err := scanReset(s.pool.QueryRow(ctx, `DELETE FROM cubeauth_password_resets
		WHERE token_hash = $1 AND `+resetLive+`
		RETURNING token_hash, app_id, user_id, created_at, expires_at`, h[:]))
	return r, s.fail(op, err)
}

// DeletePasswordResets removes every pending reset of the user.
func (s *Store) DeletePasswordResets(ctx context.Context, appID, userID int64) error {
	const op = "deleting password resets"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	_, err = s.pool.Exec(ctx, `DELETE FROM cubeauth_password_resets WHERE app_id = $1 AND user_id = $2`, appID, userID)
	return s.fail(op, err)
}
