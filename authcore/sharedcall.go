package authcore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sync"
)

// sharedCalls lets concurrent callers with the same key share one call: the
// first starts it, the others wait for its result. Keys are SHA-256 digests
// (see sharedKey), so no password is kept as a map key, and an entry lives
// only while its call runs.
type sharedCalls[T any] struct {
	mu    sync.Mutex
	calls map[[sha256.Size]byte]*sharedCall[T]
}

type sharedCall[T any] struct {
	done    chan struct{}
	callers int // how many share it; read by tests
	val     T
	err     error
}

// do returns fn's result, from the running call with key if there is one.
// fn runs in a goroutine of its own, with ctx's values but not its end: the
// callers that joined may outlive the one that started it. A caller whose
// ctx ends stops waiting at once. shared is true when another caller
// started the call.
func (s *sharedCalls[T]) do(ctx context.Context, key [sha256.Size]byte, fn func(context.Context) (T, error)) (v T, shared bool, err error) {
	s.mu.Lock()
	c, shared := s.calls[key]
	if !shared {
		if s.calls == nil {
			s.calls = map[[sha256.Size]byte]*sharedCall[T]{}
		}
		c = &sharedCall[T]{done: make(chan struct{})}
		s.calls[key] = c
		go s.run(context.WithoutCancel(ctx), key, c, fn)
	}
	c.callers++
	s.mu.Unlock()
	select {
	case <-c.done:
		return c.val, shared, c.err
	case <-ctx.Done():
		var zero T
		return zero, shared, ctx.Err()
	}
}

func (s *sharedCalls[T]) run(ctx context.Context, key [sha256.Size]byte, c *sharedCall[T], fn func(context.Context) (T, error)) {
	defer func() {
		s.mu.Lock()
		delete(s.calls, key)
		s.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fn(ctx)
}

// sharedKey is the SHA-256 of parts, each prefixed with its length so that
// no two lists of parts make the same key.
func sharedKey(parts ...string) [sha256.Size]byte {
	d := sha256.New()
	for _, p := range parts {
		d.Write(binary.BigEndian.AppendUint64(nil, uint64(len(p))))
		d.Write([]byte(p))
	}
	var key [sha256.Size]byte
	d.Sum(key[:0])
	return key
}
