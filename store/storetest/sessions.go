package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

func testSessions(t *testing.T, h Harness) {
	t.Run("CreateSession assigns unique positive IDs and GetSession reads it back", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		u := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		seen := map[int64]bool{}
		for _, userID := range []int64{u.ID, u.ID, 0} {
			sess := mustCreateSession(t, s, newSession(t, 1, userID))
			if seen[sess.ID] {
				t.Fatalf("CreateSession assigned ID %d twice", sess.ID)
			}
			seen[sess.ID] = true
			got, err := s.GetSession(t.Context(), sess.TokenHash)
			wantErr(t, "GetSession", err, nil)
			wantSession(t, "GetSession", got, sess)
		}
	})

	t.Run("GetSession of an unknown token hash is ErrNotFound", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		mustCreateSession(t, s, newSession(t, 1, 0))
		_, err := s.GetSession(t.Context(), newHash(t))
		wantErr(t, "GetSession", err, store.ErrNotFound)
	})

	t.Run("UpdateSession rebinds a session to a user and back", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		u := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		sess := mustCreateSession(t, s, newSession(t, 1, 0))

		sess.UserID = u.ID
		sess.UpdatedAt = sess.UpdatedAt.Add(time.Second)
		wantErr(t, "UpdateSession to a user", s.UpdateSession(t.Context(), sess), nil)
		got, err := s.GetSession(t.Context(), sess.TokenHash)
		wantErr(t, "GetSession", err, nil)
		sess.Login = "alice"
		wantSession(t, "session after login", got, sess)
		listed, total, err := s.ListSessions(t.Context(), store.SessionQuery{AppID: 1, UserID: u.ID})
		wantErr(t, "ListSessions of the user", err, nil)
		wantSessionIDs(t, "ListSessions of the user after login", listed, sess.ID)
		if total != 1 {
			t.Fatalf("ListSessions total = %d, want 1", total)
		}

		// Login is still "alice" in sess: the store must not keep it.
		sess.UserID = 0
		wantErr(t, "UpdateSession back to the app", s.UpdateSession(t.Context(), sess), nil)
		got, err = s.GetSession(t.Context(), sess.TokenHash)
		wantErr(t, "GetSession", err, nil)
		sess.Login = ""
		wantSession(t, "session after logout", got, sess)
		listed, _, err = s.ListSessions(t.Context(), store.SessionQuery{AppID: 1, UserID: u.ID})
		wantErr(t, "ListSessions of the user", err, nil)
		wantSessionIDs(t, "ListSessions of the user after logout", listed)
		hashes, err := s.DeleteUserSessions(t.Context(), 1, u.ID)
		wantErr(t, "DeleteUserSessions", err, nil)
		if len(hashes) != 0 {
			t.Fatalf("DeleteUserSessions after logout returned %d hashes, want 0", len(hashes))
		}
		_, err = s.GetSession(t.Context(), sess.TokenHash)
		wantErr(t, "GetSession after the old user's sessions were deleted", err, nil)

		missing := newSession(t, 1, u.ID)
		wantErr(t, "UpdateSession of a missing session", s.UpdateSession(t.Context(), missing), store.ErrNotFound)
		_, err = s.GetSession(t.Context(), missing.TokenHash)
		wantErr(t, "GetSession after a refused update", err, store.ErrNotFound)
	})

	t.Run("a user session carries its user's login and an app session none", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		alice := mustCreateUser(t, s, newUser(1, "Alice.Smith", "alice@example.test"))
		// What the caller puts in Login is ignored.
		userSession := newSession(t, 1, alice.ID)
		userSession.Login = "mallory"
		userSession = mustCreateSession(t, s, userSession)
		appSession := newSession(t, 1, 0)
		appSession.Login = "mallory"
		appSession = mustCreateSession(t, s, appSession)

		for _, tc := range []struct {
			name  string
			sess  store.Session
			login string
		}{{"user session", userSession, "Alice.Smith"}, {"app session", appSession, ""}} {
			if tc.sess.Login != tc.login {
				t.Fatalf("CreateSession of a %s set Login %q, want %q", tc.name, tc.sess.Login, tc.login)
			}
			got, err := s.GetSession(t.Context(), tc.sess.TokenHash)
			wantErr(t, "GetSession of a "+tc.name, err, nil)
			if got.Login != tc.login {
				t.Fatalf("GetSession of a %s: Login = %q, want %q", tc.name, got.Login, tc.login)
			}
			wantSession(t, "GetSession of a "+tc.name, got, tc.sess)
		}
		wantSessionLogins(t, s, store.SessionQuery{AppID: 1}, map[int64]string{
			userSession.ID: "Alice.Smith", appSession.ID: "",
		})
	})

	t.Run("after UpdateUser changes the login, the user's sessions carry the new one", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		alice := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		bob := mustCreateUser(t, s, newUser(1, "bob", "bob@example.test"))
		var alices []store.Session
		for range 3 {
			alices = append(alices, mustCreateSession(t, s, newSession(t, 1, alice.ID)))
		}
		ofBob := mustCreateSession(t, s, newSession(t, 1, bob.ID))
		ofApp := mustCreateSession(t, s, newSession(t, 1, 0))

		for _, step := range []struct {
			name  string
			login string
		}{
			{"a new login", "alice.new"},
			{"a change of case only", "Alice.New"},
			{"another field", "Alice.New"},
		} {
			alice.Login = step.login
			alice.FullName = "Alice after " + step.name
			wantErr(t, "UpdateUser with "+step.name, s.UpdateUser(t.Context(), alice), nil)
			want := map[int64]string{ofBob.ID: "bob", ofApp.ID: ""}
			for _, sess := range alices {
				got, err := s.GetSession(t.Context(), sess.TokenHash)
				wantErr(t, "GetSession after UpdateUser with "+step.name, err, nil)
				if got.Login != step.login {
					t.Fatalf("GetSession after UpdateUser with %s: Login = %q, want %q", step.name, got.Login, step.login)
				}
				sess.Login = step.login
				wantSession(t, "GetSession after UpdateUser with "+step.name, got, sess)
				want[sess.ID] = step.login
			}
			got, err := s.GetSession(t.Context(), ofBob.TokenHash)
			wantErr(t, "GetSession of another user's session", err, nil)
			wantSession(t, "another user's session after UpdateUser with "+step.name, got, ofBob)
			wantSessionLogins(t, s, store.SessionQuery{AppID: 1}, want)
		}
	})

	t.Run("UpdateSession rebinding to another user takes that user's login", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		alice := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		bob := mustCreateUser(t, s, newUser(1, "bob", "bob@example.test"))
		sess := mustCreateSession(t, s, newSession(t, 1, alice.ID))

		sess.UserID = bob.ID // Login still says "alice"
		wantErr(t, "UpdateSession to another user", s.UpdateSession(t.Context(), sess), nil)
		got, err := s.GetSession(t.Context(), sess.TokenHash)
		wantErr(t, "GetSession", err, nil)
		if got.Login != "bob" {
			t.Fatalf("GetSession after rebinding to bob: Login = %q, want bob", got.Login)
		}
		wantSessionLogins(t, s, store.SessionQuery{AppID: 1, UserID: bob.ID}, map[int64]string{sess.ID: "bob"})

		// Renaming the previous user leaves the session alone.
		alice.Login = "alice.new"
		wantErr(t, "UpdateUser of the previous user", s.UpdateUser(t.Context(), alice), nil)
		got, err = s.GetSession(t.Context(), sess.TokenHash)
		wantErr(t, "GetSession", err, nil)
		if got.Login != "bob" {
			t.Fatalf("GetSession after renaming the previous user: Login = %q, want bob", got.Login)
		}
	})

	t.Run("CreateSession and UpdateSession for a missing user are ErrNotFound", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		alice := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		gone := mustCreateUser(t, s, newUser(1, "gone", "gone@example.test"))
		wantErr(t, "DeleteUser", s.DeleteUser(t.Context(), 1, gone.ID), nil)
		mustPutApp(t, s, newApp(2))
		otherApp := mustCreateUser(t, s, newUser(2, "carol", "carol@example.test"))

		for _, userID := range []int64{gone.ID, otherApp.ID} {
			sess := newSession(t, 1, userID)
			wantErr(t, "CreateSession for a missing user", s.CreateSession(t.Context(), &sess), store.ErrNotFound)
			_, err := s.GetSession(t.Context(), sess.TokenHash)
			wantErr(t, "GetSession after a refused CreateSession", err, store.ErrNotFound)
		}
		sess := mustCreateSession(t, s, newSession(t, 1, alice.ID))
		moved := sess
		moved.UserID = gone.ID
		wantErr(t, "UpdateSession to a missing user", s.UpdateSession(t.Context(), moved), store.ErrNotFound)
		got, err := s.GetSession(t.Context(), sess.TokenHash)
		wantErr(t, "GetSession after a refused UpdateSession", err, nil)
		wantSession(t, "session after a refused UpdateSession", got, sess)
	})

	// Sessions are trusted with the login they carry, without a read of the
	// user: none written concurrently with a rename or a delete of its user
	// may keep the old login, or outlive the user.
	t.Run("sessions created while their user is renamed carry the new login", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		for round := range raceRounds {
			u := mustCreateUser(t, s, newUser(1, fmt.Sprintf("renamed%d", round), ""))
			created := createSessionsDuring(t, s, u, func() {
				u.Login = fmt.Sprintf("renamed%d.new", round)
				wantErr(t, "UpdateUser", s.UpdateUser(t.Context(), u), nil)
			})
			for _, sess := range created {
				got, err := s.GetSession(t.Context(), sess.TokenHash)
				wantErr(t, "GetSession of a session created during a rename", err, nil)
				if got.Login != u.Login {
					t.Fatalf("round %d: session %d created during the rename has login %q, want %q",
						round, sess.ID, got.Login, u.Login)
				}
			}
		}
	})

	t.Run("sessions created while their user is deleted do not outlive it", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		for round := range raceRounds {
			u := mustCreateUser(t, s, newUser(1, fmt.Sprintf("deleted%d", round), ""))
			created := createSessionsDuring(t, s, u, func() {
				wantErr(t, "DeleteUser", s.DeleteUser(t.Context(), 1, u.ID), nil)
			})
			for _, sess := range created {
				_, err := s.GetSession(t.Context(), sess.TokenHash)
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("round %d: GetSession of session %d created during the delete of its user: got %v, want ErrNotFound",
						round, sess.ID, err)
				}
			}
			wantSessionLogins(t, s, store.SessionQuery{AppID: 1, UserID: u.ID}, map[int64]string{})
		}
	})

	t.Run("sessions created while their app is deleted do not outlive it", func(t *testing.T) {
		s := openFresh(t, h)
		for round := range raceRounds {
			appID := int64(round + 1)
			mustPutApp(t, s, newApp(appID))
			u := mustCreateUser(t, s, newUser(appID, "alice", "alice@example.test"))
			created := createSessionsDuring(t, s, u, func() {
				wantErr(t, "DeleteApp", s.DeleteApp(t.Context(), appID), nil)
			})
			for _, sess := range created {
				_, err := s.GetSession(t.Context(), sess.TokenHash)
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("round %d: GetSession of session %d created during the delete of its app: got %v, want ErrNotFound",
						round, sess.ID, err)
				}
			}
			wantSessionLogins(t, s, store.SessionQuery{AppID: appID}, map[int64]string{})
		}
	})

	t.Run("TouchSession moves the idle expiry", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		sess := newSession(t, 1, 0)
		sess.ExpiresAt = now().Add(time.Minute)
		sess = mustCreateSession(t, s, sess)

		sess.ExpiresAt = now().Add(30 * time.Minute)
		wantErr(t, "TouchSession", s.TouchSession(t.Context(), sess.TokenHash, sess.ExpiresAt), nil)
		got, err := s.GetSession(t.Context(), sess.TokenHash)
		wantErr(t, "GetSession", err, nil)
		wantSession(t, "session after TouchSession", got, sess)

		wantErr(t, "TouchSession of a missing session",
			s.TouchSession(t.Context(), newHash(t), now().Add(time.Hour)), store.ErrNotFound)
		_, err = s.GetSession(t.Context(), newHash(t))
		wantErr(t, "GetSession", err, store.ErrNotFound)
	})

	t.Run("TouchSession does not revive an expired or deleted session", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		expired := newSession(t, 1, 0)
		expired.ExpiresAt = now().Add(-time.Second)
		expired = mustCreateSession(t, s, expired)
		wantErr(t, "TouchSession of an expired session",
			s.TouchSession(t.Context(), expired.TokenHash, now().Add(time.Hour)), store.ErrNotFound)
		_, err := s.GetSession(t.Context(), expired.TokenHash)
		wantErr(t, "GetSession after touching an expired session", err, store.ErrNotFound)

		deleted := mustCreateSession(t, s, newSession(t, 1, 0))
		wantErr(t, "DeleteSession", s.DeleteSession(t.Context(), deleted.TokenHash), nil)
		wantErr(t, "TouchSession of a deleted session",
			s.TouchSession(t.Context(), deleted.TokenHash, now().Add(time.Hour)), store.ErrNotFound)
		_, err = s.GetSession(t.Context(), deleted.TokenHash)
		wantErr(t, "GetSession after touching a deleted session", err, store.ErrNotFound)
	})

	t.Run("expired sessions are not found and not listed", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		idle := newSession(t, 1, 0)
		idle.ExpiresAt = now().Add(-time.Second)
		idle = mustCreateSession(t, s, idle)
		old := newSession(t, 1, 0)
		old.MaxExpiresAt = now().Add(-time.Second)
		old = mustCreateSession(t, s, old)
		valid := mustCreateSession(t, s, newSession(t, 1, 0))

		_, err := s.GetSession(t.Context(), idle.TokenHash)
		wantErr(t, "GetSession past ExpiresAt", err, store.ErrNotFound)
		_, err = s.GetSession(t.Context(), old.TokenHash)
		wantErr(t, "GetSession past MaxExpiresAt", err, store.ErrNotFound)
		got, err := s.GetSession(t.Context(), valid.TokenHash)
		wantErr(t, "GetSession of a valid session", err, nil)
		wantSession(t, "valid session", got, valid)
		listed, total, err := s.ListSessions(t.Context(), store.SessionQuery{AppID: 1})
		wantErr(t, "ListSessions", err, nil)
		wantSessionIDs(t, "ListSessions", listed, valid.ID)
		if total != 1 {
			t.Fatalf("ListSessions total = %d, want 1", total)
		}
	})

	t.Run("DeleteSession removes a session and is idempotent", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		gone := mustCreateSession(t, s, newSession(t, 1, 0))
		kept := mustCreateSession(t, s, newSession(t, 1, 0))

		wantErr(t, "DeleteSession", s.DeleteSession(t.Context(), gone.TokenHash), nil)
		_, err := s.GetSession(t.Context(), gone.TokenHash)
		wantErr(t, "GetSession after DeleteSession", err, store.ErrNotFound)
		listed, _, err := s.ListSessions(t.Context(), store.SessionQuery{AppID: 1})
		wantErr(t, "ListSessions", err, nil)
		wantSessionIDs(t, "ListSessions after DeleteSession", listed, kept.ID)

		wantErr(t, "DeleteSession again", s.DeleteSession(t.Context(), gone.TokenHash), nil)
		wantErr(t, "DeleteSession of an unknown hash", s.DeleteSession(t.Context(), newHash(t)), nil)
		got, err := s.GetSession(t.Context(), kept.TokenHash)
		wantErr(t, "GetSession of the other session", err, nil)
		wantSession(t, "other session", got, kept)
	})

	t.Run("DeleteUserSessions returns the hashes and removes only that user's sessions", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		alice := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		bob := mustCreateUser(t, s, newUser(1, "bob", "bob@example.test"))
		a1 := mustCreateSession(t, s, newSession(t, 1, alice.ID))
		a2 := mustCreateSession(t, s, newSession(t, 1, alice.ID))
		b1 := mustCreateSession(t, s, newSession(t, 1, bob.ID))
		appSession := mustCreateSession(t, s, newSession(t, 1, 0))

		hashes, err := s.DeleteUserSessions(t.Context(), 1, alice.ID)
		wantErr(t, "DeleteUserSessions", err, nil)
		if len(hashes) != 2 || !slices.Contains(hashes, a1.TokenHash) || !slices.Contains(hashes, a2.TokenHash) {
			t.Fatalf("DeleteUserSessions returned %d hashes, want exactly alice's 2", len(hashes))
		}
		for _, sess := range []store.Session{a1, a2} {
			_, err := s.GetSession(t.Context(), sess.TokenHash)
			wantErr(t, "GetSession of a deleted session", err, store.ErrNotFound)
		}
		for _, sess := range []store.Session{b1, appSession} {
			got, err := s.GetSession(t.Context(), sess.TokenHash)
			wantErr(t, "GetSession of a kept session", err, nil)
			wantSession(t, "kept session", got, sess)
		}
		_, err = s.GetUser(t.Context(), 1, alice.ID)
		wantErr(t, "GetUser after DeleteUserSessions", err, nil)

		hashes, err = s.DeleteUserSessions(t.Context(), 1, alice.ID)
		wantErr(t, "DeleteUserSessions again", err, nil)
		if len(hashes) != 0 {
			t.Fatalf("DeleteUserSessions again returned %d hashes, want 0", len(hashes))
		}
	})

	t.Run("ListSessions filters by user, pages and counts", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		mustPutApp(t, s, newApp(2))
		alice := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		bob := mustCreateUser(t, s, newUser(1, "bob", "bob@example.test"))
		var all, alices []int64
		for _, userID := range []int64{alice.ID, bob.ID, 0, alice.ID, bob.ID, alice.ID} {
			sess := mustCreateSession(t, s, newSession(t, 1, userID))
			all = append(all, sess.ID)
			if userID == alice.ID {
				alices = append(alices, sess.ID)
			}
		}
		other := mustCreateSession(t, s, newSession(t, 2, 0))
		slices.Sort(all)
		slices.Sort(alices)

		for _, tc := range []struct {
			name  string
			q     store.SessionQuery
			ids   []int64
			total int
		}{
			{"all sessions of the app", store.SessionQuery{AppID: 1}, all, 6},
			{"of a user", store.SessionQuery{AppID: 1, UserID: alice.ID}, alices, 3},
			{"a page", store.SessionQuery{AppID: 1, Offset: 1, Limit: 2}, all[1:3], 6},
			{"a page of a user", store.SessionQuery{AppID: 1, UserID: alice.ID, Offset: 2, Limit: 5}, alices[2:], 3},
			{"past the end", store.SessionQuery{AppID: 1, Offset: 6}, nil, 6},
			{"another app", store.SessionQuery{AppID: 2}, []int64{other.ID}, 1},
			{"a user of another app", store.SessionQuery{AppID: 2, UserID: alice.ID}, nil, 0},
		} {
			listed, total, err := s.ListSessions(t.Context(), tc.q)
			wantErr(t, "ListSessions "+tc.name, err, nil)
			wantSessionIDs(t, "ListSessions "+tc.name, listed, tc.ids...)
			if total != tc.total {
				t.Fatalf("ListSessions %s: total = %d, want %d", tc.name, total, tc.total)
			}
		}
		listed, _, err := s.ListSessions(t.Context(), store.SessionQuery{AppID: 2})
		wantErr(t, "ListSessions", err, nil)
		if len(listed) == 1 {
			wantSession(t, "listed session", listed[0], other)
		}
	})
}

