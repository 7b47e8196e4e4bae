package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

func testUsers(t *testing.T, h Harness) {
	t.Run("CreateUser assigns unique positive IDs", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		seen := map[int64]bool{}
		for i := range 5 {
			u := newUser(1, fmt.Sprintf("user%d", i), fmt.Sprintf("user%d@example.test", i))
			created := mustCreateUser(t, s, u)
			if seen[created.ID] {
				t.Fatalf("CreateUser assigned ID %d twice", created.ID)
			}
			seen[created.ID] = true
			got, err := s.GetUser(t.Context(), 1, created.ID)
			wantErr(t, "GetUser", err, nil)
			wantUser(t, "GetUser", got, created)
		}
	})

	t.Run("a user is found by ID, login and email case-insensitively", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		mustPutApp(t, s, newApp(2))
		u := mustCreateUser(t, s, newUser(1, "Alice.Smith", "Alice@Example.TEST"))

		for _, login := range []string{"Alice.Smith", "alice.smith", "ALICE.SMITH"} {
			got, err := s.GetUserByLogin(t.Context(), 1, login)
			wantErr(t, "GetUserByLogin("+login+")", err, nil)
			wantUser(t, "GetUserByLogin("+login+")", got, u)
		}
		for _, email := range []string{"Alice@Example.TEST", "alice@example.test", "ALICE@EXAMPLE.TEST"} {
			got, err := s.GetUserByEmail(t.Context(), 1, email)
			wantErr(t, "GetUserByEmail("+email+")", err, nil)
			wantUser(t, "GetUserByEmail("+email+")", got, u)
		}

		_, err := s.GetUser(t.Context(), 2, u.ID)
		wantErr(t, "GetUser with another app's ID", err, store.ErrNotFound)
		_, err = s.GetUserByLogin(t.Context(), 2, "alice.smith")
		wantErr(t, "GetUserByLogin in another app", err, store.ErrNotFound)
		_, err = s.GetUserByEmail(t.Context(), 2, "alice@example.test")
		wantErr(t, "GetUserByEmail in another app", err, store.ErrNotFound)
		_, err = s.GetUser(t.Context(), 1, u.ID+1000)
		wantErr(t, "GetUser of a missing ID", err, store.ErrNotFound)
		_, err = s.GetUserByLogin(t.Context(), 1, "alice")
		wantErr(t, "GetUserByLogin of a missing login", err, store.ErrNotFound)
		_, err = s.GetUserByEmail(t.Context(), 1, "alice@example")
		wantErr(t, "GetUserByEmail of a missing email", err, store.ErrNotFound)
	})

	t.Run("CreateUser refuses a login or email another user of the app holds", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		mustPutApp(t, s, newApp(2))
		alice := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))

		u := newUser(1, "ALICE", "other@example.test")
		wantErr(t, "CreateUser with a taken login", s.CreateUser(t.Context(), &u), store.ErrLoginTaken)
		u = newUser(1, "bob", "Alice@Example.Test")
		wantErr(t, "CreateUser with a taken email", s.CreateUser(t.Context(), &u), store.ErrEmailTaken)

		users, total, err := s.ListUsers(t.Context(), store.UserQuery{AppID: 1})
		wantErr(t, "ListUsers", err, nil)
		if total != 1 || len(users) != 1 {
			t.Fatalf("after refused creations ListUsers returned %d users, total %d; want 1", len(users), total)
		}
		got, err := s.GetUserByLogin(t.Context(), 1, "alice")
		wantErr(t, "GetUserByLogin", err, nil)
		wantUser(t, "the first holder of the login", got, alice)
		_, err = s.GetUserByLogin(t.Context(), 1, "bob")
		wantErr(t, "GetUserByLogin of a refused user", err, store.ErrNotFound)

		mustCreateUser(t, s, newUser(2, "alice", "alice@example.test"))
	})

	t.Run("users without an email or without a login do not collide", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		mustCreateUser(t, s, newUser(1, "alice", ""))
		mustCreateUser(t, s, newUser(1, "bob", ""))
		mustCreateUser(t, s, newUser(1, "", "carol@example.test"))
		mustCreateUser(t, s, newUser(1, "", "dave@example.test"))
		_, total, err := s.ListUsers(t.Context(), store.UserQuery{AppID: 1})
		wantErr(t, "ListUsers", err, nil)
		if total != 4 {
			t.Fatalf("ListUsers total = %d, want 4", total)
		}
		_, err = s.GetUserByEmail(t.Context(), 1, "")
		wantErr(t, "GetUserByEmail of the empty email", err, store.ErrNotFound)
	})

	t.Run("UpdateUser replaces the user's fields", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		u := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		u.FullName = "Alice Changed"
		u.Phone = ""
		u.Timezone = nil
		u.UpdatedAt = u.UpdatedAt.Add(time.Second)
		wantErr(t, "UpdateUser", s.UpdateUser(t.Context(), u), nil)
		got, err := s.GetUser(t.Context(), 1, u.ID)
		wantErr(t, "GetUser", err, nil)
		wantUser(t, "GetUser after UpdateUser", got, u)

		missing := u
		missing.ID += 1000
		missing.Login, missing.Email = "ghost", "ghost@example.test"
		wantErr(t, "UpdateUser of a missing user", s.UpdateUser(t.Context(), missing), store.ErrNotFound)
		_, err = s.GetUserByLogin(t.Context(), 1, "ghost")
		wantErr(t, "GetUserByLogin after a refused update", err, store.ErrNotFound)
	})

	t.Run("UpdateUser keeps logins and emails unique", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		alice := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		bob := mustCreateUser(t, s, newUser(1, "bob", "bob@example.test"))

		changed := bob
		changed.Login = "ALICE"
		wantErr(t, "UpdateUser to a taken login", s.UpdateUser(t.Context(), changed), store.ErrLoginTaken)
		changed = bob
		changed.Email = "Alice@example.test"
		wantErr(t, "UpdateUser to a taken email", s.UpdateUser(t.Context(), changed), store.ErrEmailTaken)
		got, err := s.GetUser(t.Context(), 1, bob.ID)
		wantErr(t, "GetUser", err, nil)
		wantUser(t, "user after refused updates", got, bob)
		got, err = s.GetUserByLogin(t.Context(), 1, "alice")
		wantErr(t, "GetUserByLogin", err, nil)
		wantUser(t, "holder of the login after refused updates", got, alice)

		// A user may change the case of its own login and email.
		alice.Login, alice.Email = "Alice", "ALICE@example.test"
		wantErr(t, "UpdateUser changing the case of its own login", s.UpdateUser(t.Context(), alice), nil)
		got, err = s.GetUserByLogin(t.Context(), 1, "alice")
		wantErr(t, "GetUserByLogin", err, nil)
		wantUser(t, "user after changing case", got, alice)
	})

	t.Run("UpdateUser frees the old login and email", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		alice := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		alice.Login, alice.Email = "alice2", "alice2@example.test"
		wantErr(t, "UpdateUser", s.UpdateUser(t.Context(), alice), nil)

		_, err := s.GetUserByLogin(t.Context(), 1, "alice")
		wantErr(t, "GetUserByLogin of the old login", err, store.ErrNotFound)
		_, err = s.GetUserByEmail(t.Context(), 1, "alice@example.test")
		wantErr(t, "GetUserByEmail of the old email", err, store.ErrNotFound)
		got, err := s.GetUserByLogin(t.Context(), 1, "alice2")
		wantErr(t, "GetUserByLogin of the new login", err, nil)
		wantUser(t, "GetUserByLogin of the new login", got, alice)
		got, err = s.GetUserByEmail(t.Context(), 1, "alice2@example.test")
		wantErr(t, "GetUserByEmail of the new email", err, nil)
		wantUser(t, "GetUserByEmail of the new email", got, alice)

		other := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		got, err = s.GetUserByLogin(t.Context(), 1, "alice")
		wantErr(t, "GetUserByLogin of the reused login", err, nil)
		wantUser(t, "new holder of the old login", got, other)

		// Removing the email frees it as well.
		other.Email = ""
		wantErr(t, "UpdateUser removing the email", s.UpdateUser(t.Context(), other), nil)
		mustCreateUser(t, s, newUser(1, "carol", "alice@example.test"))
	})

	t.Run("concurrent CreateUser of one login yields exactly one user", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		// Several rounds, because whether the racers overlap depends on the
		// scheduler: one round may well run one after another.
		const rounds, racers = 32, 32
		for round := range rounds {
			errs := make([]error, racers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range racers {
				wg.Go(func() {
					login := fmt.Sprintf("racer%d", round)
					if i%2 == 1 {
						login = strings.ToUpper(login)
					}
					u := newUser(1, login, fmt.Sprintf("racer%d.%d@example.test", round, i))
					<-start
					errs[i] = s.CreateUser(t.Context(), &u)
				})
			}
			close(start)
			wg.Wait()
			won := 0
			for i, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, store.ErrLoginTaken):
					t.Errorf("round %d, racer %d: got error %v, want nil or ErrLoginTaken", round, i, err)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d of %d concurrent CreateUser calls succeeded, want exactly 1", round, won, racers)
			}
		}
		_, total, err := s.ListUsers(t.Context(), store.UserQuery{AppID: 1})
		wantErr(t, "ListUsers", err, nil)
		if total != rounds {
			t.Fatalf("ListUsers total = %d after %d races, want %d", total, rounds, rounds)
		}
	})

	t.Run("ListUsers filters, pages and counts", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		mustPutApp(t, s, newApp(2))
		// "ar" occurs in carol's login, dave's full name and erin's email.
		var ids []int64
		for _, spec := range []struct{ login, email, name string }{
			{"anna", "anna@x.test", "Anna Apple"},
			{"bob", "bob@x.test", "Bob Stone"},
			{"carol", "carol@x.test", "Carol King"},
			{"dave", "dave@x.test", "Dave Barker"},
			{"erin", "erin@mark.test", "Erin Wolf"},
		} {
			u := newUser(1, spec.login, spec.email)
			u.FullName = spec.name
			ids = append(ids, mustCreateUser(t, s, u).ID)
		}
		zed := mustCreateUser(t, s, newUser(2, "zed", "zed@x.test"))

		for _, tc := range []struct {
			name  string
			q     store.UserQuery
			ids   []int64
			total int
		}{
			{"all users of the app", store.UserQuery{AppID: 1}, ids, 5},
			{"by IDs", store.UserQuery{AppID: 1, Where: []store.UserCondition{store.WhereID(store.OpIn, ids[3], ids[1], zed.ID, ids[4]+1000)}}, []int64{ids[1], ids[3]}, 2},
			{"by login", store.UserQuery{AppID: 1, Where: []store.UserCondition{store.WhereText(store.FieldLogin, store.OpEq, "BOB")}}, ids[1:2], 1},
			{"by email", store.UserQuery{AppID: 1, Where: []store.UserCondition{store.WhereText(store.FieldEmail, store.OpEq, "Carol@X.test")}}, ids[2:3], 1},
			{"by search", store.UserQuery{AppID: 1, Search: "ar"}, ids[2:5], 3},
			{"a page", store.UserQuery{AppID: 1, Offset: 1, Limit: 2}, ids[1:3], 5},
			{"the last page", store.UserQuery{AppID: 1, Offset: 4, Limit: 10}, ids[4:], 5},
			{"past the end", store.UserQuery{AppID: 1, Offset: 10}, nil, 5},
			{"a page of a search", store.UserQuery{AppID: 1, Search: "ar", Offset: 1, Limit: 1}, ids[3:4], 3},
			{"no match", store.UserQuery{AppID: 1, Where: []store.UserCondition{store.WhereText(store.FieldLogin, store.OpEq, "zed")}}, nil, 0},
			{"another app", store.UserQuery{AppID: 2}, []int64{zed.ID}, 1},
		} {
			users, total, err := s.ListUsers(t.Context(), tc.q)
			wantErr(t, "ListUsers "+tc.name, err, nil)
			wantUserIDs(t, "ListUsers "+tc.name, users, tc.ids...)
			if total != tc.total {
				t.Fatalf("ListUsers %s: total = %d, want %d", tc.name, total, tc.total)
			}
		}
		users, _, err := s.ListUsers(t.Context(), store.UserQuery{AppID: 1, Where: []store.UserCondition{store.WhereText(store.FieldLogin, store.OpEq, "anna")}})
		wantErr(t, "ListUsers", err, nil)
		if len(users) != 1 || users[0].FullName != "Anna Apple" || !strings.HasPrefix(users[0].PasswordHash, "$argon2id$") {
			t.Fatalf("ListUsers returned %+v, want anna's full record", users)
		}
	})

	t.Run("DeleteUser removes the user and its sessions", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		alice := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		bob := mustCreateUser(t, s, newUser(1, "bob", "bob@example.test"))
		a1 := mustCreateSession(t, s, newSession(t, 1, alice.ID))
		a2 := mustCreateSession(t, s, newSession(t, 1, alice.ID))
		b1 := mustCreateSession(t, s, newSession(t, 1, bob.ID))
		appSession := mustCreateSession(t, s, newSession(t, 1, 0))

		wantErr(t, "DeleteUser", s.DeleteUser(t.Context(), 1, alice.ID), nil)
		_, err := s.GetUser(t.Context(), 1, alice.ID)
		wantErr(t, "GetUser after DeleteUser", err, store.ErrNotFound)
		_, err = s.GetUserByLogin(t.Context(), 1, "alice")
		wantErr(t, "GetUserByLogin after DeleteUser", err, store.ErrNotFound)
		_, err = s.GetUserByEmail(t.Context(), 1, "alice@example.test")
		wantErr(t, "GetUserByEmail after DeleteUser", err, store.ErrNotFound)
		for _, sess := range []store.Session{a1, a2} {
			_, err = s.GetSession(t.Context(), sess.TokenHash)
			wantErr(t, "GetSession of the deleted user", err, store.ErrNotFound)
		}
		for _, sess := range []store.Session{b1, appSession} {
			got, err := s.GetSession(t.Context(), sess.TokenHash)
			wantErr(t, "GetSession of another user", err, nil)
			wantSession(t, "session of another user", got, sess)
		}
		got, err := s.GetUser(t.Context(), 1, bob.ID)
		wantErr(t, "GetUser of another user", err, nil)
		wantUser(t, "another user", got, bob)
		sessions, total, err := s.ListSessions(t.Context(), store.SessionQuery{AppID: 1})
		wantErr(t, "ListSessions", err, nil)
		wantSessionIDs(t, "ListSessions after DeleteUser", sessions, b1.ID, appSession.ID)
		if total != 2 {
			t.Fatalf("ListSessions total = %d, want 2", total)
		}

		wantErr(t, "DeleteUser of a deleted user", s.DeleteUser(t.Context(), 1, alice.ID), store.ErrNotFound)
		mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
	})

	t.Run("a user whose ExpiresAt has passed is not found", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		guest := newUser(1, "guest", "guest@example.test")
		guest.IsGuest = true
		guest.ExpiresAt = now().Add(-time.Second)
		if err := s.CreateUser(t.Context(), &guest); err != nil {
			t.Fatalf("CreateUser of an expired guest: %v", err)
		}
		wantGuestGone(t, s, guest)
	})

}

