package caddymodule

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestSigningKeysReadAJWKSAndKeepItForItsMaxAge(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprintf(w, `{"keys":[{"kid":"a","kty":"RSA","n":%q,"e":%q},{"kid":"ec","kty":"EC"}]}`,
			base64.RawURLEncoding.EncodeToString(key.N.Bytes()), base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()))
	}))
	defer srv.Close()
	now := time.Unix(1_800_000_000, 0)
	k := newSigningKeys(srv.URL)
	k.now = func() time.Time { return now }
	got, err := k.SigningKey(t.Context(), "a")
	if err != nil || got == nil || !got.Equal(&key.PublicKey) {
		t.Fatalf("SigningKey(a) = %v, %v", got, err)
	}
	if got, err := k.SigningKey(t.Context(), "ec"); got != nil || err != nil {
		t.Fatalf("SigningKey(ec) = %v, %v; want no key", got, err)
	}
	now = now.Add(40 * time.Second) // past keysRefetchAfter: an unknown kid may fetch again
	k.SigningKey(t.Context(), "b")
	k.SigningKey(t.Context(), "b") // but only once per keysRefetchAfter
	k.SigningKey(t.Context(), "a")
	if n := hits.Load(); n != 2 {
		t.Fatalf("%d fetches within max-age, want 2 (the first, one for the unknown kid)", n)
	}
	now = now.Add(2 * time.Minute)
	k.SigningKey(t.Context(), "a")
	if n := hits.Load(); n != 3 {
		t.Fatalf("%d fetches after max-age, want 3", n)
	}
}

func TestCacheMaxAgeIsBounded(t *testing.T) {
	for header, want := range map[string]time.Duration{
		"public, max-age=19302, must-revalidate": 19302 * time.Second,
		"":                                       defaultKeysMaxAge,
		"max-age=9999999":                        maxKeysMaxAge,
		"no-cache":                               defaultKeysMaxAge,
	} {
		if got := cacheMaxAge(header); got != want {
			t.Errorf("cacheMaxAge(%q) = %v, want %v", header, got, want)
		}
	}
}

func TestIdentityProviderAnswersAreMappedAndItsCallsBounded(t *testing.T) {
	var inFlight, most atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("t") {
		case "ok":
			fmt.Fprint(w, `{"data":{"uid":12345678901,"login":"ann"}}`)
		case "no":
			w.WriteHeader(http.StatusForbidden)
		case "broken":
			w.WriteHeader(http.StatusBadGateway)
		case "noid":
			fmt.Fprint(w, `{"data":{}}`)
		case "hold":
			n := inFlight.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			// A call its client gave up on is no longer in flight: the
			// client's slot is free again.
			select {
			case <-release:
			case <-r.Context().Done():
			}
			inFlight.Add(-1)
			fmt.Fprint(w, `{"data":{"uid":"x"}}`)
		}
	}))
	defer srv.Close()
	p := newIdentityProvider(IdentityProviderConfig{URL: srv.URL, Query: map[string]string{"t": "{token}"},
		UserIDPath: "data.uid", LoginPath: "data.login", Timeout: caddy.Duration(5 * time.Second), MaxConcurrent: 2})
	id, ok, err := p.VerifyToken(t.Context(), "ok")
	if err != nil || !ok || id.Subject != "12345678901" || id.Login != "ann" {
		t.Fatalf("ok: %+v, %v, %v", id, ok, err)
	}
	if _, ok, err := p.VerifyToken(t.Context(), "no"); ok || err != nil {
		t.Fatalf("no: %v, %v; want a refusal", ok, err)
	}
	for _, token := range []string{"broken", "noid"} {
		if _, ok, err := p.VerifyToken(t.Context(), token); ok || err == nil {
			t.Fatalf("%s: %v, %v; want a failure", token, ok, err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			_, _, err := p.VerifyToken(context.Background(), "hold")
			errs <- err
		})
	}
	time.Sleep(500 * time.Millisecond) // the calls beyond two wait for a slot
	close(release)
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
		}
	}
	// Within the timeout every call gets its turn, never more than two at
	// once (so no call was abandoned, which would free its slot early).
	if most.Load() != 2 || failed != 0 {
		t.Fatalf("%d calls at once (want 2), %d failed (want none)", most.Load(), failed)
	}
}