// raceRounds is how often the race tests repeat: each round gives a writer
// racing a rename or delete another chance to hit the gap between its two
// transactions.
const raceRounds = 20

// createSessionsDuring creates sessions of u from several goroutines, runs
// change once some calls returned, lets the writers make as many calls again,
// and returns the sessions that were created. CreateSession may fail with
// ErrNotFound once change has deleted the user.
func createSessionsDuring(t *testing.T, s store.Store, u store.User, change func()) []store.Session {
	t.Helper()
	const writers = 8
	var mu sync.Mutex
	var created []store.Session
	var calls atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				sess := newSession(t, u.AppID, u.ID)
				err := s.CreateSession(t.Context(), &sess)
				calls.Add(1)
				switch {
				case err == nil:
					mu.Lock()
					created = append(created, sess)
					mu.Unlock()
				case !errors.Is(err, store.ErrNotFound):
					t.Errorf("CreateSession: %v", err)
					return
				}
			}
		})
	}
	waitForCalls := func(n int64) {
		for deadline := time.Now().Add(eventTimeout); calls.Load() < n && time.Now().Before(deadline); {
			time.Sleep(100 * time.Microsecond)
		}
	}
	waitForCalls(writers)
	change()
	waitForCalls(calls.Load() + writers)
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return created
}

