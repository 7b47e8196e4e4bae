package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/cubeauth/cubeauth/authcore"
)

const (
	devKey    = "6f1c2b8e-0d4a-4c55-9a57-2a3c4f1e9b10"
	prodKey   = "0b7f5a2c-3e1d-4f6a-8b9c-1d2e3f4a5b6c"
	devSecret = "test-only-secret"
)

// testServer is a provisioned Handler in front of a backend that records
// what reached it.
type testServer struct {
	t       *testing.T
	h       *Handler
	mu      sync.Mutex
	reached []*http.Request
	// prepare, when set, changes each request do builds (its body or
	// trailers, say) before anything else is set on it.
	prepare func(*http.Request)
}

func newTestServer(t *testing.T, configure ...func(*Handler)) *testServer {
	t.Helper()
	h := &Handler{
		StorageRaw: badgerAt(t.TempDir()),
		// Cheap hashes keep tests fast; the format and code path are the same.
		Argon2: &Argon2Config{MemoryKiB: 64, Time: 1},
		Apps: []AppConfig{
			{ID: 1, AuthKey: devKey, AuthSecret: devSecret, Stage: "development"},
			{ID: 2, AuthKey: prodKey, Stage: "production"},
		},
	}
	for _, c := range configure {
		c(h)
	}
	startHandlers(t, h)
	return &testServer{t: t, h: h}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (ts *testServer) do(method, target, body string, headers ...string) response {
	ts.t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if ts.prepare != nil {
		ts.prepare(r)
	}
	if body != "" && strings.HasPrefix(body, "{") {
		r.Header.Set("Content-Type", "application/json;charset=utf-8")
	} else if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	repl := caddy.NewReplacer()
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
	// What Caddy's server sets: the client address the limits count.
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "192.0.2.1"})
	r = r.WithContext(ctx)
	w := httptest.NewRecorder()
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ts.mu.Lock()
		ts.reached = append(ts.reached, r)
		ts.mu.Unlock()
		id, _ := repl.GetString("http.auth.user.id")
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(map[string]any{
			"user_id":      r.Header.Get("X-Cube-User-Id"),
			"app_id":       r.Header.Get("X-Cube-App-Id"),
			"login":        r.Header.Get("X-Cube-User-Login"),
			"session_type": r.Header.Get("X-Cube-Session-Type"),
			"placeholder":  id,
			"query":        r.URL.RawQuery,
		})
	})
	if err := ts.h.ServeHTTP(w, r, next); err != nil {
		ts.t.Fatalf("ServeHTTP: %v", err)
	}
	res := response{status: w.Code, header: w.Header(), raw: w.Body.String()}
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &res.body); err != nil {
			ts.t.Fatalf("%s %s: body is not a JSON object: %q", method, target, w.Body.String())
		}
	}
	return res
}

func (ts *testServer) reachedCount() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.reached)
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

func expectError(t *testing.T, res response, status int, want string) {
	t.Helper()
	if res.status != status {
		t.Fatalf("status %d, want %d (body %s)", res.status, status, res.raw)
	}
	if !strings.Contains(res.raw, `"errors"`) || (want != "" && !strings.Contains(res.raw, want)) {
		t.Fatalf("body %s, want ConnectyCube errors with %q", res.raw, want)
	}
}

func userBody(app int, key, login, password string) string {
	return `{"application_id":` + strconv.Itoa(app) + `,"auth_key":"` + key + `","user":{"login":"` + login + `","password":"` + password + `"}}`
}

func TestAppSessionCreationAnswers201WithTheSessionShape(t *testing.T) {
	ts := newTestServer(t)
	for _, path := range []string{"/session", "/session.json"} {
		res := ts.do("POST", path, `{"application_id":"1","auth_key":"`+devKey+`"}`)
		if res.status != http.StatusCreated {
			t.Fatalf("%s: %d %s", path, res.status, res.raw)
		}
		s := res.body["session"].(map[string]any)
		if tok, _ := s["token"].(string); len(tok) != 64 {
			t.Errorf("token %q is not 64 hex characters", tok)
		}
		if s["user_id"] != nil || s["application_id"] != float64(1) {
			t.Errorf("session %v: want user_id null, application_id 1", s)
		}
		if res.header.Get("CB-Token-ExpirationDate") == "" || res.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("headers %v lack expiry or CORS", res.header)
		}
	}
}

