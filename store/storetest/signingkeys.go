package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

func newSigningKey(alg string, slot int64, expiresIn time.Duration) store.SigningKey {
	ts := now()
	return store.SigningKey{
		ID: fmt.Sprintf("%s-%d-%d", alg, slot, ts.UnixNano()), Alg: alg, Slot: slot,
		PrivateKey: []byte(fmt.Sprintf("key %s %d %d", alg, slot, ts.UnixNano())),
		CreatedAt:  ts, ExpiresAt: ts.Add(expiresIn),
	}
}

func testSigningKeys(t *testing.T, h Harness) {
	t.Run("a signing key is kept durably and listed by alg and slot", testSigningKeyDurable(h))
	t.Run("of concurrent adders of one slot, all get one key", testSigningKeyConcurrentAdd(h))
	t.Run("an expired signing key is not listed and its slot may be reused", testSigningKeyExpiry(h))
}

func testSigningKeyDurable(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		open := h.New(t)
		s := open()
		ctx := t.Context()
		for _, k := range []store.SigningKey{
			newSigningKey("ES256", 2, time.Hour), newSigningKey("EdDSA", 1, time.Hour), newSigningKey("ES256", 1, time.Hour),
		} {
			got, err := s.AddSigningKey(ctx, k)
			if err != nil || got.ID != k.ID || !bytes.Equal(got.PrivateKey, k.PrivateKey) {
				t.Fatalf("AddSigningKey = %+v, %v; want the key added", got, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openWith(t, open)
		keys, err := s.ListSigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, k := range keys {
			order = append(order, fmt.Sprintf("%s/%d", k.Alg, k.Slot))
		}
		if fmt.Sprint(order) != "[ES256/1 ES256/2 EdDSA/1]" {
			t.Fatalf("after reopening, ListSigningKeys = %v, want [ES256/1 ES256/2 EdDSA/1]", order)
		}
		if !keys[0].ExpiresAt.Equal(keys[0].CreatedAt.Add(time.Hour)) {
			t.Fatalf("times not kept: %+v", keys[0])
		}
	}
}

func testSigningKeyConcurrentAdd(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		s := openWith(t, h.New(t))
		const n = 8
		got := make([]store.SigningKey, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { got[i], errs[i] = s.AddSigningKey(t.Context(), newSigningKey("ES256", 7, time.Hour)) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("AddSigningKey: %v", errs[i])
			}
			if got[i].ID != got[0].ID || !bytes.Equal(got[i].PrivateKey, got[0].PrivateKey) {
				t.Fatalf("adders got different keys for one slot: %s and %s", got[0].ID, got[i].ID)
			}
		}
		keys, err := s.ListSigningKeys(t.Context())
		if err != nil || len(keys) != 1 || keys[0].ID != got[0].ID {
			t.Fatalf("ListSigningKeys = %v, %v; want the one winner", keys, err)
		}
		// A later adder gets the stored key, not its own.
		again, err := s.AddSigningKey(t.Context(), newSigningKey("ES256", 7, time.Hour))
		if err != nil || again.ID != got[0].ID {
			t.Fatalf("a later AddSigningKey = %s, %v; want the stored %s", again.ID, err, got[0].ID)
		}
	}
}

func testSigningKeyExpiry(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		s := openWith(t, h.New(t))
		old := newSigningKey("ES256", 3, 1500*time.Millisecond)
		if _, err := s.AddSigningKey(t.Context(), old); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		keys, err := s.ListSigningKeys(t.Context())
		if err != nil || len(keys) != 0 {
			t.Fatalf("ListSigningKeys after expiry = %v, %v; want none", keys, err)
		}
		fresh := newSigningKey("ES256", 3, time.Hour)
		got, err := s.AddSigningKey(t.Context(), fresh)
		if err != nil || got.ID != fresh.ID {
			t.Fatalf("AddSigningKey over an expired key = %s, %v; want the new %s", got.ID, err, fresh.ID)
		}
	}
}
