package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// recorder collects the events a subscriber receives.
type recorder struct {
	mu     sync.Mutex
	events []store.Event
	// next is the index of the first event not yet consumed by waitFor.
	next   int
	notify chan struct{}
}

func newRecorder() *recorder {
	return &recorder{notify: make(chan struct{}, 1)}
}

// record is the subscriber callback; it never blocks.
func (r *recorder) record(ev store.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// waitFor waits for an event matching want among those not consumed yet, and
// returns the events that came before it. Consumed events are not looked at
// again.
func (r *recorder) waitFor(t *testing.T, what string, want func(store.Event) bool) []store.Event {
	t.Helper()
	deadline := time.After(eventTimeout)
	for {
		r.mu.Lock()
		for i := r.next; i < len(r.events); i++ {
			if want(r.events[i]) {
				before := append([]store.Event(nil), r.events[r.next:i]...)
				r.next = i + 1
				r.mu.Unlock()
				return before
			}
		}
		r.mu.Unlock()
		select {
		case <-r.notify:
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("no event for %s within %v; unconsumed events: %+v", what, eventTimeout, r.events[r.next:])
			return nil
		}
	}
}

// all returns every recorded event.
func (r *recorder) all() []store.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]store.Event(nil), r.events...)
}

func isEvent(kind store.EventKind, appID, userID int64) func(store.Event) bool {
	return func(ev store.Event) bool {
		return ev.Kind == kind && ev.AppID == appID && ev.UserID == userID
	}
}

func isSessionEvent(kind store.EventKind, h store.TokenHash) func(store.Event) bool {
	return func(ev store.Event) bool { return ev.Kind == kind && ev.TokenHash == h }
}

func testEvents(t *testing.T, h Harness) {
	t.Run("subscribers hear of every change other users of the store must see", func(t *testing.T) {
		s := openFresh(t, h)
		r := newRecorder()
		unsubscribe := s.Subscribe(r.record)
		defer unsubscribe()
		ctx := t.Context()

		app := newApp(1)
		mustPutApp(t, s, app)
		r.waitFor(t, "PutApp", isEvent(store.EventAppChanged, 1, 0))
		created := mustCreateApp(t, s, newApp(0))
		r.waitFor(t, "CreateApp", isEvent(store.EventAppChanged, created.ID, 0))

		u := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		sess := mustCreateSession(t, s, newSession(t, 1, 0))
		sess.UserID = u.ID
		wantErr(t, "UpdateSession", s.UpdateSession(ctx, sess), nil)
		r.waitFor(t, "UpdateSession", isSessionEvent(store.EventSessionChanged, sess.TokenHash))

		// TouchSession is silent: nothing about the session may arrive before
		// the event of a later change.
		wantErr(t, "TouchSession", s.TouchSession(ctx, sess.TokenHash, now().Add(2*time.Hour)), nil)
		mustPutApp(t, s, newApp(2))
		before := r.waitFor(t, "PutApp after TouchSession", isEvent(store.EventAppChanged, 2, 0))
		for _, ev := range before {
			if ev.TokenHash == sess.TokenHash || ev.Kind == store.EventSessionChanged || ev.Kind == store.EventSessionDeleted {
				t.Fatalf("TouchSession caused event %+v", ev)
			}
		}

		wantErr(t, "DeleteSession", s.DeleteSession(ctx, sess.TokenHash), nil)
		r.waitFor(t, "DeleteSession", isSessionEvent(store.EventSessionDeleted, sess.TokenHash))

		u.FullName = "Alice Changed"
		wantErr(t, "UpdateUser", s.UpdateUser(ctx, u), nil)
		r.waitFor(t, "UpdateUser", isEvent(store.EventUserChanged, 1, u.ID))

		mustCreateSession(t, s, newSession(t, 1, u.ID))
		_, err := s.DeleteUserSessions(ctx, 1, u.ID)
		wantErr(t, "DeleteUserSessions", err, nil)
		r.waitFor(t, "DeleteUserSessions", isEvent(store.EventUserSessionsDeleted, 1, u.ID))

		wantErr(t, "DeleteUser", s.DeleteUser(ctx, 1, u.ID), nil)
		r.waitFor(t, "DeleteUser", isEvent(store.EventUserDeleted, 1, u.ID))

		wantErr(t, "DeleteApp", s.DeleteApp(ctx, 1), nil)
		r.waitFor(t, "DeleteApp", isEvent(store.EventAppDeleted, 1, 0))
	})

	t.Run("unsubscribe stops delivery", func(t *testing.T) {
		s := openFresh(t, h)
		gone, kept := newRecorder(), newRecorder()
		unsubscribe := s.Subscribe(gone.record)
		defer s.Subscribe(kept.record)()

		mustPutApp(t, s, newApp(1))
		gone.waitFor(t, "PutApp before unsubscribing", isEvent(store.EventAppChanged, 1, 0))
		kept.waitFor(t, "PutApp before unsubscribing", isEvent(store.EventAppChanged, 1, 0))

		unsubscribe()
		unsubscribe() // a second call is harmless
		mustPutApp(t, s, newApp(2))
		kept.waitFor(t, "PutApp after unsubscribing", isEvent(store.EventAppChanged, 2, 0))
		for _, ev := range gone.all() {
			if ev.AppID == 2 {
				t.Fatalf("an unsubscribed callback received %+v", ev)
			}
		}
	})
}
