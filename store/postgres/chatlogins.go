package postgres

import (
	"context"

	"github.com/cubeauth/cubeauth/store"
)

// PutChatLogin stores l, replacing a row of its token hash.
func (s *Store) PutChatLogin(ctx context.Context, l store.ChatLogin) error {
	const op = "storing chat login"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	var digest []byte // NULL for a token login
	if l.PasswordDigest != ([32]byte{}) {
		digest = l.PasswordDigest[:]
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO cubeauth_chat_logins (token_hash, app_id, user_id, password_digest, expires_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (token_hash) DO UPDATE SET app_id = EXCLUDED.app_id, user_id = EXCLUDED.user_id,
			password_digest = EXCLUDED.password_digest, expires_at = EXCLUDED.expires_at`,
		l.TokenHash[:], l.AppID, l.UserID, digest, l.ExpiresAt)
	return s.fail(op, err)
}

// ListChatLogins returns the unexpired rows.
func (s *Store) ListChatLogins(ctx context.Context) ([]store.ChatLogin, error) {
	const op = "listing chat logins"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT token_hash, app_id, user_id, password_digest, expires_at
		FROM cubeauth_chat_logins WHERE expires_at > now()`)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var out []store.ChatLogin
	for rows.Next() {
		var l store.ChatLogin
		var hash, digest []byte
		if err := rows.Scan(&hash, &l.AppID, &l.UserID, &digest, &l.ExpiresAt); err != nil {
			return nil, s.fail(op, err)
		}
		copy(l.TokenHash[:], hash)
		copy(l.PasswordDigest[:], digest)
		l.ExpiresAt = l.ExpiresAt.UTC()
		out = append(out, l)
	}
	return out, s.fail(op, rows.Err())
}

// DeleteChatLogin removes the row of h.
func (s *Store) DeleteChatLogin(ctx context.Context, h store.TokenHash) error {
	const op = "deleting chat login"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	_, err = s.pool.Exec(ctx, `DELETE FROM cubeauth_chat_logins WHERE token_hash = $1`, h[:])
	return s.fail(op, err)
}
