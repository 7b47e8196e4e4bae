package authcore

import (
	"sync"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// missTTL is how long a token the store did not know is answered "not
// found" without asking again. Remembering a miss is safe because tokens
// are random and the server makes them: nobody can present a token before
// its session exists, so a hash that missed never comes to exist later
// (CreateSession forgets the hash anyway, in case). The TTL is short
// because another node's store view may lag (a replica), and because a
// repeated bogus token costs only one store read per TTL.
const missTTL = 2 * time.Second

// missCache remembers, in bounded memory, token hashes the store did not
// know. Each shard is a ring in insertion order, which with one TTL is
// expiry order: the oldest miss makes room, in O(1), and valid sessions
// live elsewhere (sessionCache), so a flood of random tokens can only push
// out other misses.
type missCache struct {
	shards [16]missShard
}

type missShard struct {
	mu      sync.Mutex
	expires map[store.TokenHash]int64 // Unix nanoseconds
	ring    []missEntry
	next    int
}

type missEntry struct {
	hash    store.TokenHash
	expires int64
}

// newMissCache holds about size misses; nil (no negative caching) when
// size is not positive.
func newMissCache(size int) *missCache {
	if size <= 0 {
		return nil
	}
	c := &missCache{}
	for i := range c.shards {
		c.shards[i].expires = map[store.TokenHash]int64{}
		c.shards[i].ring = make([]missEntry, max(1, size/len(c.shards)))
	}
	return c
}

func (c *missCache) shard(h store.TokenHash) *missShard {
	return &c.shards[h[1]&15]
}

// has reports whether h missed less than missTTL ago.
func (c *missCache) has(h store.TokenHash, now time.Time) bool {
	if c == nil {
		return false
	}
	s := c.shard(h)
	s.mu.Lock()
	exp, ok := s.expires[h]
	s.mu.Unlock()
	return ok && now.UnixNano() < exp
}

// add remembers that the store did not know h.
func (c *missCache) add(h store.TokenHash, now time.Time) {
	if c == nil {
		return
	}
	exp := now.Add(missTTL).UnixNano()
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.ring[s.next]
	if e, ok := s.expires[old.hash]; ok && e == old.expires {
		delete(s.expires, old.hash)
	}
	s.ring[s.next] = missEntry{hash: h, expires: exp}
	s.next = (s.next + 1) % len(s.ring)
	s.expires[h] = exp
}

// forget drops h: a session with this hash now exists.
func (c *missCache) forget(h store.TokenHash) {
	if c == nil {
		return
	}
	s := c.shard(h)
	s.mu.Lock()
	delete(s.expires, h)
	s.mu.Unlock()
}

// len counts the misses held.
func (c *missCache) len() int {
	if c == nil {
		return 0
	}
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.expires)
		s.mu.Unlock()
	}
	return n
}
