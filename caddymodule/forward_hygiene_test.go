package caddymodule

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// userToken signs a development user in and returns its token and id.
func (ts *testServer) userToken(t *testing.T, login string) (token, userID string) {
	t.Helper()
	s := ts.session(t, userBody(1, devKey, login, "supersecret"))
	return s["token"].(string), strconv.Itoa(int(s["user_id"].(float64)))
}

// appToken creates an app session (no user) and returns its token.
func (ts *testServer) appToken(t *testing.T) string {
	t.Helper()
	return ts.session(t, `{"application_id":1,"auth_key":"`+devKey+`"}`)["token"].(string)
}

func (ts *testServer) lastReached() *http.Request {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.reached[len(ts.reached)-1]
}

func TestConnectionCannotNameTheIdentityHeadersAway(t *testing.T) {
	ts := newTestServer(t)
	token, uid := ts.userToken(t, "conn1")
	res := ts.do("GET", "/api", "", "CB-Token", token,
		"Connection", "keep-alive, X-Cube-User-Id,x-cube-user-login", "Connection", "X-CUBE-APP-ID", "Connection", "X-Cube-Session-Type")
	if res.status != 200 || res.body["user_id"] != uid {
		t.Fatalf("forward: %d %s", res.status, res.raw)
	}
	if got := ts.lastReached().Header.Values("Connection"); len(got) != 1 || got[0] != "keep-alive" {
		t.Fatalf("the backend's Connection is %q, want only keep-alive", got)
	}
	// Only prefix names go: nothing is left, and the header with them.
	ts.do("GET", "/api", "", "CB-Token", token, "Connection", "X-Cube-User-Id")
	if got, ok := ts.lastReached().Header["Connection"]; ok {
		t.Fatalf("Connection %q left with no token in it", got)
	}
	ts.do("GET", "/chat?user_id="+uid, "", "CB-Token", token, "Upgrade", "websocket", "Connection", "Upgrade, X-Cube-User-Id")
	if got := ts.lastReached().Header.Get("Connection"); got != "Upgrade" {
		t.Fatalf("an upgrade's Connection is %q, want Upgrade", got)
	}
}

func TestConnectionTokensFollowTheConfiguredPrefix(t *testing.T) {
	ts := newTestServer(t, func(h *Handler) { h.HeaderPrefix = "X-Auth-" })
	token, _ := ts.userToken(t, "conn2")
	ts.do("GET", "/api", "", "CB-Token", token, "Connection", "x-auth-user-id, X-Cube-User-Id")
	if got := ts.lastReached().Header.Get("Connection"); got != "X-Cube-User-Id" {
		t.Fatalf("Connection %q, want only the name outside the prefix kept", got)
	}
}

// doPrepared is do with prepare applied to the request first.
func (ts *testServer) doPrepared(prepare func(*http.Request), method, target, body string, headers ...string) response {
	ts.t.Helper()
	ts.prepare = prepare
	defer func() { ts.prepare = nil }()
	return ts.do(method, target, body, headers...)
}

// chunkedWith makes a request's body one of unknown length (chunked) with
// the given declared trailers.
func chunkedWith(declared http.Header) func(*http.Request) {
	return func(r *http.Request) {
		r.ContentLength = -1
		r.Trailer = declared
	}
}

func TestDeclaredIdentityTrailersAreRefused(t *testing.T) {
	ts := newTestServer(t)
	token, _ := ts.userToken(t, "trail1")
	res := ts.doPrepared(chunkedWith(http.Header{"X-Checksum": nil, "X-Cube-User-Id": nil}), "POST", "/api", "{}", "CB-Token", token)
	expectError(t, res, 400, "trailers under the identity header prefix")
	// Without chunked framing Go leaves the declaration in the header.
	expectError(t, ts.do("POST", "/api", "{}", "CB-Token", token, "Trailer", "X-Checksum, x-cube-app-id"), 400, "trailers")
	// On a terminated endpoint too.
	res = ts.doPrepared(chunkedWith(http.Header{"X-Cube-Session-Type": nil}), "POST", "/session.json", "{}")
	expectError(t, res, 400, "trailers")
	if n := ts.reachedCount(); n != 0 {
		t.Fatalf("%d requests with identity trailers reached the backend", n)
	}
}

// trailingBody is a chunked body that, like net/http's, merges every
// trailer it reads into its request's Trailer when it reaches the end,
// declared or not. target is that request: here the one the handler got.
type trailingBody struct {
	io.Reader
	target  func() *http.Request
	trailer http.Header
}

func (b *trailingBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err == io.EOF {
		r := b.target()
		if r.Trailer == nil {
			r.Trailer = http.Header{}
		}
		for k, v := range b.trailer {
			r.Trailer[k] = v
		}
	}
	return n, err
}

func (b *trailingBody) Close() error { return nil }

