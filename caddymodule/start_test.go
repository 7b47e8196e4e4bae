package caddymodule

import (
	"encoding/json"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// badgerAt is the storage config of a Badger store in dir.
func badgerAt(dir string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"driver": "badger", "path": dir})
	return b
}

// startHandlers provisions, validates and starts handlers the way Caddy
// loads a config with them: each is provisioned, then the cubeauth app
// starts them. Cleanup runs when the test ends.
func startHandlers(tb testing.TB, hs ...*Handler) {
	tb.Helper()
	ctx := caddyContext(tb)
	tb.Cleanup(func() {
		for _, h := range hs {
			_ = h.Cleanup()
		}
	})
	for _, h := range hs {
		if err := h.Provision(ctx); err != nil {
			tb.Fatalf("provision: %v", err)
		}
		if err := h.Validate(); err != nil {
			tb.Fatalf("validate: %v", err)
		}
	}
	app, err := ctx.App("cubeauth")
	if err != nil {
		tb.Fatal(err)
	}
	if err := app.(*App).Start(); err != nil {
		tb.Fatalf("start: %v", err)
	}
}

// caddyContext is a context of an empty config, cancelled when the test
// ends.
func caddyContext(tb testing.TB) caddy.Context {
	tb.Helper()
	ctx, err := caddy.ProvisionContext(&caddy.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	return ctx
}
