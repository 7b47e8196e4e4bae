package authcore

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatedDeriver derives keys in-process, each only once the gate opens, and
// counts the derivations.
type gatedDeriver struct {
	gate    chan struct{}
	derived atomic.Int64
}

func (g *gatedDeriver) DeriveKey(_ context.Context, password, salt []byte, p Argon2Params, keyLen uint32) ([]byte, error) {
	<-g.gate
	g.derived.Add(1)
	return p.IDKey(password, salt, keyLen), nil
}

func (g *gatedDeriver) Close() {}

// waitForCallers waits until n callers share the one running call of s.
func waitForCallers[T any](t *testing.T, s *sharedCalls[T], n int) {
	t.Helper()
	for {
		s.mu.Lock()
		callers := 0
		for _, c := range s.calls {
			callers += c.callers
		}
		calls := len(s.calls)
		s.mu.Unlock()
		if calls > 1 {
			t.Fatalf("%d calls running, want one shared call", calls)
		}
		if callers == n {
			return
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func TestConcurrentVerifiesOfOnePasswordAgainstOneHashRunOneDerivation(t *testing.T) {
	h := NewHasher(testParams, 1, time.Minute)
	ctx := context.Background()
	encoded, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	d := &gatedDeriver{gate: make(chan struct{})}
	h.UseDeriver(d)
	const n = 40
	var wg sync.WaitGroup
	oks := make([]bool, n)
	for i := range n {
		wg.Go(func() {
			ok, _, err := h.Verify(ctx, encoded, "correct horse")
			oks[i] = ok && err == nil
		})
	}
	waitForCallers(t, &h.comparisons, n)
	close(d.gate)
	wg.Wait()
	for i, ok := range oks {
		if !ok {
			t.Fatalf("verify %d failed", i)
		}
	}
	if got := d.derived.Load(); got != 1 {
		t.Fatalf("%d concurrent verifies of one pair ran %d derivations, want 1", n, got)
	}
	if len(h.comparisons.calls) != 0 {
		t.Fatal("the shared call outlived its callers")
	}
	// Another password is compared on its own, and fails.
	if ok, _, err := h.Verify(ctx, encoded, "correct horsE"); ok || err != nil {
		t.Fatalf("a wrong password: ok=%v err=%v", ok, err)
	}
	if got := d.derived.Load(); got != 2 {
		t.Fatalf("derivations after a verify of another password: %d, want 2", got)
	}
}

func TestACallerThatGoesAwayStopsWaitingForASharedComparison(t *testing.T) {
	h := NewHasher(testParams, 1, time.Minute)
	d := &gatedDeriver{gate: make(chan struct{})}
	h.UseDeriver(d)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error)
	go func() {
		_, _, err := h.Verify(ctx, "", "pw")
		got <- err
	}()
	waitForCallers(t, &h.comparisons, 1)
	cancel()
	if err := <-got; err != context.Canceled {
		t.Fatalf("verify for a caller gone: %v, want context.Canceled", err)
	}
	close(d.gate)
}

func TestSharedKeysDifferForEveryListOfParts(t *testing.T) {
	keys := map[[32]byte][]string{}
	for _, parts := range [][]string{{"ab", "c"}, {"a", "bc"}, {"abc"}, {"abc", ""}, {"", "abc"}, {}} {
		k := sharedKey(parts...)
		if other, dup := keys[k]; dup {
			t.Fatalf("%q and %q share a key", parts, other)
		}
		keys[k] = parts
	}
}

func TestConcurrentFirstLoginsWithOnePasswordCreateTheUserWithOneHash(t *testing.T) {
	d := &gatedDeriver{gate: make(chan struct{})}
	f := newFixture(t, func(o *Options) {
		o.Limits = &Limits{}
		o.Hasher.UseDeriver(d)
	})
	const n = 40
	var wg sync.WaitGroup
	results := make([]SessionResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i], errs[i] = f.login(t, 1, "newcomer", "supersecret", "192.0.2.1") })
	}
	waitForCallers(t, &f.svc.firstLogins, n)
	close(d.gate)
	wg.Wait()
	created := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		if results[i].User.ID != results[0].User.ID {
			t.Fatalf("login %d got user %d, login 0 user %d", i, results[i].User.ID, results[0].User.ID)
		}
		if results[i].UserCreated {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d logins say they created the user, want 1", created)
	}
	if got := d.derived.Load(); got != 1 {
		t.Errorf("%d concurrent first logins ran %d derivations, want 1", n, got)
	}
	// A wrong password still fails once the user exists.
	if _, err := f.login(t, 1, "newcomer", "wrong password", "192.0.2.1"); err == nil {
		t.Error("a wrong password signed in")
	}
}

func TestIdenticalConcurrentSignupsCreateOneUserWithOneHash(t *testing.T) {
	d := &gatedDeriver{gate: make(chan struct{})}
	f := newFixture(t, func(o *Options) {
		o.Limits = &Limits{}
		o.Hasher.UseDeriver(d)
	})
	const n = 24
	login, password := "signup1", "supersecret"
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = f.svc.CreateUser(t.Context(), CreateUserRequest{AppID: 1, ClientIP: "192.0.2.1",
				Input: UserInput{Login: &login, Password: &password}})
		})
	}
	waitForCallers(t, &f.svc.signups, n)
	close(d.gate)
	wg.Wait()
	created := 0
	for i, err := range errs {
		var verr *ValidationError
		switch {
		case err == nil:
			created++
		case errors.As(err, &verr) && verr.Fields["login"] != nil:
		default:
			t.Fatalf("signup %d: %v, want success or login taken", i, err)
		}
	}
	if created != 1 || d.derived.Load() != 1 {
		t.Fatalf("%d identical signups created %d users with %d hashes, want 1 and 1", n, created, d.derived.Load())
	}
}
