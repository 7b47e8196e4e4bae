package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestTheTokenComesFromCBTokenOrElseABearerAuthorization(t *testing.T) {
	for _, tc := range []struct {
		name            string
		headers         []string // name, value pairs, added in order
		token           string
		inAuthorization bool
	}{
		{"CB-Token", []string{"CB-Token", "abc"}, "abc", false},
		{"a bearer token", []string{"Authorization", "Bearer abc"}, "abc", true},
		{"a bearer scheme in any case", []string{"Authorization", "bEARER abc"}, "abc", true},
		{"a bearer token padded with spaces", []string{"Authorization", "Bearer   abc "}, "abc", true},
		{"CB-Token before a bearer token", []string{"CB-Token", "abc", "Authorization", "Bearer def"}, "abc", false},
		{"an empty CB-Token, as Flutter sends, and a bearer token", []string{"CB-Token", "", "Authorization", "Bearer def"}, "def", true},
		{"an empty CB-Token alone", []string{"CB-Token", ""}, "", false},
		{"another scheme", []string{"Authorization", "Basic YTpi"}, "", false},
		{"a bare bearer scheme", []string{"Authorization", "Bearer "}, "", false},
		{"nothing", nil, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := http.Header{}
			for i := 0; i+1 < len(tc.headers); i += 2 {
				hdr.Add(tc.headers[i], tc.headers[i+1])
			}
			token, inAuthorization := headerToken(hdr)
			if token != tc.token || inAuthorization != tc.inAuthorization {
				t.Errorf("headerToken = %q, %v; want %q, %v", token, inAuthorization, tc.token, tc.inAuthorization)
			}
			// The terminated and the forwarded path read it the same way.
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header = hdr.Clone()
			if got := requestToken(r); got != tc.token {
				t.Errorf("requestToken = %q, want %q", got, tc.token)
			}
			if got := (&Handler{}).takeToken(r); got != tc.token {
				t.Errorf("takeToken = %q, want %q", got, tc.token)
			}
		})
	}
}

func TestTakingTheTokenLeavesTheBackendItsOwnAuthorization(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("CB-Token", "abc")
	r.Header.Set("Authorization", "Bearer backend-credential")
	if got := (&Handler{}).takeToken(r); got != "abc" {
		t.Fatalf("token %q, want abc", got)
	}
	if r.Header.Get("Authorization") != "Bearer backend-credential" || r.Header.Get("Cb-Token") != "" {
		t.Fatalf("headers after: %v; want CB-Token gone and Authorization kept", r.Header)
	}
	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("CB-Token", "")
	r.Header.Set("Authorization", "Bearer abc")
	if got := (&Handler{}).takeToken(r); got != "abc" || len(r.Header) != 0 {
		t.Fatalf("token %q, headers after %v; want abc and no credential headers", got, r.Header)
	}
}

func TestPassCredentialsKeepsEveryCopyOfTheToken(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/chat?token=abc", nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Authorization", "Bearer abc")
	if got := (&Handler{PassCredentials: true}).takeToken(r); got != "abc" {
		t.Fatalf("token %q, want abc", got)
	}
	if r.Header.Get("Authorization") == "" || r.URL.RawQuery != "token=abc" {
		t.Fatalf("pass_credentials removed a copy: %v %q", r.Header, r.URL.RawQuery)
	}
}

func TestAnEmptyCBTokenHeaderFallsBackToBearerOnBothPaths(t *testing.T) {
	ts := newTestServer(t)
	token := ts.session(t, userBody(1, devKey, "flutter", "supersecret"))["token"].(string)
	if res := ts.do("GET", "/session.json", "", "CB-Token", "", "Authorization", "Bearer "+token); res.status != 200 {
		t.Fatalf("terminated: %d %s", res.status, res.raw)
	}
	if res := ts.do("GET", "/api/things", "", "CB-Token", "", "Authorization", "Bearer "+token); res.status != 200 || res.body["login"] != "flutter" {
		t.Fatalf("forwarded: %d %s", res.status, res.raw)
	}
}
