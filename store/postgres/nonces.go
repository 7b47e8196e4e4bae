package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// UseNonce records that the key was used by the app and returns
// store.ErrNonceUsed if it was used before within ttl. One statement does
// it atomically on any number of nodes: the insert wins, or it takes over a
// row whose ttl has passed, or it finds a live row and returns nothing.
func (s *Store) UseNonce(ctx context.Context, appID int64, key string, ttl time.Duration) error {
	const op = "using nonce"
	if ttl <= 0 {
		return fmt.Errorf("%s: ttl %v is not positive", op, ttl)
	}
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	tag, err := s.pool.Exec(ctx, `INSERT INTO cubeauth_nonces (app_id, key, expires_at)
		VALUES ($1, $2, now() + $3 * interval '1 microsecond')
		ON CONFLICT (app_id, key) DO UPDATE SET expires_at = EXCLUDED.expires_at
		WHERE cubeauth_nonces.expires_at <= now()`,
		appID, key, ttl.Microseconds())
	if err != nil {
		return s.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return wrap(op, store.ErrNonceUsed)
	}
	return nil
}
