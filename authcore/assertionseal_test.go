package authcore

import (
	"bytes"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	badgerstore "github.com/cubeauth/cubeauth/store/badger"
)

func mustKEK(t *testing.T, secret string) []byte {
	t.Helper()
	kek, err := DeriveKeyEncryptionKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

func TestSealedSigningKeysSignOnlyWithTheirKeyEncryptionKeyAndPublishWithout(t *testing.T) {
	if _, err := DeriveKeyEncryptionKey(strings.Repeat("k", MinKeyEncryptionSecret-1)); err == nil {
		t.Fatal("a key_encryption_key one character too short was taken")
	}
	for _, alg := range []string{AlgES256, AlgEdDSA} {
		t.Run(alg, func(t *testing.T) {
			bs, err := badgerstore.Open(badgerstore.Options{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = bs.Close() })
			ctx := t.Context()
			kek, other := mustKEK(t, strings.Repeat("a", 32)), mustKEK(t, strings.Repeat("b", 32))
			clk := &clock{now: time.Now()}
			node := func(keks ...[]byte) *Assertions {
				return NewAssertions(bs, AssertionOptions{Alg: alg, RotateEvery: time.Hour, KeyEncryptionKeys: keks, Now: clk.Now})
			}
			id := Identity{AppID: 1, UserID: 42, Login: "alice", SessionID: 7, TokenHash: HashToken("t")}

			sealing := node(kek)
			jwt, err := sealing.Assertion(ctx, id, "api.test")
			if err != nil {
				t.Fatal(err)
			}
			// The admin API's JWKS needs no key encryption key.
			jwks, err := StoreJWKS(ctx, bs)
			if err != nil {
				t.Fatal(err)
			}
			verifyJWT(t, jwks, jwt[0])

			keys, err := bs.ListSigningKeys(ctx)
			if err != nil || len(keys) != 1 {
				t.Fatalf("ListSigningKeys = %v, %v", keys, err)
			}
			stored := keys[0].PrivateKey
			if _, err := x509.ParsePKCS8PrivateKey(stored); err == nil {
				t.Fatal("the stored private key parses as PKCS #8: it is in clear")
			}
			der, err := openSigningKey([][]byte{kek}, keys[0])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := x509.ParsePKCS8PrivateKey(der); err != nil || bytes.Contains(stored, der) {
				t.Fatalf("the sealed key does not hold the private key, or holds it in clear: %v", err)
			}
			moved := keys[0]
			moved.Slot++
			if _, err := openSigningKey([][]byte{kek}, moved); !errors.Is(err, errSealedKey) {
				t.Fatalf("a sealed key moved to another slot opened: %v", err)
			}
			for _, cut := range []int{len(sealedKeyMagic), len(sealedKeyMagic) + 1, len(sealedKeyMagic) + 40, len(stored) - 1} {
				broken := keys[0]
				broken.PrivateKey = stored[:cut]
				if _, err := parseSigningKey(broken, [][]byte{kek}); err == nil {
					if _, err := openSigningKey([][]byte{kek}, broken); err == nil {
						t.Fatalf("a sealed key cut at %d opened", cut)
					}
				}
			}

			// A node with no key, or another one, signs nothing, and makes
			// no key of its own: not on rotation, not in the next period.
			for name, k := range map[string][]byte{"no key": nil, "another key": other} {
				var n *Assertions
				if k == nil {
					n = node()
				} else {
					n = node(k)
				}
				if _, err := n.Assertion(ctx, id, "api.test"); !errors.Is(err, errSealedKey) || !errors.Is(err, ErrUnavailable) {
					t.Fatalf("%s: Assertion = %v, want unavailable: sealed", name, err)
				}
				if err := n.Rotate(ctx); !errors.Is(err, errSealedKey) {
					t.Fatalf("%s: Rotate = %v, want sealed", name, err)
				}
			}
			clk.Advance(time.Hour)
			if _, err := node(other).Assertion(ctx, id, "api.test"); !errors.Is(err, errSealedKey) {
				t.Fatalf("another key, next period: Assertion = %v, want sealed", err)
			}
			if keys, _ := bs.ListSigningKeys(ctx); len(keys) != 1 {
				t.Fatalf("%d keys after nodes with the wrong key tried, want the fleet's one", len(keys))
			}

			// Changing the key: the new one first, the previous beside it;
			// new keys are sealed with the new one, old ones still open.
			changed := node(other, kek)
			if err := changed.Rotate(ctx); err != nil {
				t.Fatal(err)
			}
			fresh, err := changed.Assertion(ctx, id, "api.test")
			if err != nil {
				t.Fatal(err)
			}
			jwks, err = changed.JWKS(ctx)
			if err != nil {
				t.Fatal(err)
			}
			verifyJWT(t, jwks, fresh[0])
			verifyJWT(t, jwks, jwt[0])
			if _, err := node(other).Assertion(ctx, id, "api.test"); err != nil {
				t.Fatalf("the new key alone, after the rotation: %v", err)
			}
		})
	}
}

func TestKeysStoredInClearStillSignOnceAKeyEncryptionKeyIsSet(t *testing.T) {
	a, _, bs := newTestAssertions(t, AlgES256)
	id := Identity{AppID: 1, UserID: 42, Login: "alice", SessionID: 7, TokenHash: HashToken("t")}
	before, err := a.Assertion(t.Context(), id, "api.test")
	if err != nil {
		t.Fatal(err)
	}
	sealing := NewAssertions(bs, AssertionOptions{Alg: AlgES256, RotateEvery: time.Hour, KeyEncryptionKeys: [][]byte{mustKEK(t, strings.Repeat("a", 32))}})
	after, err := sealing.Assertion(t.Context(), id, "api.test")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Split(after[0], ".")[0] != strings.Split(before[0], ".")[0] {
		t.Fatal("the signer with a key encryption key did not sign with the key stored in clear")
	}
}
