package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

const testOrigin = "https://app.example"

// serveWith runs one request through the handler in front of next.
func serveWith(t *testing.T, h *Handler, next caddyhttp.HandlerFunc, method, target string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "192.0.2.1"})
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r.WithContext(ctx), next); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	return w
}

// corsBackend answers with its own CORS headers, as a backend that
// implements CORS does.
var corsBackend = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Access-Control-Allow-Origin", "https://backend.example")
	w.Header().Set("Access-Control-Expose-Headers", "X-Page")
	w.Header().Add("Vary", "Origin")
	_, err := w.Write([]byte(`{}`))
	return err
})

func TestRefusalsOnForwardedPathsCarryCORS(t *testing.T) {
	for _, mode := range []string{"", forwardedCORSBackend} {
		ts := newTestServer(t, func(h *Handler) { h.ForwardedCORS = mode })
		token, _ := ts.userToken(t, "cora")
		app := ts.appToken(t)
		for name, res := range map[string]response{
			"401 no token":      ts.do("GET", "/api/x", "", "Origin", testOrigin),
			"401 ended session": ts.do("GET", "/api/x", "", "Origin", testOrigin, "CB-Token", strings.Repeat("ab", 32)),
			"403 app session":   ts.do("POST", "/api/x", "", "Origin", testOrigin, "CB-Token", app),
			"404 terminated":    ts.do("GET", "/users/abc", "", "Origin", testOrigin, "CB-Token", token),
		} {
			if res.status < 400 || res.header.Get("Access-Control-Allow-Origin") != "*" ||
				!strings.Contains(res.header.Get("Access-Control-Expose-Headers"), "CB-Token-ExpirationDate") {
				t.Errorf("mode %q, %s: %d %v", mode, name, res.status, res.header)
			}
		}
		if ts.reachedCount() != 0 {
			t.Errorf("mode %q: a refusal reached the backend", mode)
		}
	}
}

func TestRefusalsAllowOnlyListedOrigins(t *testing.T) {
	ts := newTestServer(t, func(h *Handler) { h.CORSOrigins = []string{testOrigin} })
	res := ts.do("GET", "/api/x", "", "Origin", testOrigin)
	if res.status != 401 || res.header.Get("Access-Control-Allow-Origin") != testOrigin || len(res.header.Values("Vary")) != 1 {
		t.Fatalf("listed origin: %d %v", res.status, res.header)
	}
	// A terminated endpoint's refusal sets them once (serveEndpoint and writeError).
	res = ts.do("GET", "/users/abc", "", "Origin", testOrigin)
	if res.header.Get("Access-Control-Allow-Origin") != testOrigin || len(res.header.Values("Vary")) != 1 {
		t.Fatalf("terminated refusal: %d %v", res.status, res.header)
	}
	res = ts.do("GET", "/api/x", "", "Origin", "https://evil.example")
	if res.header.Get("Access-Control-Allow-Origin") != "" || res.header.Get("Vary") != "Origin" {
		t.Fatalf("unlisted origin: %v", res.header)
	}
}

func TestForwardedCORS(t *testing.T) {
	pre := []string{"Origin", testOrigin, "Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "cb-token, content-type"}
	t.Run("cubeauth", func(t *testing.T) {
		ts := newTestServer(t, func(h *Handler) { h.CORSOrigins = []string{testOrigin} })
		token, _ := ts.userToken(t, "cora")
		w := serveWith(t, ts.h, corsBackend, "OPTIONS", "/api/x", pre...)
		if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != testOrigin ||
			!strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "ConnectyCube-REST-API-Version") ||
			!strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "PUT") {
			t.Fatalf("preflight: %d %v", w.Code, w.Header())
		}
		w = serveWith(t, ts.h, corsBackend, "GET", "/api/x", "Origin", testOrigin, "CB-Token", token)
		hdr := w.Header()
		if got := hdr.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != testOrigin {
			t.Fatalf("allow origin %q, want only %q", got, testOrigin)
		}
		if got := hdr.Values("Vary"); len(got) != 1 {
			t.Fatalf("Vary %q, want Origin once", got)
		}
		if got := hdr.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "CB-Token-ExpirationDate") || !strings.Contains(got, "X-Page") {
			t.Fatalf("expose %q, want cubeauth's and the backend's", got)
		}
		if hdr.Get("CB-Token-ExpirationDate") == "" {
			t.Fatal("forwarded answer without CB-Token-ExpirationDate")
		}
	})
	t.Run("backend", func(t *testing.T) {
		ts := newTestServer(t, func(h *Handler) { h.ForwardedCORS = forwardedCORSBackend })
		token, _ := ts.userToken(t, "cora")
		reached := false
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			reached = true
			return corsBackend(w, r)
		})
		if w := serveWith(t, ts.h, next, "OPTIONS", "/api/x", pre...); !reached || w.Header().Get("Access-Control-Allow-Origin") != "https://backend.example" {
			t.Fatalf("preflight not left to the backend: reached %v, %v", reached, w.Header())
		}
		w := serveWith(t, ts.h, corsBackend, "GET", "/api/x", "Origin", testOrigin, "CB-Token", token)
		if got := w.Header().Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != "https://backend.example" {
			t.Fatalf("backend's answer changed: %q", got)
		}
		if w.Header().Get("CB-Token-ExpirationDate") == "" {
			t.Fatal("forwarded answer without CB-Token-ExpirationDate")
		}
	})
}

func TestForwardedCORSIsValidated(t *testing.T) {
	h := &Handler{ForwardedCORS: "both", HeaderPrefix: "X-Cube-"}
	if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "forwarded_cors") {
		t.Fatalf("Validate: %v", err)
	}
}
