package store

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Subscribers is the list of event callbacks a driver's Subscribe adds to
// and its changes publish to. It is copy-on-write: publishing (after every
// change) reads it without a lock, so a callback may itself subscribe or
// unsubscribe. The zero value is an empty list, ready to use.
type Subscribers struct {
	mu   sync.Mutex // serializes writers of list
	list atomic.Pointer[[]*subscriber]
}

// subscriber wraps a callback so that it has an identity to remove by.
type subscriber struct {
	fn func(Event)
}

// Add registers fn and returns the func that removes it again; calling that
// more than once does nothing.
func (l *Subscribers) Add(fn func(Event)) (remove func()) {
	sub := &subscriber{fn: fn}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.replace(append(l.load(), sub))
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.replace(slices.DeleteFunc(slices.Clone(l.load()), func(s *subscriber) bool { return s == sub }))
		})
	}
}

// Publish calls every subscriber with ev, in the order they subscribed.
func (l *Subscribers) Publish(ev Event) {
	for _, sub := range l.load() {
		sub.fn(ev)
	}
}

// load returns the current list, which must not be modified.
func (l *Subscribers) load() []*subscriber {
	if p := l.list.Load(); p != nil {
		return *p
	}
	return nil
}

// replace publishes a new list; callers hold l.mu. The list is clipped, so
// that the next Add's append copies rather than writing into a backing
// array a reader may be iterating.
func (l *Subscribers) replace(list []*subscriber) {
	list = slices.Clip(list)
	l.list.Store(&list)
}