// wantSessionLogins fails unless ListSessions(q) returns exactly the
// sessions in want (by ID), each with its login.
func wantSessionLogins(t *testing.T, s store.Store, q store.SessionQuery, want map[int64]string) {
	t.Helper()
	listed, _, err := s.ListSessions(t.Context(), q)
	wantErr(t, "ListSessions", err, nil)
	got := make(map[int64]string, len(listed))
	for _, sess := range listed {
		got[sess.ID] = sess.Login
	}
	if !maps.Equal(got, want) {
		t.Fatalf("ListSessions(%+v) logins by session ID = %v, want %v", q, got, want)
	}
}

// testSessionExpiry waits for a session to expire.
func testSessionExpiry(t *testing.T, h Harness) {
	s := openFresh(t, h)
	mustPutApp(t, s, newApp(1))
	sess := newSession(t, 1, 0)
	sess.ExpiresAt = now().Add(time.Second)
	sess = mustCreateSession(t, s, sess)
	_, err := s.GetSession(t.Context(), sess.TokenHash)
	wantErr(t, "GetSession before expiry", err, nil)

	time.Sleep(time.Until(sess.ExpiresAt) + 100*time.Millisecond)
	_, err = s.GetSession(t.Context(), sess.TokenHash)
	wantErr(t, "GetSession after expiry", err, store.ErrNotFound)
	listed, total, err := s.ListSessions(t.Context(), store.SessionQuery{AppID: 1})
	wantErr(t, "ListSessions", err, nil)
	if len(listed) != 0 || total != 0 {
		t.Fatalf("ListSessions returned %d sessions, total %d, after expiry", len(listed), total)
	}
}
