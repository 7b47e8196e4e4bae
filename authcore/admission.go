package authcore

import (
	"context"
	"time"
)

// Admission to a hashing turn goes by time, not by a count of waiters: a
// caller that finds every turn taken queues when the wait it can expect fits
// in the Hasher's wait, and is refused at once otherwise. In a storm a
// caller who would time out anyway costs no timer and no held connection,
// and a burst that fits (forty first logins for one new user) is hashed
// rather than refused.

// meanWeight is how slowly the mean hash time follows new hashes: each
// moves it by 1/meanWeight of the difference.
const meanWeight = 8

// initialHashEstimate is the mean hash time assumed before the first hash:
// about 1 µs per KiB and pass, what an OWASP hash (19 MiB, two passes, about
// 40 ms) costs on a small server.
func initialHashEstimate(p Argon2Params) time.Duration {
	return time.Duration(p.MemoryKiB) * time.Duration(p.Time) * time.Microsecond
}

// expectedWait is how long the caller at position (1 for the first in the
// queue) waits for a turn: position hashes of the mean time, spread over
// the turns.
func expectedWait(position int64, mean time.Duration, turns int) time.Duration {
	return time.Duration(position) * mean / time.Duration(turns)
}

// observeHash feeds one derivation's duration into the mean.
func (h *Hasher) observeHash(d time.Duration) {
	for {
		old := h.meanHash.Load()
		if h.meanHash.CompareAndSwap(old, old+(int64(d)-old)/meanWeight) {
			return
		}
	}
}

// admits reports whether the caller at position in the queue may wait.
func (h *Hasher) admits(position int64) bool {
	return expectedWait(position, time.Duration(h.meanHash.Load()), cap(h.turns)) <= h.wait
}

// acquire takes a turn, waiting when admitted; the timer is a backstop for
// a mean that turns out too low.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.turns <- struct{}{}:
		return nil
	default:
	}
	position := h.queued.Add(1)
	defer h.queued.Add(-1)
	if !h.admits(position) {
		return errTooManyLogins()
	}
	timer := time.NewTimer(h.wait)
	defer timer.Stop()
	select {
	case h.turns <- struct{}{}:
		return nil
	case <-timer.C:
		return errTooManyLogins()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.turns }

// saturated reports whether a caller asking for a turn now would be refused
// at once: every turn is taken and its expected wait does not fit. Checking
// it before the work that leads up to a hash (reading the user) makes a
// refused login in a storm cost almost nothing.
func (h *Hasher) saturated() bool {
	return len(h.turns) == cap(h.turns) && !h.admits(h.queued.Load()+1)
}

func errTooManyLogins() *BusyError {
	return &BusyError{Reason: "too many logins at once", RetryAfter: time.Second}
}
