package store

import (
	"context"
	"time"
)

// LimitCounters count abuse-limit events (wrong passwords, creations) in
// fixed windows, shared by every process on the store, so that a fleet of
// nodes allows one budget and not one per node, and a reload forgets
// nothing. Keys are opaque strings of at most 128 bytes chosen by the
// caller (authcore hashes its keys, so no login, address or secret is
// stored); a window is named by its start and its length per. A window's
// counter is kept until 2*per after its start, long enough to be the
// previous window of the next one, and then disappears. Counters need not
// survive a power loss: losing a few counts of a window is harmless.
type LimitCounters interface {
	// AddLimitCount adds n (which may be negative, to give events back) to
	// the counter of key's window [start, start+per), creating it at zero,
	// atomically: concurrent adders on any node each see a distinct total.
	// It returns that window's new count and the count of the window before
	// it, [start-per, start), or 0.
	AddLimitCount(ctx context.Context, key string, start time.Time, per time.Duration, n int64) (current, previous int64, err error)
	// LimitCount returns what AddLimitCount would with n = 0, without
	// creating anything.
	LimitCount(ctx context.Context, key string, start time.Time, per time.Duration) (current, previous int64, err error)
	// DeleteLimitCounts removes every window of key. Removing none is not an
	// error.
	DeleteLimitCounts(ctx context.Context, key string) error
}
