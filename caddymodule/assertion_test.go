package caddymodule

import (
	"strings"
	"testing"
)

func TestTheAssertionReplacesAClientsCopyEvenOutsideThePrefix(t *testing.T) {
	ts := newTestServer(t, func(h *Handler) {
		h.Assertion = &AssertionConfig{Header: "x-backend-assertion", BindRequest: true}
		h.ForwardedCORS = forwardedCORSBackend
	})
	// A preflight passes to the backend without a token: a client's
	// assertion must not go with it.
	before := ts.reachedCount()
	ts.do("OPTIONS", "/api/things", "", "Origin", "https://app.test", "Access-Control-Request-Method", "GET", "X-Backend-Assertion", "forged")
	if ts.reachedCount() != before+1 {
		t.Fatal("the preflight did not reach the backend: the test proves nothing")
	}
	if v := ts.reached[len(ts.reached)-1].Header.Get("X-Backend-Assertion"); v != "" {
		t.Fatalf("a client's assertion reached the backend on a preflight: %q", v)
	}
	s := ts.session(t, userBody(1, devKey, "grace", "supersecret"))
	token := s["token"].(string)
	// Positive control first: without a token, nothing is forwarded.
	if res := ts.do("GET", "/api/things", "", "X-Backend-Assertion", "forged"); res.status != 401 {
		t.Fatalf("no token: %d", res.status)
	}
	res := ts.do("GET", "/api/things", "", "CB-Token", token, "X-Backend-Assertion", "forged", "X-Cube-Assertion", "also.forged.x")
	if res.status != 200 {
		t.Fatalf("forward: %d %s", res.status, res.raw)
	}
	r := ts.reached[len(ts.reached)-1]
	got := r.Header.Values("X-Backend-Assertion")
	if len(got) != 1 || got[0] == "forged" || strings.Count(got[0], ".") != 2 {
		t.Fatalf("the backend got assertion %q", got)
	}
	if v := r.Header.Get("X-Cube-Assertion"); v != "" {
		t.Fatalf("a client's X-Cube-Assertion reached the backend: %q", v)
	}
	// The JWKS is served on the site.
	jwks := ts.do("GET", jwksPath, "")
	if jwks.status != 200 || len(jwks.body["keys"].([]any)) != 1 {
		t.Fatalf("JWKS: %d %s", jwks.status, jwks.raw)
	}
}

func TestAssertionOptionsAreChecked(t *testing.T) {
	t.Setenv("TEST_SHORT_KEK", strings.Repeat("k", 31))
	for _, c := range []AssertionConfig{{Alg: "HS256"}, {TTL: -1}, {TTL: 120e9, RotateEvery: 600e9},
		{KeyEncryptionKeys: []string{"{env.TEST_SHORT_KEK}"}}, {KeyEncryptionKeys: []string{"{env.TEST_UNSET_KEK}"}},
		{KeyEncryptionKeys: []string{"{file.misspelled/placeholder-of-32-characters}"}}} {
		h := &Handler{HeaderPrefix: "X-Cube-", Assertion: &c}
		err := h.provisionAssertion()
		if err == nil {
			t.Errorf("%+v was accepted", c)
		} else if strings.Contains(err.Error(), strings.Repeat("k", 31)) {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
	t.Setenv("TEST_KEK", strings.Repeat("k", 32))
	sealed := &Handler{HeaderPrefix: "X-Cube-", Assertion: &AssertionConfig{KeyEncryptionKeys: []string{"{env.TEST_KEK}", strings.Repeat("p", 32)}}}
	if err := sealed.provisionAssertion(); err != nil || len(sealed.Assertion.keks) != 2 || len(sealed.Assertion.keks[0]) != 32 {
		t.Fatalf("two key_encryption_keys: %v, %d keys", err, len(sealed.Assertion.keks))
	}
	h := &Handler{HeaderPrefix: "X-Cube-", Assertion: &AssertionConfig{}}
	if err := h.provisionAssertion(); err != nil || h.Assertion.Header != "X-Cube-Assertion" {
		t.Fatalf("defaults: %v, header %q", err, h.Assertion.Header)
	}
}