func TestSessionCreationRefusesUnknownAppsAndKeys(t *testing.T) {
	ts := newTestServer(t)
	expectError(t, ts.do("POST", "/session", `{"application_id":1,"auth_key":"`+prodKey+`"}`), 401, "Unknown application")
	expectError(t, ts.do("POST", "/session", `{"application_id":99,"auth_key":"`+devKey+`"}`), 401, "Unknown application")
	expectError(t, ts.do("POST", "/session", `{"application_id":{"x":1},"auth_key":"`+devKey+`"}`), 422, "application_id")
	expectError(t, ts.do("POST", "/session", `{"application_id":1,`), 400, "malformed")
	expectError(t, ts.do("POST", "/session", `{"application_id":1,"auth_key":""}`), 422, "auth_key")
}

func TestDevelopmentStageCreatesTheUserOnFirstSession(t *testing.T) {
	ts := newTestServer(t)
	s := ts.session(t, userBody(1, devKey, "alice", "supersecret"))
	user := s["user"].(map[string]any)
	if user["login"] != "alice" || s["user_id"] != user["id"] || user["id"].(float64) <= 0 {
		t.Fatalf("session %v", s)
	}
	again := ts.session(t, userBody(1, devKey, "ALICE", "supersecret"))
	if again["user_id"] != s["user_id"] || again["token"] == s["token"] {
		t.Fatalf("second login: %v, want same user and a new token", again)
	}
	expectError(t, ts.do("POST", "/session", userBody(1, devKey, "alice", "wrongpassword")), 401, "Unauthorized")
	expectError(t, ts.do("POST", "/session", userBody(1, devKey, "alice", "")), 422, "password")
}

func TestProductionStageRefusesUnknownUsersAndAcceptsSignups(t *testing.T) {
	ts := newTestServer(t)
	expectError(t, ts.do("POST", "/session", userBody(2, prodKey, "bob", "supersecret")), 404, `["User not found"]`)
	res := ts.do("POST", "/users.json", `{"user":{"login":"bob","password":"supersecret","full_name":"Bob"}}`, "CB-AuthKey", prodKey)
	if res.status != http.StatusCreated || res.body["user"].(map[string]any)["login"] != "bob" {
		t.Fatalf("signup: %d %s", res.status, res.raw)
	}
	if strings.Contains(res.raw, "password") {
		t.Fatalf("signup response leaks the password hash: %s", res.raw)
	}
	s := ts.session(t, userBody(2, prodKey, "bob", "supersecret"))
	if s["user"].(map[string]any)["full_name"] != "Bob" {
		t.Fatalf("session %v", s)
	}
	res = ts.do("POST", "/users", `{"user":{"login":"Bob","password":"supersecret"}}`, "CB-AuthKey", prodKey)
	expectError(t, res, 422, `"login":["has already been taken"]`)
	expectError(t, ts.do("POST", "/users", `{"user":{"login":"x","password":"supersecret"}}`, "CB-AuthKey", prodKey), 422, "too short")
	expectError(t, ts.do("POST", "/users", `{"user":{"login":"carol","password":"supersecret"}}`, "CB-AuthKey", "nope"), 401, "")
	expectError(t, ts.do("POST", "/users", `{"user":{"login":"carol","password":"supersecret"}}`), 401, "Token is required")
}

func TestExplicitPermissionOverridesTheStage(t *testing.T) {
	ts := newTestServer(t, func(h *Handler) {
		h.Apps[0].SessionWithoutUser = "deny"
		h.Apps[1].SessionWithoutUser = "allow"
	})
	expectError(t, ts.do("POST", "/session", userBody(1, devKey, "dave", "supersecret")), 404, "User not found")
	ts.session(t, userBody(2, prodKey, "dave", "supersecret"))
}

