package operator

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/cubeauth/cubeauth/caddymodule"
)

const (
	devKey    = "6f1c2b8e-0d4a-4c55-9a57-2a3c4f1e9b10"
	prodKey   = "0b7f5a2c-3e1d-4f6a-8b9c-1d2e3f4a5b6c"
	devSecret = "test-only-secret"
)

// testServer is a running cubeauth handler over a fresh Badger store, with
// app 1 in development (its stage pinned) and app 2 in production.
type testServer struct {
	t     *testing.T
	h     *caddymodule.Handler
	store string // the store's name, as ?store= takes it
}

// startHandler provisions h and starts it as Caddy starts a config.
func startHandler(t *testing.T, h *caddymodule.Handler) {
	t.Helper()
	ctx, err := caddy.ProvisionContext(&caddy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	if err := h.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
	app, err := ctx.App("cubeauth")
	if err != nil {
		t.Fatal(err)
	}
	if err := app.(caddy.App).Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
}

// badgerHandler is a handler over a Badger store in dir, with cheap hashes.
func badgerHandler(dir string, apps ...caddymodule.AppConfig) *caddymodule.Handler {
	raw, _ := json.Marshal(map[string]string{"driver": "badger", "path": dir})
	return &caddymodule.Handler{
		StorageRaw:    raw,
		HashInProcess: true,
		Argon2:        &caddymodule.Argon2Config{MemoryKiB: 64, Time: 1},
		Apps:          apps,
	}
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	dir := t.TempDir()
	h := badgerHandler(dir,
		caddymodule.AppConfig{ID: 1, AuthKey: devKey, AuthSecret: devSecret, Stage: "development"},
		caddymodule.AppConfig{ID: 2, AuthKey: prodKey, Stage: "production"},
	)
	startHandler(t, h)
	return &testServer{t: t, h: h, store: "badger:" + dir}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends a request through the handler to a backend that answers 200.
func (ts *testServer) do(method, target, body string, headers ...string) response {
	ts.t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if strings.HasPrefix(body, "{") {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	w := httptest.NewRecorder()
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		_, err := w.Write([]byte(`{"reached":true}`))
		return err
	})
	if err := ts.h.ServeHTTP(w, r, next); err != nil {
		ts.t.Fatal(err)
	}
	res := response{status: w.Code, header: w.Header(), raw: w.Body.String()}
	_ = json.Unmarshal(w.Body.Bytes(), &res.body)
	return res
}

// session creates a session and returns the response's session object.
func (ts *testServer) session(t *testing.T, body string) map[string]any {
	t.Helper()
	res := ts.do("POST", "/session.json", body)
	if res.status != http.StatusCreated {
		t.Fatalf("POST /session %s: %d %s", body, res.status, res.raw)
	}
	return res.body["session"].(map[string]any)
}
