package badger

import "github.com/cubeauth/cubeauth/store"

// Subscribe registers fn for the events of this store's changes, which it
// calls synchronously after each change is durable. A Badger store has one
// process as its only writer, so there are no changes from elsewhere. fn
// must not block. The returned func unsubscribes; calling it again does
// nothing.
func (s *Store) Subscribe(fn func(store.Event)) (unsubscribe func()) {
	return s.subscribers.Add(fn)
}
