package authcore

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// storeHealth remembers since when the store has been failing with
// store.ErrUnavailable, as the authentication path sees it: reads of
// sessions not cached yet, and the expiry writes of cached ones (at least
// once per touch interval per session in use). Cached sessions keep working
// while the store is unreachable, but only for Options.OfflineGrace: after
// that a revocation made elsewhere (another node still reaching the
// database) could be missed for too long, so every request asks the store
// again and fails closed until it answers.
type storeHealth struct {
	// downSince is the Unix time in nanoseconds of the first failure of the
	// current outage, or 0 while the store answers.
	downSince atomic.Int64
}

// observe records the outcome of a store call at now.
func (h *storeHealth) observe(err error, now time.Time) {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		h.downSince.CompareAndSwap(0, now.UnixNano())
	case err == nil, errors.Is(err, store.ErrNotFound):
		// The store answered. Other errors (a cancelled request) say nothing.
		if h.downSince.Load() != 0 {
			h.downSince.Store(0)
		}
	}
}

// cacheTrusted reports whether cached sessions may be served without the
// store at now: always while it answers, and for grace after it stopped.
func (h *storeHealth) cacheTrusted(now time.Time, grace time.Duration) bool {
	since := h.downSince.Load()
	return since == 0 || now.UnixNano()-since < int64(grace)
}
