package authcore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync/atomic"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// sharedLimiter is a limiter whose events also count in the store's
// counters, so that every node on one store spends one budget and a reload
// forgets nothing. The local limiter stays in front as the first, cheap
// gate (a flood it refuses never reaches the store) and is the fallback:
// when the store fails, the local count alone decides, never no limit.
//
// Only failures and creations touch the store: the limits of the proxied
// path and of reads (lookups) stay local.
type sharedLimiter struct {
	*limiter
	counters store.LimitCounters
	health   *counterHealth
}

// sharedCounterTimeout bounds one call to the shared counters; after a
// failure the store is left alone for counterRetry, so an unreachable
// database slows no login by more than one timeout per interval.
const (
	sharedCounterTimeout = 2 * time.Second
	counterRetry         = 5 * time.Second
)

// counterHealth tells whether the shared counters are answering, and
// reports when they stop and start again (once per outage).
type counterHealth struct {
	now    func() time.Time
	report func(error)
	// downUntil is the Unix nanosecond before which the store is not asked,
	// 0 while it answers.
	downUntil atomic.Int64
}

func (h *counterHealth) usable() bool {
	d := h.downUntil.Load()
	return d == 0 || h.now().UnixNano() >= d
}

func (h *counterHealth) observe(err error) {
	if err == nil {
		if h.downUntil.Swap(0) != 0 {
			h.report(nil)
		}
		return
	}
	if h.downUntil.Swap(h.now().Add(counterRetry).UnixNano()) == 0 {
		h.report(err)
	}
}

func newSharedLimiter(l *limiter, counters store.LimitCounters, health *counterHealth) *sharedLimiter {
	if l == nil {
		return nil
	}
	return &sharedLimiter{limiter: l, counters: counters, health: health}
}

// sharing reports whether the store's counters are to be asked.
func (l *sharedLimiter) sharing() bool { return l.counters != nil && l.health.usable() }

// storeKey is key as the store sees it: a hash of the limit's name and the
// key, so that no login, account or address is written in plain text.
func (l *sharedLimiter) storeKey(key string) string {
	sum := sha256.Sum256([]byte(l.name + "\x00" + key))
	return hex.EncodeToString(sum[:])
}

// window returns the fixed window holding now, aligned as the local
// limiter aligns its windows, and the weight of the previous one.
func (l *sharedLimiter) window() (start time.Time, weight float64) {
	now := l.now().UnixNano()
	per := int64(l.rate.Per)
	s := now - now%per
	return time.Unix(0, s), 1 - float64(now-s)/float64(per)
}

func (l *sharedLimiter) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), sharedCounterTimeout)
}

// busyAt is the refusal for a fleet count over the limit.
func (l *sharedLimiter) busyAt(start time.Time) error {
	return l.busy(start.UnixNano(), l.now().UnixNano())
}

// check is the local check, then the fleet's count.
func (l *sharedLimiter) check(key string) error {
	if l == nil || key == "" {
		return nil
	}
	if err := l.limiter.check(key); err != nil || !l.sharing() {
		return err
	}
	ctx, cancel := l.ctx()
	defer cancel()
	start, weight := l.window()
	cur, prev, err := l.counters.LimitCount(ctx, l.storeKey(key), start, l.rate.Per)
	l.health.observe(err)
	if err == nil && float64(prev)*weight+float64(cur) >= float64(l.rate.Count) {
		return l.busyAt(start)
	}
	return nil
}

// add records one event locally and for the fleet.
func (l *sharedLimiter) add(key string) {
	if l == nil || key == "" {
		return
	}
	l.limiter.add(key)
	if !l.sharing() {
		return
	}
	ctx, cancel := l.ctx()
	defer cancel()
	start, _ := l.window()
	_, _, err := l.counters.AddLimitCount(ctx, l.storeKey(key), start, l.rate.Per, 1)
	l.health.observe(err)
}

// take checks and records one event: locally first, then for the fleet,
// where the event is counted before the count is judged (so concurrent
// takers on several nodes cannot all pass) and given back when refused.
func (l *sharedLimiter) take(key string) error {
	if l == nil || key == "" {
		return nil
	}
	if err := l.limiter.take(key); err != nil || !l.sharing() {
		return err
	}
	ctx, cancel := l.ctx()
	defer cancel()
	start, weight := l.window()
	k := l.storeKey(key)
	cur, prev, err := l.counters.AddLimitCount(ctx, k, start, l.rate.Per, 1)
	l.health.observe(err)
	if err != nil || float64(prev)*weight+float64(cur) <= float64(l.rate.Count) {
		return nil
	}
	_, _, err = l.counters.AddLimitCount(ctx, k, start, l.rate.Per, -1)
	l.health.observe(err)
	return l.busyAt(start)
}

// reset forgets key locally and for the fleet.
func (l *sharedLimiter) reset(key string) {
	if l == nil || key == "" {
		return
	}
	l.limiter.reset(key)
	if !l.sharing() {
		return
	}
	ctx, cancel := l.ctx()
	defer cancel()
	l.health.observe(l.counters.DeleteLimitCounts(ctx, l.storeKey(key)))
}
