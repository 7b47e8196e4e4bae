package caddymodule

import (
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestHashingSubdirectivesAreParsed(t *testing.T) {
	var h Handler
	input := "cubeauth {\n hash_concurrency 3\n hash_wait 2s\n hash_in_process\n}"
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
		t.Fatal(err)
	}
	if h.HashConcurrency != 3 || h.HashWait != caddy.Duration(2*time.Second) || !h.HashInProcess {
		t.Errorf("got hash_concurrency %d, hash_wait %v, hash_in_process %v", h.HashConcurrency, h.HashWait, h.HashInProcess)
	}
	var byDefault Handler
	if err := byDefault.UnmarshalCaddyfile(caddyfile.NewTestDispenser("cubeauth")); err != nil {
		t.Fatal(err)
	}
	if byDefault.HashInProcess {
		t.Error("hashes run in-process by default; want worker processes")
	}
	var bad Handler
	if err := bad.UnmarshalCaddyfile(caddyfile.NewTestDispenser("cubeauth {\n hash_in_process yes\n}")); err == nil {
		t.Error("hash_in_process with an argument was accepted")
	}
}
