package postgres

import (
	"context"
	"time"
)

// cleanups delete expired rows, at most $1 per statement. Each picks its
// rows with SKIP LOCKED, so nodes sweeping at the same time split the work
// instead of queueing behind each other, and a large backlog never holds
// many locks for long. Reads already ignore expired rows: sweeping only
// reclaims space. Deleting a guest deletes its sessions too (cascade).
var cleanups = []struct{ what, sql string }{
	{"sessions", `DELETE FROM cubeauth_sessions WHERE id IN (
		SELECT id FROM cubeauth_sessions WHERE least(expires_at, max_expires_at) <= now()
		LIMIT $1 FOR UPDATE SKIP LOCKED)`},
	{"guest users", `DELETE FROM cubeauth_users WHERE id IN (
		SELECT id FROM cubeauth_users WHERE expires_at <= now()
		LIMIT $1 FOR UPDATE SKIP LOCKED)`},
	{"nonces", `DELETE FROM cubeauth_nonces WHERE (app_id, key) IN (
		SELECT app_id, key FROM cubeauth_nonces WHERE expires_at <= now()
		LIMIT $1 FOR UPDATE SKIP LOCKED)`},
	{"password resets", `DELETE FROM cubeauth_password_resets WHERE token_hash IN (
		SELECT token_hash FROM cubeauth_password_resets WHERE expires_at <= now()
		LIMIT $1 FOR UPDATE SKIP LOCKED)`},
	{"limit counters", `DELETE FROM cubeauth_limit_counters WHERE (key, window_start) IN (
		SELECT key, window_start FROM cubeauth_limit_counters WHERE expires_at <= now()
		LIMIT $1 FOR UPDATE SKIP LOCKED)`},
	{"chat logins", `DELETE FROM cubeauth_chat_logins WHERE token_hash IN (
		SELECT token_hash FROM cubeauth_chat_logins WHERE expires_at <= now()
		LIMIT $1 FOR UPDATE SKIP LOCKED)`},
	{"events", `DELETE FROM cubeauth_events WHERE id IN (
		SELECT id FROM cubeauth_events WHERE created_at < now() - $2 * interval '1 microsecond'
		LIMIT $1 FOR UPDATE SKIP LOCKED)`},
}

// sweep deletes expired rows every CleanupInterval until ctx ends.
func (s *Store) sweep(ctx context.Context) {
	defer s.done.Done()
	ticker := time.NewTicker(s.opts.CleanupInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		s.cleanup(ctx)
	}
}

// cleanup runs every cleanup until it finds less than a full batch, and
// returns how many rows it deleted. It gives up quietly when the database
// is unreachable: the next round tries again.
func (s *Store) cleanup(ctx context.Context) int64 {
	var total int64
	for _, c := range cleanups {
		for ctx.Err() == nil {
			qctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
			args := []any{s.opts.CleanupBatch}
			if c.what == "events" {
				args = append(args, s.opts.EventRetention.Microseconds())
			}
			tag, err := s.pool.Exec(qctx, c.sql, args...)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("deleting expired rows", "what", c.what, "error", err)
				}
				return total
			}
			total += tag.RowsAffected()
			if tag.RowsAffected() < int64(s.opts.CleanupBatch) {
				break
			}
		}
	}
	return total
}
