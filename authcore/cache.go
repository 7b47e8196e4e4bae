package authcore

import (
	"sync"
	"sync/atomic"

	"github.com/cubeauth/cubeauth/store"
)

// sessionCache keeps validated sessions in memory so that the proxied path
// does not read the store. It is bounded: when a shard is full an arbitrary
// entry makes room (Go's map iteration order is random enough for that).
// Revocations reach it through store events. Unknown tokens never touch it
// (see missCache): they neither take room nor invalidate.
type sessionCache struct {
	shards   [64]cacheShard
	perShard int
}

type cacheShard struct {
	mu      sync.RWMutex
	entries map[store.TokenHash]*cachedSession
	// generation counts the shard's invalidations. A session read from the
	// store before an invalidation must not be cached after it, or a
	// revoked token could come back to life.
	generation atomic.Uint64
}

// cachedSession is a session as the proxied path needs it. Identity never
// changes; the expiry fields move with use.
type cachedSession struct {
	identity Identity
	// expiresAt is the idle expiry in Unix nanoseconds, slid on every use.
	expiresAt atomic.Int64
	// storedExpiresAt is the idle expiry last written to the store.
	storedExpiresAt atomic.Int64
	maxExpiresAt    int64
	// touching is set while one request writes a new expiry.
	touching atomic.Bool
}

func newSessionCache(size int) *sessionCache {
	if size < 0 {
		return nil
	}
	c := &sessionCache{perShard: max(1, size/64)}
	for i := range c.shards {
		c.shards[i].entries = map[store.TokenHash]*cachedSession{}
	}
	return c
}

func (c *sessionCache) shard(h store.TokenHash) *cacheShard {
	return &c.shards[h[0]&63]
}

func (c *sessionCache) get(h store.TokenHash) *cachedSession {
	if c == nil {
		return nil
	}
	s := c.shard(h)
	s.mu.RLock()
	e := s.entries[h]
	s.mu.RUnlock()
	return e
}

// generationNow is read before loading the session h from the store and
// passed to put.
func (c *sessionCache) generationNow(h store.TokenHash) uint64 {
	if c == nil {
		return 0
	}
	return c.shard(h).generation.Load()
}

// put caches e unless an invalidation happened since generation was read.
func (c *sessionCache) put(h store.TokenHash, e *cachedSession, generation uint64) {
	if c == nil {
		return
	}
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.generation.Load() != generation {
		return
	}
	if len(s.entries) >= c.perShard {
		for k := range s.entries {
			delete(s.entries, k)
			break
		}
	}
	s.entries[h] = e
}

// remove invalidates h: it is dropped, and a concurrent load of it will not
// be cached.
func (c *sessionCache) remove(h store.TokenHash) {
	if c == nil {
		return
	}
	s := c.shard(h)
	s.mu.Lock()
	s.generation.Add(1)
	delete(s.entries, h)
	s.mu.Unlock()
}

// drop removes h if it is cached, invalidating only then: the store found
// no such session, and a token that was never cached has nothing to make
// stale, so a flood of unknown tokens cannot keep valid ones from being
// cached. (A revocation racing a load is the event's business: remove.)
func (c *sessionCache) drop(h store.TokenHash) {
	if c == nil {
		return
	}
	s := c.shard(h)
	s.mu.RLock()
	_, cached := s.entries[h]
	s.mu.RUnlock()
	if cached {
		c.remove(h)
	}
}

// removeWhere drops every entry whose identity matches; it walks the whole
// cache, which is fine for the rare events that need it (user deleted, app
// changed).
func (c *sessionCache) removeWhere(match func(Identity) bool) {
	if c == nil {
		return
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.generation.Add(1)
		for k, e := range s.entries {
			if match(e.identity) {
				delete(s.entries, k)
			}
		}
		s.mu.Unlock()
	}
}

// apply drops what an event makes stale.
func (c *sessionCache) apply(ev store.Event) {
	switch ev.Kind {
	case store.EventSessionDeleted, store.EventSessionChanged:
		c.remove(ev.TokenHash)
	case store.EventUserChanged, store.EventUserDeleted, store.EventUserSessionsDeleted:
		c.removeWhere(func(id Identity) bool { return id.AppID == ev.AppID && id.UserID == ev.UserID })
	case store.EventAppDeleted:
		c.removeWhere(func(id Identity) bool { return id.AppID == ev.AppID })
	case store.EventReset:
		c.removeWhere(func(Identity) bool { return true })
	}
}