func TestUndeclaredIdentityTrailersAreRemovedAtTheEndOfTheBody(t *testing.T) {
	ts := newTestServer(t)
	token, _ := ts.userToken(t, "trail2")
	for name, declared := range map[string]http.Header{
		"with another trailer declared": {"X-Checksum": nil},
		"with none declared":            nil,
	} {
		t.Run(name, func(t *testing.T) {
			prepare := func(r *http.Request) {
				chunkedWith(declared)(r)
				r.Body = &trailingBody{Reader: strings.NewReader("{}"), target: ts.lastReached,
					trailer: http.Header{"X-Checksum": {"abc"}, "X-Cube-User-Id": {"1"}, "X-Cube-Extra": {"x"}}}
			}
			if res := ts.doPrepared(prepare, "POST", "/api", "{}", "CB-Token", token); res.status != 200 {
				t.Fatalf("forward: %d %s", res.status, res.raw)
			}
			got := ts.lastReached()
			if _, err := io.ReadAll(got.Body); err != nil {
				t.Fatal(err)
			}
			if got.Trailer.Get("X-Checksum") != "abc" {
				t.Fatalf("trailers %v: the other trailer is gone too", got.Trailer)
			}
			for k := range got.Trailer {
				if strings.HasPrefix(k, "X-Cube-") {
					t.Fatalf("trailer %s reached the backend: %v", k, got.Trailer)
				}
			}
		})
	}
}

func TestWebSocketUpgradesNeedOneWellFormedUserID(t *testing.T) {
	ts := newTestServer(t)
	token, uid := ts.userToken(t, "ws1")
	ws := []string{"Upgrade", "websocket", "Connection", "Upgrade"}
	for _, tc := range []struct {
		query  string
		status int
	}{
		{"user_id=" + uid, 200},
		{"room=1", 200},
		{"user_id=" + uid + "&user_id=" + uid, 400},
		{"user_id=999999&user_id=" + uid, 400},
		{"user_id=" + uid + "&user_id=999999", 400},
		{"user_id=abc", 400},
		{"user_id=", 400},
		{"user_id=0", 400},
		{"user_id=-" + uid, 400},
		{"user_id=0" + uid, 400},
		{"user_id=%2B" + uid, 400},
		{"user_id=" + uid + "%00", 400},
		{"user%5Fid=" + uid + "&user_id=999999", 400},
		{"user_id=" + uid + ";user_id=999999", 400},
		{"user_id=%zz", 400},
		{"user_id=999999", 403},
	} {
		t.Run(tc.query, func(t *testing.T) {
			before := ts.reachedCount()
			res := ts.do("GET", "/chat?"+tc.query+"&token="+token, "", ws...)
			if tc.status == 200 {
				if res.status != 200 || res.body["user_id"] != uid {
					t.Fatalf("upgrade: %d %s", res.status, res.raw)
				}
				return
			}
			expectError(t, res, tc.status, "")
			if ts.reachedCount() != before {
				t.Fatal("the refused upgrade reached the backend")
			}
			if strings.Contains(res.raw, token) {
				t.Fatalf("the refusal shows the token: %s", res.raw)
			}
		})
	}
}

func TestAppSessionsOpenNoWebSocketUnlessAllowed(t *testing.T) {
	ts := newTestServer(t)
	app := ts.appToken(t)
	for _, upgrade := range []string{"websocket", "WebSocket"} {
		expectError(t, ts.do("GET", "/chat?token="+app, "", "Upgrade", upgrade, "Connection", "Upgrade"), 403, "Forbidden. Need user.")
	}
	if n := ts.reachedCount(); n != 0 {
		t.Fatalf("%d app-session upgrades reached the backend", n)
	}
	// Another protocol's offer goes on as a plain read, without it.
	if res := ts.do("GET", "/api", "", "CB-Token", app, "Upgrade", "h2c", "Connection", "Upgrade, HTTP2-Settings"); res.status != 200 {
		t.Fatalf("app session GET offering h2c: %d %s", res.status, res.raw)
	}
	if got := ts.lastReached().Header.Get("Upgrade"); got != "" {
		t.Fatalf("an app session's Upgrade: %s reached the backend", got)
	}
	// A plain read is still fine.
	if res := ts.do("GET", "/api", "", "CB-Token", app); res.status != 200 {
		t.Fatalf("app session GET: %d %s", res.status, res.raw)
	}

	allowed := newTestServer(t, func(h *Handler) { h.AppSessionWebSockets = true })
	app = allowed.appToken(t)
	res := allowed.do("GET", "/chat?token="+app, "", "Upgrade", "websocket", "Connection", "Upgrade")
	if res.status != 200 || res.body["session_type"] != "app" {
		t.Fatalf("app session upgrade with app_session_websockets: %d %s", res.status, res.raw)
	}
}

func TestAppSessionsCannotOverrideTheMethod(t *testing.T) {
	ts := newTestServer(t)
	overrides := []string{"X-HTTP-Method-Override", "DELETE", "X-HTTP-Method", "PUT", "x-method-override", "PATCH"}
	app := ts.appToken(t)
	if res := ts.do("GET", "/api", "", append(overrides, "CB-Token", app)...); res.status != 200 {
		t.Fatalf("app session GET: %d %s", res.status, res.raw)
	}
	for _, k := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"} {
		if v := ts.lastReached().Header.Get(k); v != "" {
			t.Errorf("the backend got %s: %s from an app session", k, v)
		}
	}
	// A user session may write anyway: its overrides pass.
	token, _ := ts.userToken(t, "override1")
	ts.do("GET", "/api", "", append(overrides, "CB-Token", token)...)
	if v := ts.lastReached().Header.Get("X-HTTP-Method-Override"); v != "DELETE" {
		t.Fatalf("a user session's override arrived as %q, want DELETE", v)
	}
}
