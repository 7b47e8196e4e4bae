package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// newReset returns a reset of the user valid for an hour.
func newReset(t *testing.T, u store.User) store.PasswordReset {
	t.Helper()
	ts := now()
	return store.PasswordReset{TokenHash: newHash(t), AppID: u.AppID, UserID: u.ID, CreatedAt: ts, ExpiresAt: ts.Add(time.Hour)}
}

func mustCreateReset(t *testing.T, s store.Store, r store.PasswordReset) {
	t.Helper()
	if err := s.CreatePasswordReset(t.Context(), r); err != nil {
		t.Fatalf("CreatePasswordReset: %v", err)
	}
}

func testPasswordResets(t *testing.T, h Harness) {
	t.Run("a reset is kept durably and taken exactly once", testResetTakenOnce(h))
	t.Run("concurrent takers of one reset: exactly one gets it", testResetConcurrentTake(h))
	t.Run("a reset needs an existing user", testResetNeedsUser(h))
	t.Run("deleting a user's resets leaves other users' resets", testResetDeleteForUser(h))
	t.Run("deleting the user or the app deletes its resets", testResetGoesWithUserAndApp(h))
}

func testResetTakenOnce(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		open := h.New(t)
		s := openWith(t, open)
		mustPutApp(t, s, newApp(1))
		u := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		r := newReset(t, u)
		mustCreateReset(t, s, r)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openWith(t, open)
		got, err := s.GetPasswordReset(t.Context(), r.TokenHash)
		if err != nil || got != r {
			t.Fatalf("GetPasswordReset after reopening = %+v, %v; want %+v", got, err, r)
		}
		_, err = s.GetPasswordReset(t.Context(), newHash(t))
		wantErr(t, "GetPasswordReset of an unknown hash", err, store.ErrNotFound)
		got, err = s.TakePasswordReset(t.Context(), r.TokenHash)
		if err != nil || got != r {
			t.Fatalf("TakePasswordReset = %+v, %v; want %+v", got, err, r)
		}
		_, err = s.TakePasswordReset(t.Context(), r.TokenHash)
		wantErr(t, "TakePasswordReset again", err, store.ErrNotFound)
		_, err = s.GetPasswordReset(t.Context(), r.TokenHash)
		wantErr(t, "GetPasswordReset after taking", err, store.ErrNotFound)
	}
}

func testResetConcurrentTake(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		u := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		r := newReset(t, u)
		mustCreateReset(t, s, r)
		const takers = 8
		var wg sync.WaitGroup
		errs := make(chan error, takers)
		for range takers {
			wg.Go(func() {
				_, err := s.TakePasswordReset(t.Context(), r.TokenHash)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			switch {
			case err == nil:
				won++
			default:
				wantErr(t, "a losing TakePasswordReset", err, store.ErrNotFound)
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d concurrent takers got the reset, want exactly 1", won, takers)
		}
	}
}

func testResetNeedsUser(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		r := newReset(t, store.User{AppID: 1, ID: 4242})
		wantErr(t, "CreatePasswordReset for a missing user", s.CreatePasswordReset(t.Context(), r), store.ErrNotFound)
		_, err := s.GetPasswordReset(t.Context(), r.TokenHash)
		wantErr(t, "GetPasswordReset of the refused reset", err, store.ErrNotFound)
	}
}

func testResetDeleteForUser(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		alice := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		bob := mustCreateUser(t, s, newUser(1, "bob", "bob@example.test"))
		a1, a2, b1 := newReset(t, alice), newReset(t, alice), newReset(t, bob)
		for _, r := range []store.PasswordReset{a1, a2, b1} {
			mustCreateReset(t, s, r)
		}
		wantErr(t, "DeletePasswordResets", s.DeletePasswordResets(t.Context(), 1, alice.ID), nil)
		for _, r := range []store.PasswordReset{a1, a2} {
			_, err := s.GetPasswordReset(t.Context(), r.TokenHash)
			wantErr(t, "GetPasswordReset of a deleted reset", err, store.ErrNotFound)
		}
		if _, err := s.GetPasswordReset(t.Context(), b1.TokenHash); err != nil {
			t.Fatalf("another user's reset: %v", err)
		}
		wantErr(t, "DeletePasswordResets of a user with none", s.DeletePasswordResets(t.Context(), 1, alice.ID), nil)
	}
}

func testResetGoesWithUserAndApp(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		mustPutApp(t, s, newApp(2))
		alice := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		carol := mustCreateUser(t, s, newUser(2, "carol", "carol@example.test"))
		ra, rc := newReset(t, alice), newReset(t, carol)
		mustCreateReset(t, s, ra)
		mustCreateReset(t, s, rc)
		wantErr(t, "DeleteUser", s.DeleteUser(t.Context(), 1, alice.ID), nil)
		_, err := s.GetPasswordReset(t.Context(), ra.TokenHash)
		wantErr(t, "GetPasswordReset after DeleteUser", err, store.ErrNotFound)
		_, err = s.TakePasswordReset(t.Context(), ra.TokenHash)
		wantErr(t, "TakePasswordReset after DeleteUser", err, store.ErrNotFound)
		wantErr(t, "DeleteApp", s.DeleteApp(t.Context(), 2), nil)
		_, err = s.GetPasswordReset(t.Context(), rc.TokenHash)
		wantErr(t, "GetPasswordReset after DeleteApp", err, store.ErrNotFound)
	}
}

// testPasswordResetExpiry waits for a reset to expire.
func testPasswordResetExpiry(t *testing.T, h Harness) {
	s := openFresh(t, h)
	mustPutApp(t, s, newApp(1))
	u := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
	r := newReset(t, u)
	r.ExpiresAt = r.CreatedAt.Add(time.Second)
	mustCreateReset(t, s, r)
	if _, err := s.GetPasswordReset(t.Context(), r.TokenHash); err != nil {
		t.Fatalf("GetPasswordReset before expiry: %v", err)
	}
	time.Sleep(time.Until(r.ExpiresAt) + 200*time.Millisecond)
	_, err := s.GetPasswordReset(t.Context(), r.TokenHash)
	wantErr(t, "GetPasswordReset after expiry", err, store.ErrNotFound)
	_, err = s.TakePasswordReset(t.Context(), r.TokenHash)
	wantErr(t, "TakePasswordReset after expiry", err, store.ErrNotFound)
}