// wantGuestGone fails unless the expired guest is found no more and its
// login and email are free again.
func wantGuestGone(t *testing.T, s store.Store, guest store.User) {
	t.Helper()
	if guest.ID != 0 {
		_, err := s.GetUser(t.Context(), guest.AppID, guest.ID)
		wantErr(t, "GetUser of an expired guest", err, store.ErrNotFound)
	}
	_, err := s.GetUserByLogin(t.Context(), guest.AppID, guest.Login)
	wantErr(t, "GetUserByLogin of an expired guest", err, store.ErrNotFound)
	_, err = s.GetUserByEmail(t.Context(), guest.AppID, guest.Email)
	wantErr(t, "GetUserByEmail of an expired guest", err, store.ErrNotFound)
	users, total, err := s.ListUsers(t.Context(), store.UserQuery{AppID: guest.AppID})
	wantErr(t, "ListUsers", err, nil)
	if len(users) != 0 || total != 0 {
		t.Fatalf("ListUsers returned %d users, total %d, after the guest expired", len(users), total)
	}
	mustCreateUser(t, s, newUser(guest.AppID, guest.Login, guest.Email))
}

// testGuestExpiry waits for a guest user to expire.
func testGuestExpiry(t *testing.T, h Harness) {
	s := openFresh(t, h)
	mustPutApp(t, s, newApp(1))
	guest := newUser(1, "guest", "guest@example.test")
	guest.IsGuest = true
	guest.ExpiresAt = now().Add(time.Second)
	guest = mustCreateUser(t, s, guest)
	got, err := s.GetUserByLogin(t.Context(), 1, "guest")
	wantErr(t, "GetUserByLogin before expiry", err, nil)
	wantUser(t, "guest before expiry", got, guest)
	u := newUser(1, "guest", "")
	wantErr(t, "CreateUser with a guest's login before expiry", s.CreateUser(t.Context(), &u), store.ErrLoginTaken)

	time.Sleep(time.Until(guest.ExpiresAt) + 100*time.Millisecond)
	wantGuestGone(t, s, guest)
}
