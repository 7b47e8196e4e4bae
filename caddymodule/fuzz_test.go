package caddymodule

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// FuzzTakeToken: whatever a client puts in the credential headers and the
// query, extraction never panics, and with credentials not passed on no
// copy of the token reaches the backend.
func FuzzTakeToken(f *testing.F) {
	f.Add("abc", "", "token=abc", true)
	f.Add("", "Bearer abc", "x=1&token=abc&token=def", true)
	f.Add("", "bearer", "token=%zz", true)
	f.Add("", "Basic abc", "", false)
	f.Fuzz(func(t *testing.T, cbToken, authorization, rawQuery string, websocket bool) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.RawQuery = rawQuery
		if cbToken != "" {
			r.Header.Set("CB-Token", cbToken)
		}
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		if websocket {
			r.Header.Set("Upgrade", "websocket")
		}
		h := &Handler{}
		token := h.takeToken(r)
		if cbToken != "" && token != cbToken {
			t.Fatalf("token %q, want the CB-Token %q", token, cbToken)
		}
		if r.Header.Get("Cb-Token") != "" {
			t.Fatal("CB-Token was left on the request")
		}
		// With no CB-Token, a bearer credential is the token and must go; with
		// one, Authorization may be the backend's own business and stays.
		isBearer := len(authorization) > 7 && strings.EqualFold(authorization[:7], "bearer ") &&
			strings.TrimSpace(authorization[7:]) != ""
		if cbToken == "" && isBearer && r.Header.Get("Authorization") != "" {
			t.Fatal("a bearer token was left on the request")
		}
		if websocket && r.URL.Query().Has(tokenQueryParam) {
			t.Fatal("the token query parameter was left on an upgrade")
		}
	})
}

// FuzzUnmarshalCaddyfile: any Caddyfile either configures the handler or
// is refused with an error — never a panic.
func FuzzUnmarshalCaddyfile(f *testing.F) {
	f.Add("cubeauth {\n storage badger /tmp/x\n session_ttl 2h\n app 1 {\n auth_key k\n stage production\n }\n}")
	f.Add("cubeauth {\n limits {\n failures_per_ip 5/1m\n }\n argon2 19456 2\n}")
	f.Add("cubeauth {\n app x\n}")
	f.Add("cubeauth {\n app 1 {\n stage staging\n }\n}")
	f.Fuzz(func(t *testing.T, input string) {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
		if err != nil {
			return
		}
		for _, a := range h.Apps {
			if a.ID <= 0 {
				t.Fatalf("accepted app id %d", a.ID)
			}
			if a.Stage != "" && a.Stage != "development" && a.Stage != "production" {
				t.Fatalf("accepted stage %q", a.Stage)
			}
		}
	})
}
