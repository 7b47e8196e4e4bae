package postgres

import (
	"context"
	"time"
)

// AddLimitCount adds n to the window's count in one statement: the upsert
// takes the row's lock, so concurrent adders on any node queue on it and
// each sees its own total. The previous window is read in the same
// statement. A row left expired but not yet swept is never a live window
// again (windows only move forward), so the upsert need not look at
// expires_at; the read of the previous window does.
func (s *Store) AddLimitCount(ctx context.Context, key string, start time.Time, per time.Duration, n int64) (current, previous int64, err error) {
	const op = "adding to limit counter"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return 0, 0, wrap(op, err)
	}
	defer cancel()
	err = s.pool.QueryRow(ctx, `WITH up AS (
			INSERT INTO cubeauth_limit_counters AS c (key, window_start, n, expires_at)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (key, window_start) DO UPDATE SET n = c.n + EXCLUDED.n
			RETURNING n)
		SELECT (SELECT n FROM up), coalesce((SELECT n FROM cubeauth_limit_counters
			WHERE key = $1 AND window_start = $5 AND expires_at > now()), 0)`,
		key, start, n, start.Add(2*per), start.Add(-per)).Scan(&current, &previous)
	if err != nil {
		return 0, 0, s.fail(op, err)
	}
	return current, previous, nil
}

// LimitCount reads the window's count and the one before it.
func (s *Store) LimitCount(ctx context.Context, key string, start time.Time, per time.Duration) (current, previous int64, err error) {
	const op = "reading limit counter"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return 0, 0, wrap(op, err)
	}
	defer cancel()
	err = s.pool.QueryRow(ctx, `SELECT
			coalesce(sum(n) FILTER (WHERE window_start = $2), 0),
			coalesce(sum(n) FILTER (WHERE window_start = $3), 0)
		FROM cubeauth_limit_counters
		WHERE key = $1 AND window_start IN ($2, $3) AND expires_at > now()`,
		key, start, start.Add(-per)).Scan(&current, &previous)
	if err != nil {
		return 0, 0, s.fail(op, err)
	}
	return current, previous, nil
}

// DeleteLimitCounts removes every window of key.
func (s *Store) DeleteLimitCounts(ctx context.Context, key string) error {
	const op = "deleting limit counters"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	_, err = s.pool.Exec(ctx, `DELETE FROM cubeauth_limit_counters WHERE key = $1`, key)
	return s.fail(op, err)
}