func TestFormBodiesWorkLikeJSON(t *testing.T) {
	ts := newTestServer(t)
	form := url.Values{"application_id": {"1"}, "auth_key": {devKey}, "user[login]": {"erin"}, "user[password]": {"supersecret"}}
	res := ts.do("POST", "/session", form.Encode())
	if res.status != http.StatusCreated || res.body["session"].(map[string]any)["user"].(map[string]any)["login"] != "erin" {
		t.Fatalf("form session: %d %s", res.status, res.raw)
	}
}

func TestForwardingInjectsIdentityAndStripsForgeries(t *testing.T) {
	ts := newTestServer(t)
	s := ts.session(t, userBody(1, devKey, "frank", "supersecret"))
	token := s["token"].(string)
	res := ts.do("GET", "/api/things", "", "CB-Token", token, "X-Cube-User-Id", "1", "x-cube-user-login", "root", "X-CUBE-EXTRA", "x")
	if res.status != 200 {
		t.Fatalf("forward: %d %s", res.status, res.raw)
	}
	wantID := strconv.Itoa(int(s["user_id"].(float64)))
	if res.body["user_id"] != wantID || res.body["login"] != "frank" || res.body["session_type"] != "user" || res.body["app_id"] != "1" {
		t.Fatalf("backend saw %v, want user %s frank", res.body, wantID)
	}
	if res.body["placeholder"] != wantID {
		t.Fatalf("placeholder http.auth.user.id = %v, want %s", res.body["placeholder"], wantID)
	}
	r := ts.reached[len(ts.reached)-1]
	if r.Header.Get("Cb-Token") != "" || r.Header.Get("X-Cube-Extra") != "" {
		t.Fatalf("backend received the token or a forged header: %v", r.Header)
	}
	if res := ts.do("POST", "/api/things", "{}", "Authorization", "Bearer "+token); res.status != 200 {
		t.Fatalf("bearer token: %d %s", res.status, res.raw)
	}
}

func TestRefusedRequestsNeverReachTheBackend(t *testing.T) {
	ts := newTestServer(t)
	app := ts.session(t, `{"application_id":1,"auth_key":"`+devKey+`"}`)["token"].(string)
	expectError(t, ts.do("GET", "/api", ""), 401, `{"errors":{"base":["Required session does not exist"]}}`)
	expectError(t, ts.do("GET", "/api", "", "CB-Token", "deadbeef"), 401, `{"errors":{"base":["Required session does not exist"]}}`)
	expectError(t, ts.do("POST", "/api", "{}", "CB-Token", app), 403, "Forbidden. Need user.")
	if n := ts.reachedCount(); n != 0 {
		t.Fatalf("%d refused requests reached the backend", n)
	}
	if res := ts.do("GET", "/api", "", "CB-Token", app); res.status != 200 || res.body["session_type"] != "app" || res.body["user_id"] != "" {
		t.Fatalf("app session GET: %d %s", res.status, res.raw)
	}
}

func TestWebSocketUpgradesTakeTheTokenFromTheQuery(t *testing.T) {
	ts := newTestServer(t)
	s := ts.session(t, userBody(1, devKey, "gina", "supersecret"))
	token, uid := s["token"].(string), strconv.Itoa(int(s["user_id"].(float64)))
	ws := []string{"Upgrade", "websocket", "Connection", "Upgrade"}
	res := ts.do("GET", "/chat?room=1&token="+token+"&user_id="+uid, "", ws...)
	if res.status != 200 || res.body["user_id"] != uid || strings.Contains(res.body["query"].(string), token) {
		t.Fatalf("upgrade: %d %s", res.status, res.raw)
	}
	expectError(t, ts.do("GET", "/chat?token="+token+"&user_id=999999", "", ws...), 403, "")
	// Outside upgrades the query parameter is not a credential.
	expectError(t, ts.do("GET", "/chat?token="+token, ""), 401, "Required session does not exist")
}

