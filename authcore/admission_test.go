package authcore

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestACallerIsAdmittedWhenItsExpectedWaitFitsAndRefusedAtOnceOtherwise(t *testing.T) {
	const ms = time.Millisecond
	for _, c := range []struct {
		name     string
		turns    int
		mean     time.Duration
		wait     time.Duration
		ahead    int64 // callers already queued
		admitted bool
	}{
		{"the first in the queue", 1, 40 * ms, 5 * time.Second, 0, true},
		{"forty first logins at once", 1, 40 * ms, 5 * time.Second, 39, true},
		{"the last whose wait fits exactly", 1, 40 * ms, 5 * time.Second, 124, true},
		{"the first whose wait does not fit", 1, 40 * ms, 5 * time.Second, 125, false},
		{"two turns halve the wait", 2, 40 * ms, 5 * time.Second, 249, true},
		{"two turns, one too many", 2, 40 * ms, 5 * time.Second, 250, false},
		{"one hash longer than the wait", 1, time.Second, 500 * ms, 0, false},
		{"slow hashes over many turns", 4, time.Second, 500 * ms, 1, true},
		{"slow hashes over many turns, one too many", 4, time.Second, 500 * ms, 2, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := NewHasher(testParams, c.turns, c.wait)
			for range c.turns {
				h.turns <- struct{}{} // every turn taken
			}
			h.meanHash.Store(int64(c.mean))
			h.queued.Store(c.ahead)
			if got := h.saturated(); got == c.admitted {
				t.Errorf("saturated() = %v, want %v", got, !c.admitted)
			}
			// An admitted caller waits, so with its context ended it
			// answers the context's error; a refused one never waits.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err := h.acquire(ctx)
			var busy *BusyError
			switch {
			case c.admitted && !errors.Is(err, context.Canceled):
				t.Errorf("acquire: %v, want to be admitted (and end with the context)", err)
			case !c.admitted && !errors.As(err, &busy):
				t.Errorf("acquire: %v, want a BusyError at once", err)
			}
			if n := h.queued.Load(); n != c.ahead {
				t.Errorf("queue after the call: %d, want %d", n, c.ahead)
			}
		})
	}
}

func TestACallerWithAFreeTurnIsNeverRefused(t *testing.T) {
	h := NewHasher(testParams, 2, time.Millisecond)
	h.meanHash.Store(int64(time.Hour))
	h.queued.Store(1000)
	if h.saturated() {
		t.Error("saturated with a free turn")
	}
	if err := h.acquire(context.Background()); err != nil {
		t.Errorf("acquire with a free turn: %v", err)
	}
}

func TestAnAdmittedCallerGetsTheNextFreeTurn(t *testing.T) {
	h := NewHasher(testParams, 1, time.Hour)
	h.turns <- struct{}{}
	got := make(chan error)
	go func() { got <- h.acquire(context.Background()) }()
	h.release()
	if err := <-got; err != nil {
		t.Fatalf("acquire: %v", err)
	}
	h.release()
}

// fakeClock is a clock that moves only when told.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// clockDeriver derives keys in-process and makes each derivation take d on
// its clock.
type clockDeriver struct {
	clock *fakeClock
	d     time.Duration
}

func (c *clockDeriver) DeriveKey(_ context.Context, password, salt []byte, p Argon2Params, keyLen uint32) ([]byte, error) {
	c.clock.now = c.clock.now.Add(c.d)
	return p.IDKey(password, salt, keyLen), nil
}

func (c *clockDeriver) Close() {}

func TestTheMeanHashTimeStartsFromAnEstimateAndFollowsRealHashes(t *testing.T) {
	h := NewHasher(DefaultArgon2Params, 1, time.Second)
	if got := time.Duration(h.meanHash.Load()); got < 10*time.Millisecond || got > 100*time.Millisecond {
		t.Fatalf("estimate for an OWASP hash before any hash: %v, want tens of milliseconds", got)
	}
	h = NewHasher(testParams, 1, time.Second)
	clock := &fakeClock{now: time.Now()}
	h.now = clock.Now
	h.UseDeriver(&clockDeriver{clock: clock, d: 200 * time.Millisecond})
	estimate := time.Duration(h.meanHash.Load())
	if _, err := h.Hash(context.Background(), "pw"); err != nil {
		t.Fatal(err)
	}
	if got, want := time.Duration(h.meanHash.Load()), estimate+(200*time.Millisecond-estimate)/meanWeight; got != want {
		t.Fatalf("mean after one 200ms hash: %v, want %v", got, want)
	}
	for range 100 {
		if _, _, err := h.Verify(context.Background(), "", "pw"); err != nil {
			t.Fatal(err)
		}
	}
	if got := time.Duration(h.meanHash.Load()); got < 199*time.Millisecond || got > 200*time.Millisecond {
		t.Fatalf("mean after many 200ms hashes: %v, want 200ms", got)
	}
	// With that mean and a one-second wait, the fifth caller in the queue
	// is the last admitted.
	h.turns <- struct{}{}
	h.queued.Store(4)
	if h.saturated() {
		t.Error("the fifth caller is refused")
	}
	h.queued.Store(5)
	if !h.saturated() {
		t.Error("the sixth caller is admitted")
	}
}
