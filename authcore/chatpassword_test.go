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
		u, err := f.svc.CheckUserPassword(t.Context(), 1, uid, "supersecret", "192.0.2.1")
		if err != nil || u.ID != uid {
			t.Fatalf("check %d: %v, user %d", i, err, u.ID)
		}
	}
	if got := hashes() - start; got != 1 {
		t.Fatalf("5 checks of the right password ran %d hashes, want 1 (the rest remembered)", got)
	}
	for name, check := range map[string]func() error{
		"a wrong password": func() error {
			_, err := f.svc.CheckUserPassword(t.Context(), 1, uid, "wrong-password", "192.0.2.1")
			return err
		},
		"another app": func() error {
			_, err := f.svc.CheckUserPassword(t.Context(), 2, uid, "supersecret", "192.0.2.1")
			return err
		},
		"an unknown user": func() error {
			_, err := f.svc.CheckUserPassword(t.Context(), 1, uid+100, "supersecret", "192.0.2.1")
			return err
		},
		"an unknown app id": func() error {
			_, err := f.svc.CheckUserPassword(t.Context(), 0, uid, "supersecret", "192.0.2.1")
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
	if _, err := f.svc.CheckUserPassword(t.Context(), 1, uid, "supersecret", "192.0.2.1"); err != nil {
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
	if _, err := f.svc.UpdateUser(t.Context(), id, uid, UserInput{Password: &newPassword, OldPassword: &old}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CheckUserPassword(t.Context(), 1, uid, "supersecret", "192.0.2.1"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("the old password after a change: %v, want ErrBadCredentials", err)
	}
	if _, err := f.svc.CheckUserPassword(t.Context(), 1, uid, newPassword, "192.0.2.1"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
}

func TestWrongChatPasswordsAreThrottledLikeLogins(t *testing.T) {
	f := newFixture(t)
	res, err := f.login(t, 1, "chatter", "supersecret", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	var last error
	for range DefaultLimits.FailuresPerAccountIP.Count + 1 {
		_, last = f.svc.CheckUserPassword(t.Context(), 1, res.User.ID, "wrong-password", "192.0.2.7")
	}
	var busy *BusyError
	if !errors.As(last, &busy) {
		t.Fatalf("after %d wrong passwords: %v, want a BusyError (429)", DefaultLimits.FailuresPerAccountIP.Count+1, last)
	}
	// Signing in with a login and password meets the same account's counter.
	if _, err := f.login(t, 1, "chatter", "supersecret", "192.0.2.7"); !errors.As(err, &busy) {
		t.Fatalf("POST /session from the throttled IP: %v, want a BusyError", err)
	}
}