func TestLoginAndLogoutRebindTheSameToken(t *testing.T) {
	ts := newTestServer(t)
	ts.session(t, userBody(1, devKey, "hank", "supersecret"))
	token := ts.session(t, `{"application_id":1,"auth_key":"`+devKey+`"}`)["token"].(string)
	expectError(t, ts.do("POST", "/login.json", `{"login":"hank","password":"nope-nope"}`, "CB-Token", token), 401, "Unauthorized")
	res := ts.do("POST", "/login.json", `{"login":"hank","password":"supersecret"}`, "CB-Token", token)
	if res.status/100 != 2 || res.body["user"].(map[string]any)["login"] != "hank" {
		t.Fatalf("login: %d %s", res.status, res.raw)
	}
	if res := ts.do("POST", "/api", "{}", "CB-Token", token); res.status != 200 || res.body["login"] != "hank" {
		t.Fatalf("after login: %d %s", res.status, res.raw)
	}
	got := ts.do("GET", "/session.json", "", "CB-Token", token)
	if got.status != 200 || got.body["session"].(map[string]any)["user"].(map[string]any)["login"] != "hank" {
		t.Fatalf("GET /session: %d %s", got.status, got.raw)
	}
	if res := ts.do("DELETE", "/login.json", "", "CB-Token", token); res.status != 200 {
		t.Fatalf("logout: %d %s", res.status, res.raw)
	}
	expectError(t, ts.do("POST", "/api", "{}", "CB-Token", token), 403, "Need user")
	if res := ts.do("DELETE", "/session.json", "", "CB-Token", token); res.status != 200 {
		t.Fatalf("DELETE /session: %d %s", res.status, res.raw)
	}
	expectError(t, ts.do("GET", "/api", "", "CB-Token", token), 401, "Required session does not exist")
	expectError(t, ts.do("GET", "/session", "", "CB-Token", token), 401, "Required session does not exist")
}

func TestUsersCanReadAndChangeOnlyThemselves(t *testing.T) {
	ts := newTestServer(t)
	a := ts.session(t, userBody(1, devKey, "ivan", "supersecret"))
	b := ts.session(t, userBody(1, devKey, "judy", "supersecret"))
	other := ts.session(t, userBody(1, devKey, "ivan", "supersecret"))["token"].(string)
	tokA, idA := a["token"].(string), strconv.Itoa(int(a["user_id"].(float64)))
	idB := strconv.Itoa(int(b["user_id"].(float64)))

	if res := ts.do("GET", "/users/"+idB+".json", "", "CB-Token", tokA); res.status != 200 || res.body["user"].(map[string]any)["login"] != "judy" {
		t.Fatalf("GET other user: %d %s", res.status, res.raw)
	}
	for _, q := range []string{"/users/by_login.json?login=judy", "/users/v2.json?login=judy", "/users/v2?id[in][]=" + idB + "&id[in][]=" + idA} {
		if res := ts.do("GET", q, "", "CB-Token", tokA); res.status != 200 || !strings.Contains(res.raw, `"judy"`) {
			t.Fatalf("GET %s: %d %s", q, res.status, res.raw)
		}
	}
	expectError(t, ts.do("GET", "/users/by_login?login=nobody", "", "CB-Token", tokA), 404, "")
	expectError(t, ts.do("PUT", "/users/"+idB, `{"user":{"full_name":"X"}}`, "CB-Token", tokA), 403, "")
	expectError(t, ts.do("PUT", "/users/"+idA, `{"user":{"password":"newsecret1"}}`, "CB-Token", tokA), 422, "old_password")
	expectError(t, ts.do("PUT", "/users/"+idA, `{"user":{"password":"newsecret1","old_password":"wrongwrong"}}`, "CB-Token", tokA), 422, "old_password")
	expectError(t, ts.do("PUT", "/users/"+idA, `{"user":{"login":"judy"}}`, "CB-Token", tokA), 422, "has already been taken")
	res := ts.do("PUT", "/users/"+idA+".json", `{"user":{"password":"newsecret1","old_password":"supersecret","full_name":"Ivan"}}`, "CB-Token", tokA)
	if res.status != 200 || res.body["user"].(map[string]any)["full_name"] != "Ivan" {
		t.Fatalf("PUT own user: %d %s", res.status, res.raw)
	}
	// A password change ends the user's other sessions and keeps this one.
	expectError(t, ts.do("GET", "/api", "", "CB-Token", other), 401, "Required session does not exist")
	if res := ts.do("GET", "/api", "", "CB-Token", tokA); res.status != 200 {
		t.Fatalf("current session after password change: %d", res.status)
	}
	ts.session(t, userBody(1, devKey, "ivan", "newsecret1"))
	expectError(t, ts.do("DELETE", "/users/"+idB, "", "CB-Token", tokA), 403, "")
	if res := ts.do("DELETE", "/users/"+idA+".json", "", "CB-Token", tokA); res.status != 200 {
		t.Fatalf("DELETE own user: %d %s", res.status, res.raw)
	}
	expectError(t, ts.do("GET", "/api", "", "CB-Token", tokA), 401, "Required session does not exist")
}

