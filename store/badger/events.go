package badger

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cubeauth/cubeauth/store"
)

// subscribers is a copy-on-write list of event callbacks: publishing (after
// every change) reads it without a lock; subscribing copies it.
type subscribers struct {
	mu   sync.Mutex // serializes writers of list
	list atomic.Pointer[[]*subscriber]
}

// subscriber wraps a callback so that it has an identity to remove by.
type subscriber struct {
	fn func(store.Event)
}

// Subscribe registers fn for the events of this store's changes, which it
// calls synchronously after each change is durable. A Badger store has one
// process as its only writer, so there are no changes from elsewhere. fn
// must not block. The returned func unsubscribes; calling it again does
// nothing.
func (s *Store) Subscribe(fn func(store.Event)) (unsubscribe func()) {
	return s.subscribers.add(fn)
}

func (l *subscribers) add(fn func(store.Event)) (remove func()) {
	sub := &subscriber{fn: fn}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.store(append(l.load(), sub))
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.store(slices.DeleteFunc(slices.Clone(l.load()), func(s *subscriber) bool { return s == sub }))
		})
	}
}

// load returns the current list, which must not be modified.
func (l *subscribers) load() []*subscriber {
	if p := l.list.Load(); p != nil {
		return *p
	}
	return nil
}

// store publishes a new list; callers hold l.mu and never pass a slice that
// shares a backing array another reader may see being modified.
func (l *subscribers) store(list []*subscriber) {
	list = slices.Clip(list)
	l.list.Store(&list)
}

// publish calls every subscriber with ev.
func (l *subscribers) publish(ev store.Event) {
	for _, sub := range l.load() {
		sub.fn(ev)
	}
}
