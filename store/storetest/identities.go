package storetest

import (
	"sync"
	"testing"

	"github.com/cubeauth/cubeauth/store"
)

func testIdentities(t *testing.T, h Harness) {
	t.Run("a user created with an identity is found by it after reopening", testIdentityDurable(h))
	t.Run("concurrent first logins with one identity make one user", testIdentityConcurrent(h))
	t.Run("a taken identity, login or email is refused and creates nothing", testIdentityTaken(h))
	t.Run("deleting the user frees its identity", testIdentityGoesWithUser(h))
	t.Run("deleting the app frees its identities", testIdentityGoesWithApp(h))
}

func testIdentityGoesWithApp(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		u := store.User{AppID: 1, CreatedAt: now(), UpdatedAt: now()}
		wantErr(t, "CreateUserWithIdentity", s.CreateUserWithIdentity(t.Context(), &u, "cidp", "x"), nil)
		wantErr(t, "DeleteApp", s.DeleteApp(t.Context(), 1), nil)
		mustPutApp(t, s, newApp(1))
		_, err := s.GetUserByIdentity(t.Context(), 1, "cidp", "x")
		wantErr(t, "the identity in a deleted app", err, store.ErrNotFound)
		v := store.User{AppID: 1, CreatedAt: now(), UpdatedAt: now()}
		wantErr(t, "binding it in the app made again", s.CreateUserWithIdentity(t.Context(), &v, "cidp", "x"), nil)
	}
}

func testIdentityDurable(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		open := h.New(t)
		s := openWith(t, open)
		mustPutApp(t, s, newApp(1))
		mustPutApp(t, s, newApp(2))
		u := store.User{AppID: 1, Phone: "+15550100", CreatedAt: now(), UpdatedAt: now()}
		if err := s.CreateUserWithIdentity(t.Context(), &u, "firebase:p1", "uid-1"); err != nil || u.ID <= 0 {
			t.Fatalf("CreateUserWithIdentity = %v, id %d", err, u.ID)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openWith(t, open)
		got, err := s.GetUserByIdentity(t.Context(), 1, "firebase:p1", "uid-1")
		if err != nil || got.ID != u.ID || got.Phone != u.Phone {
			t.Fatalf("GetUserByIdentity = %+v, %v; want user %d", got, err, u.ID)
		}
		for _, c := range []struct {
			app               int64
			provider, subject string
		}{{2, "firebase:p1", "uid-1"}, {1, "firebase:p2", "uid-1"}, {1, "firebase:p1", "uid-2"}, {1, "firebase:p1uid-1", ""}} {
			_, err := s.GetUserByIdentity(t.Context(), c.app, c.provider, c.subject)
			wantErr(t, "GetUserByIdentity of another app, provider or subject", err, store.ErrNotFound)
		}
	}
}

func testIdentityConcurrent(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		const creators = 8
		var wg sync.WaitGroup
		errs := make(chan error, creators)
		for range creators {
			wg.Go(func() {
				u := store.User{AppID: 1, CreatedAt: now(), UpdatedAt: now()}
				errs <- s.CreateUserWithIdentity(t.Context(), &u, "cidp", "ext-7")
			})
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			if err == nil {
				won++
				continue
			}
			wantErr(t, "a losing creator", err, store.ErrIdentityTaken)
		}
		if won != 1 {
			t.Fatalf("%d creators won, want 1", won)
		}
		_, total, err := s.ListUsers(t.Context(), store.UserQuery{AppID: 1})
		if err != nil || total != 1 {
			t.Fatalf("ListUsers total = %d, %v; want 1 user", total, err)
		}
	}
}

func testIdentityTaken(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		u := store.User{AppID: 1, Login: "alice", CreatedAt: now(), UpdatedAt: now()}
		wantErr(t, "a taken login", s.CreateUserWithIdentity(t.Context(), &u, "cidp", "a"), store.ErrLoginTaken)
		u = store.User{AppID: 1, Email: "alice@example.test", CreatedAt: now(), UpdatedAt: now()}
		wantErr(t, "a taken email", s.CreateUserWithIdentity(t.Context(), &u, "cidp", "a"), store.ErrEmailTaken)
		_, err := s.GetUserByIdentity(t.Context(), 1, "cidp", "a")
		wantErr(t, "the identity of a refused creation", err, store.ErrNotFound)
		u = store.User{AppID: 1, Login: "bob", CreatedAt: now(), UpdatedAt: now()}
		wantErr(t, "a free identity", s.CreateUserWithIdentity(t.Context(), &u, "cidp", "a"), nil)
		v := store.User{AppID: 1, Login: "carol", CreatedAt: now(), UpdatedAt: now()}
		wantErr(t, "a taken identity", s.CreateUserWithIdentity(t.Context(), &v, "cidp", "a"), store.ErrIdentityTaken)
		_, err = s.GetUserByLogin(t.Context(), 1, "carol")
		wantErr(t, "the user of a refused creation", err, store.ErrNotFound)
	}
}

func testIdentityGoesWithUser(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		u := store.User{AppID: 1, CreatedAt: now(), UpdatedAt: now()}
		wantErr(t, "CreateUserWithIdentity", s.CreateUserWithIdentity(t.Context(), &u, "cidp", "x"), nil)
		wantErr(t, "DeleteUser", s.DeleteUser(t.Context(), 1, u.ID), nil)
		_, err := s.GetUserByIdentity(t.Context(), 1, "cidp", "x")
		wantErr(t, "the identity of a deleted user", err, store.ErrNotFound)
		v := store.User{AppID: 1, CreatedAt: now(), UpdatedAt: now()}
		wantErr(t, "binding the freed identity again", s.CreateUserWithIdentity(t.Context(), &v, "cidp", "x"), nil)
		got, err := s.GetUserByIdentity(t.Context(), 1, "cidp", "x")
		if err != nil || got.ID != v.ID {
			t.Fatalf("GetUserByIdentity = %d, %v; want the new user %d", got.ID, err, v.ID)
		}
	}
}