func TestGuestSessionsCreateATemporaryUser(t *testing.T) {
	ts := newTestServer(t)
	s := ts.session(t, `{"application_id":1,"auth_key":"`+devKey+`","user":{"guest":"1","full_name":"Guest G"}}`)
	u := s["user"].(map[string]any)
	if u["is_guest"] != true || !strings.HasPrefix(u["login"].(string), "guest_login_") || u["full_name"] != "Guest G" {
		t.Fatalf("guest user %v", u)
	}
	// A guest has no password: signing in as it must fail.
	expectError(t, ts.do("POST", "/session", userBody(1, devKey, u["login"].(string), "anything1")), 401, "")
}

func signedBody(t *testing.T, fields map[string]string, secret string) string {
	t.Helper()
	p := authcore.Params(fields)
	v := url.Values{}
	for k, val := range p {
		v.Set(k, val)
	}
	v.Set("signature", authcore.Sign(p, secret, false))
	return v.Encode()
}

func TestLegacySignedSessionsAreVerifiedAndUsedOnce(t *testing.T) {
	ts := newTestServer(t)
	now := strconv.FormatInt(time.Now().Unix(), 10)
	fields := map[string]string{"application_id": "1", "auth_key": devKey, "nonce": "4242", "timestamp": now,
		"user[login]": "kate", "user[password]": "supersecret"}
	body := signedBody(t, fields, devSecret)
	res := ts.do("POST", "/session", body)
	if res.status != http.StatusCreated || res.body["session"].(map[string]any)["nonce"] != float64(4242) {
		t.Fatalf("signed session: %d %s", res.status, res.raw)
	}
	expectError(t, ts.do("POST", "/session", body), 422, "nonce")
	fields["nonce"] = "4243"
	expectError(t, ts.do("POST", "/session", signedBody(t, fields, "wrong secret")), 422, `["Unexpected signature"]`)
	fields["timestamp"] = strconv.FormatInt(time.Now().Add(-2*time.Hour).Unix(), 10)
	expectError(t, ts.do("POST", "/session", signedBody(t, fields, devSecret)), 422, "timestamp")
}

func TestRequireSignatureRefusesUnsignedSessions(t *testing.T) {
	ts := newTestServer(t, func(h *Handler) { h.Apps[0].RequireSignature = true })
	expectError(t, ts.do("POST", "/session", `{"application_id":1,"auth_key":"`+devKey+`"}`), 422, "signature")
	fields := map[string]string{"application_id": "1", "auth_key": devKey, "nonce": "1", "timestamp": strconv.FormatInt(time.Now().Unix(), 10)}
	if res := ts.do("POST", "/session", signedBody(t, fields, devSecret)); res.status != 201 {
		t.Fatalf("signed: %d %s", res.status, res.raw)
	}
}

