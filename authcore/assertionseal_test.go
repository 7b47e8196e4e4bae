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
			node := func(kek []byte) *Assertions {
				return NewAssertions(bs, AssertionOptions{Alg: alg, RotateEvery: time.Hour, KeyEncryptionKey: kek})
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
			der, err := openSigningKey(kek, keys[0])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := x509.ParsePKCS8PrivateKey(der); err != nil || bytes.Contains(stored, der) {
				t.Fatalf("the sealed key does not hold the private key, or holds it in clear: %v", err)
			}
			moved := keys[0]
			moved.Slot++
			if _, err := openSigningKey(kek, moved); !errors.Is(err, errSealedKey) {
				t.Fatalf("a sealed key moved to another slot opened: %v", err)
			}

			// A node with no key, or another one, refuses to sign (and so
			// to forward) rather than sign with a key of its own.
			for name, k := range map[string][]byte{"no key": nil, "another key": other} {
				if _, err := node(k).Assertion(ctx, id, "api.test"); !errors.Is(err, errSealedKey) {
					t.Fatalf("%s: Assertion = %v, want errSealedKey", name, err)
				}
			}

			// Changing the key: rotate with the new one, and the new key
			// signs while the old one stays published.
			changed := node(other)
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
	sealing := NewAssertions(bs, AssertionOptions{Alg: AlgES256, RotateEvery: time.Hour, KeyEncryptionKey: mustKEK(t, strings.Repeat("a", 32))})
	after, err := sealing.Assertion(t.Context(), id, "api.test")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Split(after[0], ".")[0] != strings.Split(before[0], ".")[0] {
		t.Fatal("the signer with a key encryption key did not sign with the key stored in clear")
	}
}
