package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/cubeauth/cubeauth/authcore"
)

// Benchmarks of the proxied path. They run only with -bench:
//
//	go test ./caddymodule/ -run '^$' -bench . -benchmem

// benchHandler is a provisioned Handler with the abuse limits off, and a
// user session's and an app session's tokens.
func benchHandler(b *testing.B, cacheSize int) (h *Handler, userToken, appToken string) {
	b.Helper()
	h = &Handler{
		StorageRaw:       badgerAt(b.TempDir()),
		Argon2:           &Argon2Config{MemoryKiB: 64, Time: 1}, // setup only: no login is measured here
		SessionCacheSize: cacheSize,
		Limits:           &LimitsConfig{SessionsPerIP: "off"},
		Apps:             []AppConfig{{ID: 1, AuthKey: devKey, Stage: "development"}},
	}
	// Without a Caddy config, Provision logs (Badger's debug lines too)
	// through a development logger opened on os.Stderr; give it /dev/null,
	// so that no log line splits a benchmark's result line.
	stderr := os.Stderr
	if null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		os.Stderr = null
		defer null.Close()
	}
	startHandlers(b, h)
	os.Stderr = stderr
	create := func(p authcore.Params) string {
		res, err := h.service.CreateSession(context.Background(), authcore.SessionRequest{Params: p, ClientIP: "127.0.0.1"})
		if err != nil {
			b.Fatal(err)
		}
		return res.Token
	}
	userToken = create(authcore.Params{"application_id": "1", "auth_key": devKey,
		"user[login]": "alice", "user[password]": "supersecret"})
	appToken = create(authcore.Params{"application_id": "1", "auth_key": devKey})
	return h, userToken, appToken
}

// benchRequest is a GET as an SDK sends it through Caddy: a handful of
// ordinary headers, the token, and a forged identity header to strip.
func benchRequest(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/messages?limit=20", nil)
	r.Header.Set("User-Agent", "connectycube-js/4.0")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Accept-Encoding", "gzip")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Request-Id", "c0ffee")
	r.Header.Set("X-Cube-User-Id", "999")
	if token != "" {
		r.Header.Set("CB-Token", token)
	}
	repl := caddy.NewReplacer()
	return r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
}

// nopResponseWriter discards the response, so the benchmark measures the
// handler and not a recorder.
type nopResponseWriter struct{ h http.Header }

func (w *nopResponseWriter) Header() http.Header         { return w.h }
func (w *nopResponseWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopResponseWriter) WriteHeader(int)             {}

var nopNext = caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })

// BenchmarkServeHTTP is the whole forward path of Handler.ServeHTTP with a
// no-op next handler: strip identity headers, take the token, validate it
// (from the cache, or from Badger with session_cache_size -1), inject the
// identity headers, set placeholders, count, call next. The request is
// reused, so only the client's two headers that the path consumes (the
// token and the forged identity header) are put back between iterations.
func BenchmarkServeHTTP(b *testing.B) {
	for _, bc := range []struct {
		name      string
		cacheSize int
	}{{"from=cache", 0}, {"from=badger", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			h, userToken, appToken := benchHandler(b, bc.cacheSize)
			for _, tc := range []struct {
				name, token string
				status      int
			}{{"session=user", userToken, 0}, {"session=app", appToken, 0}, {"session=invalid", "0123456789abcdef", 401}} {
				b.Run(tc.name, func(b *testing.B) {
					r := benchRequest(tc.token)
					tok, forged := r.Header["Cb-Token"], r.Header["X-Cube-User-Id"]
					w := &nopResponseWriter{h: http.Header{}}
					reached := 0
					next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
						reached++
						return nil
					})
					b.ReportAllocs()
					for b.Loop() {
						r.Header["Cb-Token"], r.Header["X-Cube-User-Id"] = tok, forged
						if err := h.ServeHTTP(w, r, next); err != nil {
							b.Fatal(err)
						}
					}
					if (tc.status == 0) != (reached > 0) {
						b.Fatalf("next reached %d times", reached)
					}
				})
			}
		})
	}
}

// BenchmarkServeHTTPParallel is BenchmarkServeHTTP's cached user session
// from all CPUs at once, each with its own request.
func BenchmarkServeHTTPParallel(b *testing.B) {
	h, token, _ := benchHandler(b, 0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := benchRequest(token)
		tok, forged := r.Header["Cb-Token"], r.Header["X-Cube-User-Id"]
		w := &nopResponseWriter{h: http.Header{}}
		for pb.Next() {
			r.Header["Cb-Token"], r.Header["X-Cube-User-Id"] = tok, forged
			if err := h.ServeHTTP(w, r, nopNext); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkIdentityHeaders is stripping client copies of the identity
// headers from a typical request, and injecting a user's.
func BenchmarkIdentityHeaders(b *testing.B) {
	ih := newIdentityHeaders("X-Cube-")
	r := benchRequest("0123456789abcdef")
	forged := r.Header["X-Cube-User-Id"]
	// The per-app values come from forwardedAppFor's cache; the user ID is
	// formatted per request, as forward does.
	app := &forwardedApp{appID: "1", sessionType: authcore.SessionTypeUser}
	id := authcore.Identity{AppID: 1, UserID: 123456, Login: "alice"}
	b.Run("op=strip", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Header["X-Cube-User-Id"] = forged
			ih.strip(r.Header)
		}
	})
	b.Run("op=inject", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ih.inject(r.Header, app, strconv.FormatInt(id.UserID, 10), id.Login)
		}
	})
	b.Run(fmt.Sprintf("op=strip+inject/headers=%d", len(r.Header)), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ih.strip(r.Header)
			ih.inject(r.Header, app, strconv.FormatInt(id.UserID, 10), id.Login)
		}
	})
}