func TestPreflightsAreAnsweredOrPassedWithoutAToken(t *testing.T) {
	ts := newTestServer(t)
	pre := []string{"Origin", "https://app.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "cb-token"}
	res := ts.do("OPTIONS", "/session.json", "", pre...)
	if res.status != http.StatusNoContent || !strings.Contains(res.header.Get("Access-Control-Allow-Headers"), "CB-Token") {
		t.Fatalf("preflight on /session: %d %v", res.status, res.header)
	}
	// cubeauth owns CORS on forwarded paths by default (TestForwardedCORS).
	if res := ts.do("OPTIONS", "/api", "", pre...); res.status != http.StatusNoContent || ts.reachedCount() != 0 {
		t.Fatalf("preflight on a forwarded path: %d, reached %d", res.status, ts.reachedCount())
	}
	ts = newTestServer(t, func(h *Handler) { h.ForwardedCORS = forwardedCORSBackend })
	if res := ts.do("OPTIONS", "/api", "", pre...); res.status != 200 || ts.reachedCount() != 1 {
		t.Fatalf("preflight on a forwarded path, forwarded_cors backend: %d, reached %d", res.status, ts.reachedCount())
	}
}

func TestClosedStoreMeans503AndNothingForwarded(t *testing.T) {
	ts := newTestServer(t)
	if err := ts.h.service.Store().Close(); err != nil {
		t.Fatal(err)
	}
	// A token the cache has never seen must be refused with 503.
	expectError(t, ts.do("GET", "/api", "", "CB-Token", strings.Repeat("ab", 32)), 503, "unavailable")
	expectError(t, ts.do("POST", "/session", userBody(1, devKey, "mia", "supersecret")), 503, "")
	if n := ts.reachedCount(); n != 0 {
		t.Fatalf("%d requests reached the backend with the store closed", n)
	}
}

func TestLongBodiesAndUnknownPathsGetClearErrors(t *testing.T) {
	ts := newTestServer(t)
	expectError(t, ts.do("POST", "/session", `{"x":"`+strings.Repeat("a", maxBodyBytes)+`"}`), 413, "too large")
	expectError(t, ts.do("GET", "/users/abc", ""), 404, "")
	expectError(t, ts.do("PATCH", "/session", "{}"), 405, "")
}

func TestSecretsComeFromEnvAndFilePlaceholders(t *testing.T) {
	secretFile := t.TempDir() + "/secret"
	if err := os.WriteFile(secretFile, []byte("file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CUBEAUTH_TEST_KEY", "env-key")
	ts := newTestServer(t, func(h *Handler) {
		h.Apps = []AppConfig{{ID: 7, AuthKey: "{env.CUBEAUTH_TEST_KEY}", AuthSecret: "{file." + secretFile + "}"}}
	})
	fields := map[string]string{"application_id": "7", "auth_key": "env-key", "nonce": "1", "timestamp": strconv.FormatInt(time.Now().Unix(), 10)}
	if res := ts.do("POST", "/session", signedBody(t, fields, "file-secret")); res.status != http.StatusCreated {
		t.Fatalf("signed with the file's secret: %d %s", res.status, res.raw)
	}
	fields["nonce"] = "2"
	expectError(t, ts.do("POST", "/session", signedBody(t, fields, "{file."+secretFile+"}")), 422, "Unexpected signature")
}

func TestTerminatedAnswersAreNeverCached(t *testing.T) {
	ts := newTestServer(t)
	created := ts.do("POST", "/session.json", userBody(1, devKey, "cache1", "supersecret"))
	token, _ := created.body["session"].(map[string]any)["token"].(string)
	for name, res := range map[string]response{
		"a new session":   created,
		"the session":     ts.do("GET", "/session.json", "", "CB-Token", token),
		"a signup":        ts.do("POST", "/users.json", `{"user":{"login":"cache2","password":"supersecret"}}`, "CB-AuthKey", devKey),
		"an expired one":  ts.do("GET", "/api", "", "CB-Token", strings.Repeat("ab", 32)),
		"a bad signature": ts.do("POST", "/session.json", `{"application_id":1,"auth_key":"`+devKey+`","nonce":1,"timestamp":1,"signature":"00"}`),
	} {
		if got := res.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s (%d): Cache-Control %q, want no-store", name, res.status, got)
		}
	}
}
