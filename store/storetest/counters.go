package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// counterKey is a key of the shape authcore uses: a hex SHA-256.
const counterKey = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func wantCounts(t *testing.T, what string, cur, prev int64, err error, wantCur, wantPrev int64) {
	t.Helper()
	if err != nil || cur != wantCur || prev != wantPrev {
		t.Fatalf("%s = %d, %d, %v; want %d, %d, nil", what, cur, prev, err, wantCur, wantPrev)
	}
}

func testLimitCounters(t *testing.T, h Harness) {
	t.Run("counts add up per window, see the window before, and survive reopening", testCountersAddUp(h))
	t.Run("concurrent adders each see a distinct total and none is lost", testCountersConcurrent(h))
	t.Run("deleting a key's counts removes all its windows and no other key's", testCountersDelete(h))
}

func testCountersAddUp(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		open := h.New(t)
		s := openWith(t, open)
		ctx := t.Context()
		per := time.Hour
		start := now().Truncate(per)
		cur, prev, err := s.LimitCount(ctx, counterKey, start, per)
		wantCounts(t, "LimitCount of a new key", cur, prev, err, 0, 0)
		cur, prev, err = s.AddLimitCount(ctx, counterKey, start, per, 1)
		wantCounts(t, "AddLimitCount(1)", cur, prev, err, 1, 0)
		cur, prev, err = s.AddLimitCount(ctx, counterKey, start, per, 4)
		wantCounts(t, "AddLimitCount(4)", cur, prev, err, 5, 0)
		cur, prev, err = s.AddLimitCount(ctx, counterKey, start, per, -2)
		wantCounts(t, "AddLimitCount(-2)", cur, prev, err, 3, 0)
		cur, prev, err = s.AddLimitCount(ctx, counterKey+"x", start, per, 7)
		wantCounts(t, "AddLimitCount of another key", cur, prev, err, 7, 0)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openWith(t, open)
		cur, prev, err = s.LimitCount(ctx, counterKey, start, per)
		wantCounts(t, "LimitCount after reopening", cur, prev, err, 3, 0)
		cur, prev, err = s.AddLimitCount(ctx, counterKey, start.Add(per), per, 2)
		wantCounts(t, "AddLimitCount in the next window", cur, prev, err, 2, 3)
		cur, prev, err = s.LimitCount(ctx, counterKey, start.Add(2*per), per)
		wantCounts(t, "LimitCount two windows on", cur, prev, err, 0, 2)
	}
}

func testCountersConcurrent(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		s := openFresh(t, h)
		per := time.Hour
		start := now().Truncate(per)
		// 64 adders on one key, as in a wrong-password flood: Badger's
		// optimistic retries alone gave out under it (Transaction Conflict).
		const workers, each = 64, 10
		var mu sync.Mutex
		var seen []int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					cur, _, err := s.AddLimitCount(t.Context(), counterKey, start, per, 1)
					if err != nil {
						t.Errorf("AddLimitCount: %v", err)
						return
					}
					mu.Lock()
					seen = append(seen, cur)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(seen)
		for i, n := range seen {
			if n != int64(i+1) {
				t.Fatalf("totals seen by concurrent adders = %v; want 1..%d, each once", seen, workers*each)
			}
		}
		cur, _, err := s.LimitCount(t.Context(), counterKey, start, per)
		wantCounts(t, "LimitCount after concurrent adds", cur, 0, err, workers*each, 0)
	}
}

func testCountersDelete(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		s := openFresh(t, h)
		ctx := t.Context()
		per := time.Minute
		start := now().Truncate(per)
		for _, w := range []time.Time{start.Add(-per), start} {
			if _, _, err := s.AddLimitCount(ctx, counterKey, w, per, 3); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := s.AddLimitCount(ctx, counterKey+"x", start, per, 1); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteLimitCounts(ctx, counterKey); err != nil {
			t.Fatalf("DeleteLimitCounts: %v", err)
		}
		cur, prev, err := s.LimitCount(ctx, counterKey, start, per)
		wantCounts(t, "LimitCount after DeleteLimitCounts", cur, prev, err, 0, 0)
		cur, prev, err = s.LimitCount(ctx, counterKey+"x", start, per)
		wantCounts(t, "LimitCount of the other key", cur, prev, err, 1, 0)
		if err := s.DeleteLimitCounts(ctx, "no-such-key"); err != nil {
			t.Fatalf("DeleteLimitCounts of a key with no counts: %v", err)
		}
	}
}

// testLimitCounterExpiry checks that a window is kept while it can be the
// previous window, and is gone two windows after its start.
func testLimitCounterExpiry(t *testing.T, h Harness) {
	s := openFresh(t, h)
	ctx := t.Context()
	per := time.Second
	start := time.Now().UTC().Truncate(per)
	if _, _, err := s.AddLimitCount(ctx, counterKey, start, per, 5); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(start.Add(per)) + 100*time.Millisecond)
	cur, prev, err := s.LimitCount(ctx, counterKey, start.Add(per), per)
	wantCounts(t, "LimitCount in the next window", cur, prev, err, 0, 5)
	time.Sleep(time.Until(start.Add(2*per)) + 300*time.Millisecond)
	cur, prev, err = s.LimitCount(ctx, counterKey, start.Add(per), per)
	wantCounts(t, "LimitCount after the window expired", cur, prev, err, 0, 0)
	cur, prev, err = s.AddLimitCount(ctx, counterKey, start.Add(2*per), per, 1)
	wantCounts(t, "AddLimitCount after the window expired", cur, prev, err, 1, 0)
}
