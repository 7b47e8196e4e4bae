package authcore

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	badgerstore "github.com/cubeauth/cubeauth/store/badger"
)

func newTestAssertions(t *testing.T, alg string) (*Assertions, *clock, *badgerstore.Store) {
	t.Helper()
	bs, err := badgerstore.Open(badgerstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bs.Close() })
	c := &clock{now: time.Now()}
	return NewAssertions(bs, AssertionOptions{Alg: alg, Now: c.Now, RotateEvery: time.Hour}), c, bs
}

// verifyJWT checks a compact JWS against the JWKS with the standard
// library alone, and returns its claims.
func verifyJWT(t *testing.T, jwks []byte, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	var header struct{ Alg, Kid string }
	hb, _ := b64url.DecodeString(parts[0])
	if err := json.Unmarshal(hb, &header); err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []map[string]string }
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	sig, _ := b64url.DecodeString(parts[2])
	signed := []byte(parts[0] + "." + parts[1])
	ok := false
	for _, k := range set.Keys {
		if k["kid"] != header.Kid {
			continue
		}
		x, _ := b64url.DecodeString(k["x"])
		switch header.Alg {
		case AlgES256:
			y, _ := b64url.DecodeString(k["y"])
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				t.Fatalf("JWKS key %s is not a P-256 point: %v", header.Kid, err)
			}
			sum := sha256.Sum256(signed)
			ok = len(sig) == 64 && ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
		case AlgEdDSA:
			ok = ed25519.Verify(ed25519.PublicKey(x), signed, sig)
		}
	}
	if !ok {
		t.Fatalf("%s signature of kid %s does not verify against %s", header.Alg, header.Kid, jwks)
	}
	var claims map[string]any
	cb, _ := b64url.DecodeString(parts[1])
	if err := json.Unmarshal(cb, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestAnUnboundAssertionIsSignedOncePerSessionAndVerifies(t *testing.T) {
	for _, alg := range []string{AlgES256, AlgEdDSA} {
		t.Run(alg, func(t *testing.T) {
			a, c, _ := newTestAssertions(t, alg)
			id := Identity{AppID: 1, UserID: 42, Login: "alice", SessionID: 7, TokenHash: HashToken("t")}
			first, err := a.Assertion(t.Context(), id, "api.test")
			if err != nil {
				t.Fatal(err)
			}
			jwks, err := a.JWKS(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			claims := verifyJWT(t, jwks, first[0])
			want := map[string]any{"iss": "cubeauth", "aud": "api.test", "sub": "42", "app_id": 1.0, "login": "alice", "session_type": "user", "sid": 7.0}
			for k, v := range want {
				if claims[k] != v {
					t.Fatalf("claim %s = %v, want %v (claims %v)", k, claims[k], v, claims)
				}
			}
			if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 30 {
				t.Fatalf("exp - iat = %v, want 30", exp-iat)
			}
			allocs := testing.AllocsPerRun(100, func() {
				v, _ := a.Assertion(t.Context(), id, "api.test")
				if &v[0] != &first[0] {
					t.Fatal("the cached assertion was not reused")
				}
			})
			if allocs != 0 {
				t.Fatalf("the cached path allocates %v times", allocs)
			}
			c.Advance(21 * time.Second) // less than a third of 30 s left
			again, _ := a.Assertion(t.Context(), id, "api.test")
			if again[0] == first[0] {
				t.Fatal("an assertion with 9 s left was reused")
			}
			other := id
			other.Login = "alice2"
			if v, _ := a.Assertion(t.Context(), other, "api.test"); v[0] == again[0] {
				t.Fatal("a changed login got the old assertion")
			}
		})
	}
}

func TestABoundAssertionNamesItsRequest(t *testing.T) {
	a, _, _ := newTestAssertions(t, AlgES256)
	id := Identity{AppID: 1, SessionID: 3, TokenHash: HashToken("t")}
	one, err := a.BoundAssertion(t.Context(), id, "api.test", "GET", "/a")
	if err != nil {
		t.Fatal(err)
	}
	two, _ := a.BoundAssertion(t.Context(), id, "api.test", "GET", "/a")
	jwks, _ := a.JWKS(t.Context())
	c1, c2 := verifyJWT(t, jwks, one), verifyJWT(t, jwks, two)
	if c1["method"] != "GET" || c1["path"] != "/a" || c1["jti"] == "" || c1["jti"] == c2["jti"] {
		t.Fatalf("bound claims %v and %v", c1, c2)
	}
	if _, ok := c1["sub"]; ok || c1["session_type"] != "app" {
		t.Fatalf("an app session's assertion: %v", c1)
	}
}

func TestRotationMakesOneKeyAndKeepsThePreviousPublished(t *testing.T) {
	a, c, bs := newTestAssertions(t, AlgES256)
	b := NewAssertions(bs, AssertionOptions{Now: c.Now, RotateEvery: time.Hour}) // another node
	if err := a.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	old := a.current.Load().kid
	var wg sync.WaitGroup
	for _, n := range []*Assertions{a, b, a, b} {
		wg.Go(func() {
			if err := n.Rotate(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Four rotations at once from two nodes: however many keys they make,
	// each slot holds one, and the nodes agree on the newest.
	_ = a.Refresh(t.Context())
	_ = b.Refresh(t.Context())
	if a.current.Load().kid != b.current.Load().kid || a.current.Load().kid == old {
		t.Fatalf("after concurrent rotations: node a signs with %s, node b with %s (old %s)", a.current.Load().kid, b.current.Load().kid, old)
	}
	jwks, _ := b.JWKS(t.Context())
	if !strings.Contains(string(jwks), old) {
		t.Fatalf("the previous key %s is no longer published: %s", old, jwks)
	}
	// A new period makes a new key on first use.
	c.Advance(10 * time.Hour) // past the slots the rotations made
	id := Identity{AppID: 1, TokenHash: HashToken("t")}
	if _, err := a.Assertion(t.Context(), id, "x"); err != nil {
		t.Fatal(err)
	}
	if s := a.current.Load(); s.slot != a.slot(c.Now()) {
		t.Fatalf("after ten periods the key is of slot %d, want %d", s.slot, a.slot(c.Now()))
	}
}

// BenchmarkAssertion: the cached unbound path (a map read) beside a bound
// assertion signed per request.
func BenchmarkAssertion(b *testing.B) {
	for _, alg := range []string{AlgES256, AlgEdDSA} {
		bs, err := badgerstore.Open(badgerstore.Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		a := NewAssertions(bs, AssertionOptions{Alg: alg})
		id := Identity{AppID: 1, UserID: 42, Login: "alice", SessionID: 7, TokenHash: HashToken("t")}
		b.Run("unbound/alg="+alg, func(b *testing.B) {
			b.ReportAllocs()
			var v []string
			for b.Loop() {
				if v, err = a.Assertion(b.Context(), id, "api.test"); err != nil {
					b.Fatal(err)
				}
			}
			// What every forwarded request carries.
			b.ReportMetric(float64(len(v[0])), "header-bytes")
		})
		b.Run("bound/alg="+alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.BoundAssertion(b.Context(), id, "api.test", "GET", "/api/messages"); err != nil {
					b.Fatal(err)
				}
			}
		})
		_ = bs.Close()
	}
}
