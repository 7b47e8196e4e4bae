// Package authcore is cubeauth's domain: apps and their stages, users,
// sessions, password hashing, legacy signatures, tokens and the session
// cache. It knows nothing of HTTP or Caddy: methods take parsed input and
// return results or typed errors (see errors.go) that the HTTP layer maps to
// ConnectyCube's wire format.
package authcore

import (
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// Service answers every authentication question for one store. It is safe
// for concurrent use. Several Services may share a store (overlapping config
// reloads, or many nodes on one database): each keeps its caches coherent
// through the store's events.
type Service struct {
	store       store.Store
	opts        Options
	now         func() time.Time
	hasher      *Hasher
	apps        appCache
	sessions    *sessionCache
	misses      *missCache
	limits      limiters
	health      storeHealth
	unsubscribe func()
	// firstLogins shares the creation of a user among concurrent first
	// logins with the same credentials.
	firstLogins sharedCalls[firstLogin]
	// signups shares the creation of a user among identical concurrent
	// signups.
	signups sharedCalls[store.User]
	// resets throttles and bounds password reset mails.
	resets *passwordResets
	// chatChecks remembers successful chat password checks.
	chatChecks *chatChecks
}

// New returns a Service over st. Close it to stop listening to st's events;
// closing the Service does not close st.
func New(st store.Store, opts Options) *Service {
	opts = opts.withDefaults()
	s := &Service{
		store:      st,
		opts:       opts,
		now:        opts.Now,
		hasher:     opts.Hasher,
		sessions:   newSessionCache(opts.CacheSize),
		misses:     newMissCache(missCacheSize(opts.CacheSize)),
		limits:     newLimiters(*opts.Limits, opts.Now, st),
		resets:     newPasswordResets(),
		chatChecks: newChatChecks(),
	}
	s.unsubscribe = st.Subscribe(s.onEvent)
	return s
}

// Close stops the Service from following store events and waits for the
// password reset mails in progress (those still queued are dropped). It
// closes neither
// the store nor the Hasher, which may serve other Services.
func (s *Service) Close() {
	s.unsubscribe()
	s.stopPasswordResets()
}

// Store returns the store the Service works on.
func (s *Service) Store() store.Store { return s.store }

// Options returns the effective options, defaults filled in.
func (s *Service) Options() Options { return s.opts }

func (s *Service) onEvent(ev store.Event) {
	switch ev.Kind {
	case store.EventAppChanged, store.EventAppDeleted, store.EventReset:
		s.apps.invalidate()
	}
	s.sessions.apply(ev)
	if ev.Kind == store.EventSessionChanged {
		s.misses.forget(ev.TokenHash)
	}
}

// missCacheSize sizes the negative cache beside the session cache: a
// quarter of it, at least 1024, none when session caching is off.
func missCacheSize(cacheSize int) int {
	if cacheSize < 0 {
		return 0
	}
	return max(1024, cacheSize/4)
}
