package store_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cubeauth/cubeauth/store"
)

func TestSubscribersHearEveryEventUntilTheyUnsubscribe(t *testing.T) {
	var l store.Subscribers
	var first, second []store.EventKind
	removeFirst := l.Add(func(ev store.Event) { first = append(first, ev.Kind) })
	l.Add(func(ev store.Event) { second = append(second, ev.Kind) })
	l.Publish(store.Event{Kind: store.EventAppChanged})
	removeFirst()
	removeFirst() // a second call does nothing, and removes no one else
	l.Publish(store.Event{Kind: store.EventAppDeleted})
	if len(first) != 1 || first[0] != store.EventAppChanged {
		t.Errorf("first subscriber heard %v, want only the event before it unsubscribed", first)
	}
	if len(second) != 2 {
		t.Errorf("second subscriber heard %v, want both events", second)
	}
}

func TestASubscriberMayUnsubscribeAndSubscribeWhileBeingCalled(t *testing.T) {
	var l store.Subscribers
	calls, added := 0, 0
	var remove func()
	remove = l.Add(func(store.Event) {
		calls++
		remove()
		l.Add(func(store.Event) { added++ })
	})
	l.Publish(store.Event{Kind: store.EventReset}) // deadlocks if Publish held the writers' lock
	l.Publish(store.Event{Kind: store.EventReset})
	if calls != 1 || added != 1 {
		t.Errorf("calls %d, added subscriber's calls %d; want 1 and 1", calls, added)
	}
}

// Publishing reads the list while others change it (run with -race); a
// subscriber that stays hears every event throughout.
func TestSubscribersPublishWhileOthersSubscribe(t *testing.T) {
	var l store.Subscribers
	var heard atomic.Int64
	l.Add(func(store.Event) { heard.Add(1) })
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 200 {
				l.Add(func(store.Event) {})()
			}
		}()
		go func() {
			defer wg.Done()
			for range 200 {
				l.Publish(store.Event{Kind: store.EventUserChanged})
			}
		}()
	}
	wg.Wait()
	if n := heard.Load(); n != 4*200 {
		t.Errorf("the staying subscriber heard %d events, want %d", n, 4*200)
	}
}
