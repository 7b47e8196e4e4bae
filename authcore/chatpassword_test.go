package authcore

import (
	"errors"
	"testing"
	"time"
)

func TestAChatPasswordCheckHashesOnceAMinuteAndNotAfterAPasswordChange(t *testing.T) {
	d := &gatedDeriver{gate: make(chan struct{})}
	close(d.gate)
	f := newFixture(t, func(o *Options) { o.Hasher.UseDeriver(d) })
	res, err := f.login(t, 1, "chatter", "supersecret", "192.0.2.1") // created on the fly
	if err != nil {
		t.Fatal(err)
	}
	uid := res.User.ID
	hashes := func() int64 { return d.derived.Load() }
	start := hashes()
	for i := range 5 {
		u, err := f.svc.CheckUserPassword(t.Context(), 1, uid, "supersecret")
		if err != nil || u.ID != uid {
			t.Fatalf("check %d: %v, user %d", i, err, u.ID)
		}
	}
	if got := hashes() - start; got != 1 {
		t.Fatalf("5 checks of the right password ran %d hashes, want 1 (the rest remembered)", got)
	}
	for name, check := range map[string]func() error{
		"a wrong password": func() error {
			_, err := f.svc.CheckUserPassword(t.Context(), 1, uid, "wrong-password")
			return err
		},
		"another app": func() error {
			_, err := f.svc.CheckUserPassword(t.Context(), 2, uid, "supersecret")
			return err
		},
		"an unknown user": func() error {
			_, err := f.svc.CheckUserPassword(t.Context(), 1, uid+100, "supersecret")
			return err
		},
		"an unknown app id": func() error {
			_, err := f.svc.CheckUserPassword(t.Context(), 0, uid, "supersecret")
			return err
		},
	} {
		if err := check(); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("%s: %v, want ErrBadCredentials", name, err)
		}
	}

	// A minute later the check hashes again.
	f.clock.Advance(chatCheckTTL + time.Second)
	before := hashes()
	if _, err := f.svc.CheckUserPassword(t.Context(), 1, uid, "supersecret"); err != nil {
		t.Fatal(err)
	}
	if hashes() == before {
		t.Fatal("an expired remembered check did not hash again")
	}

	// A password change ends the remembered check at once.
	old, newPassword := "supersecret", "another-secret"
	id, err := f.svc.Authenticate(t.Context(), res.Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UpdateUser(t.Context(), id, uid, UserInput{Password: &newPassword, OldPassword: &old}, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CheckUserPassword(t.Context(), 1, uid, "supersecret"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("the old password after a change: %v, want ErrBadCredentials", err)
	}
	if _, err := f.svc.CheckUserPassword(t.Context(), 1, uid, newPassword); err != nil {
		t.Fatalf("the new password: %v", err)
	}
}

func TestWrongChatPasswordsAreThrottledPerAccountAndPerApp(t *testing.T) {
	f := newFixture(t)
	alice, err := f.login(t, 1, "alice", "supersecret", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := f.login(t, 1, "bob", "supersecret", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	var busy *BusyError
	var last error
	for range DefaultLimits.FailuresPerAccountIP.Count + 1 {
		_, last = f.svc.CheckUserPassword(t.Context(), 1, alice.User.ID, "wrong-password")
	}
	if !errors.As(last, &busy) {
		t.Fatalf("after %d wrong chat passwords: %v, want a BusyError (429)", DefaultLimits.FailuresPerAccountIP.Count+1, last)
	}
	// Another user's chat login, and alice's own login over the API, go on.
	if _, err := f.svc.CheckUserPassword(t.Context(), 1, bob.User.ID, "supersecret"); err != nil {
		t.Fatalf("bob's chat password after alice's were throttled: %v", err)
	}
	if _, err := f.login(t, 1, "alice", "supersecret", "192.0.2.7"); err != nil {
		t.Fatalf("alice's POST /session after her chat passwords were throttled: %v", err)
	}
	// Unknown users cost a dummy hash each, so they count for the whole
	// app's chat: a flood of them stops.
	throttled := false
	for i := range DefaultLimits.FailuresPerIP.Count + 1 {
		if _, err := f.svc.CheckUserPassword(t.Context(), 1, 1_000_000+int64(i), "guess"); errors.As(err, &busy) {
			throttled = true
			break
		}
	}
	if !throttled {
		t.Fatalf("%d chat checks for unknown users were never throttled", DefaultLimits.FailuresPerIP.Count+1)
	}
}
