package operator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// adminCall sends one request to the admin routes the way Caddy's admin
// endpoint does, and renders an error the way it does: {"error": "..."}.
func adminCall(t *testing.T, ts *testServer, method, target, body string) response {
	t.Helper()
	target = withStore(target, ts.store)
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	admin := &AdminAPI{}
	if err := admin.Provision(caddy.Context{Context: context.Background()}); err != nil {
		t.Fatal(err)
	}
	routes := admin.Routes()
	if len(routes) != 1 || routes[0].Pattern != "/cubeauth/" {
		t.Fatalf("routes %+v, want one /cubeauth/ route", routes)
	}
	if err := routes[0].Handler.ServeHTTP(w, r); err != nil {
		var apiErr caddy.APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("%s %s: error %v is not a caddy.APIError", method, target, err)
		}
		w = httptest.NewRecorder()
		w.WriteHeader(apiErr.HTTPStatus)
		_ = json.NewEncoder(w).Encode(apiErr)
	}
	res := response{status: w.Code, header: w.Header(), raw: w.Body.String()}
	if w.Body.Len() > 0 && strings.HasPrefix(strings.TrimSpace(w.Body.String()), "{") {
		if err := json.Unmarshal(w.Body.Bytes(), &res.body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, target, w.Body.String())
		}
	}
	return res
}

// withStore names the test's store, so that tests running beside other
// handlers (and their stores) pick their own.
func withStore(target, key string) string {
	u, _ := url.Parse(target)
	q := u.Query()
	q.Set("store", key)
	u.RawQuery = q.Encode()
	return u.String()
}

func wantAdminStatus(t *testing.T, res response, status int, contains string) {
	t.Helper()
	if res.status != status {
		t.Fatalf("status %d, want %d: %s", res.status, status, res.raw)
	}
	if contains != "" && !strings.Contains(res.raw, contains) {
		t.Fatalf("body %s does not say %q", res.raw, contains)
	}
}

func TestAdminRoutesManageAppsAndRefusePinnedFields(t *testing.T) {
	ts := newTestServer(t)
	res := adminCall(t, ts, "GET", "/cubeauth/apps", "")
	wantAdminStatus(t, res, http.StatusOK, `"pinned":["auth_key","auth_secret","stage"]`)
	if strings.Contains(res.raw, devSecret) || !strings.Contains(res.raw, `"auth_secret_set":true`) {
		t.Fatalf("the auth secret is shown, or its presence is not: %s", res.raw)
	}

	res = adminCall(t, ts, "PATCH", "/cubeauth/apps/1", `{"stage":"production"}`)
	wantAdminStatus(t, res, http.StatusConflict, "stage is set in the server configuration")
	res = adminCall(t, ts, "PATCH", "/cubeauth/apps/1", `{"session_without_user":"deny"}`)
	wantAdminStatus(t, res, http.StatusOK, `"session_without_user":"deny"`)

	res = adminCall(t, ts, "POST", "/cubeauth/apps", `{"name":"runtime"}`)
	wantAdminStatus(t, res, http.StatusCreated, `"id":3`)
	res = adminCall(t, ts, "PATCH", "/cubeauth/apps/3", `{"stage":"production","session_without_user":"allow"}`)
	wantAdminStatus(t, res, http.StatusOK, `"warnings":["production app allows session creation`)
	res = adminCall(t, ts, "PATCH", "/cubeauth/apps/3", `{"session_without_user":null}`)
	wantAdminStatus(t, res, http.StatusOK, `"session_without_user":null,"session_without_user_effective":"deny"`)
	res = adminCall(t, ts, "PATCH", "/cubeauth/apps/3", `{"auth_secret":"s3cr3t-value"}`)
	wantAdminStatus(t, res, http.StatusOK, `"auth_secret_set":true`)
	if strings.Contains(res.raw, "s3cr3t-value") {
		t.Fatal("the auth secret is echoed")
	}
	res = adminCall(t, ts, "POST", "/cubeauth/apps/3/rotate_key", `{"grace":"1h"}`)
	wantAdminStatus(t, res, http.StatusOK, `"previous_auth_key_expires_at"`)
	res = adminCall(t, ts, "DELETE", "/cubeauth/apps/3", "")
	wantAdminStatus(t, res, http.StatusNoContent, "")
	res = adminCall(t, ts, "GET", "/cubeauth/apps/3", "")
	wantAdminStatus(t, res, http.StatusNotFound, `"error":"app not found"`)
}

func TestAdminRoutesAnswerMistakesWithClearErrors(t *testing.T) {
	ts := newTestServer(t)
	for _, tt := range []struct {
		method, target, body string
		status               int
		says                 string
	}{
		{"PUT", "/cubeauth/apps/1", `{}`, http.StatusMethodNotAllowed, "use GET or PATCH or DELETE"},
		{"PATCH", "/cubeauth/apps/1", `{"stage":"staging"}`, http.StatusUnprocessableEntity, "stage must be development or production"},
		{"PATCH", "/cubeauth/apps/1", `{"auth_key":"x"}`, http.StatusBadRequest, `unknown field \"auth_key\"`},
		{"PATCH", "/cubeauth/apps/1", `{"stage":1}`, http.StatusBadRequest, "wrong type"},
		{"PATCH", "/cubeauth/apps/1", `{"auth_secret": "oops`, http.StatusBadRequest, "body must be a JSON object"},
		{"PATCH", "/cubeauth/apps/1", ``, http.StatusBadRequest, "a JSON object body is required"},
		{"POST", "/cubeauth/apps/2/rotate_key", `{"grace":"soon"}`, http.StatusUnprocessableEntity, "grace must be a duration"},
		{"POST", "/cubeauth/apps/2/rotate_key", `{"grace":"24h"}`, http.StatusConflict, "auth_key is set in the server configuration"},
		{"DELETE", "/cubeauth/apps/2", ``, http.StatusConflict, "declared in the server configuration"},
		{"GET", "/cubeauth/apps/abc", ``, http.StatusNotFound, "is not an ID"},
		{"GET", "/cubeauth/apps/9/users", ``, http.StatusNotFound, "app not found"},
		{"GET", "/cubeauth/apps/1/users?limit=5000", ``, http.StatusBadRequest, "limit must be between 1 and 500"},
		{"GET", "/cubeauth/apps/1/users/77", ``, http.StatusNotFound, "user not found"},
		{"DELETE", "/cubeauth/apps/1/sessions/77", ``, http.StatusNotFound, "session not found"},
		{"GET", "/cubeauth/nothing", ``, http.StatusNotFound, "not found"},
	} {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			wantAdminStatus(t, adminCall(t, ts, tt.method, tt.target, tt.body), tt.status, tt.says)
		})
	}
}

func TestAdminRoutesListUsersAndSessionsWithoutSecrets(t *testing.T) {
	ts := newTestServer(t)
	s := ts.session(t, `{"application_id":1,"auth_key":"`+devKey+`","user":{"login":"alice","password":"supersecret"}}`)
	token := s["token"].(string)
	userID := int64(s["user_id"].(float64))

	res := adminCall(t, ts, "GET", "/cubeauth/apps/1/users?search=ALI", "")
	wantAdminStatus(t, res, http.StatusOK, `"login":"alice"`)
	if strings.Contains(res.raw, "password") || strings.Contains(res.raw, "argon2") {
		t.Fatalf("the user list shows password material: %s", res.raw)
	}
	res = adminCall(t, ts, "GET", "/cubeauth/apps/1/sessions", "")
	wantAdminStatus(t, res, http.StatusOK, `"type":"user"`)
	if strings.Contains(res.raw, token) {
		t.Fatal("the session list shows a token")
	}
	sessions := res.body["sessions"].([]any)
	sessionID := int64(sessions[0].(map[string]any)["id"].(float64))

	res = adminCall(t, ts, "DELETE", "/cubeauth/apps/1/sessions/"+itoa(sessionID), "")
	wantAdminStatus(t, res, http.StatusNoContent, "")
	res = ts.do("GET", "/whoami", "", "CB-Token", token)
	if res.status != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d, want 401", res.status)
	}
	res = adminCall(t, ts, "POST", "/cubeauth/apps/1/users/"+itoa(userID)+"/end_sessions", "")
	wantAdminStatus(t, res, http.StatusOK, `"ended":0`)
	res = adminCall(t, ts, "DELETE", "/cubeauth/apps/1/users/"+itoa(userID), "")
	wantAdminStatus(t, res, http.StatusNoContent, "")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestAdminRegistryNeedsAStoreSelectorOnlyWithSeveralStores(t *testing.T) {
	if _, err := lookupService(""); err == nil || !strings.Contains(err.Error(), "no cubeauth handler is running") {
		t.Fatalf("no handler: %v", err)
	}
	dir := t.TempDir()
	first := badgerHandler(dir)
	startHandler(t, first)
	one, err := lookupService("")
	if err != nil {
		t.Fatalf("one store: %v", err)
	}
	startHandler(t, badgerHandler(dir)) // a reload's new handler
	if newer, _ := lookupService(""); newer == one {
		t.Fatal("the newest handler of a store is not preferred")
	}
	if got := runningStores(); len(got) != 1 || got[0].Handlers != 2 || got[0].Name != "badger:"+dir {
		t.Fatalf("stores %+v: want badger:%s with two handlers", got, dir)
	}
	other := t.TempDir()
	startHandler(t, badgerHandler(other))
	if _, err := lookupService(""); err == nil || !strings.Contains(err.Error(), "?store=") {
		t.Fatalf("two stores without a selector: %v", err)
	}
	if got, err := lookupService("badger:" + other); err != nil || got == nil || got == one {
		t.Fatalf("selecting by name: %v, %v", got, err)
	}
	if _, err := lookupService("badger:/nowhere"); err == nil || !strings.Contains(err.Error(), "no cubeauth store named") {
		t.Fatalf("an unknown store: %v", err)
	}
}

// dashboardCall sends a request through the cubeauth_dashboard handler, as
// user (the basic_auth user, "" for none) with the given headers.
func dashboardCall(t *testing.T, d *Dashboard, user, method, target, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	return dashboardCallAs(t, d, map[string]any{"http.auth.user.id": user}, method, target, body, headers...)
}

// dashboardCallAs is dashboardCall with the placeholders authentication set.
func dashboardCallAs(t *testing.T, d *Dashboard, auth map[string]any, method, target, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Host = "dash.example"
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	repl := caddy.NewReplacer()
	for k, v := range auth {
		if v != "" {
			repl.Set(k, v)
		}
	}
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	w := httptest.NewRecorder()
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusTeapot)
		return nil
	})
	if err := d.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestDashboardHandlerServesOperatorsBehindAuthenticationFromItsOwnOrigin(t *testing.T) {
	ts := newTestServer(t)
	d := &Dashboard{api: newOperatorAPI(zap.NewNop())}
	apps := withStore("/cubeauth/apps", ts.store)
	patch := withStore("/cubeauth/apps/1", ts.store)
	for _, tt := range []struct {
		name                 string
		user, method, target string
		headers              []string
		status               int
	}{
		{"an anonymous operator", "", "GET", apps, nil, http.StatusForbidden},
		{"an authenticated operator", "ops", "GET", apps, nil, http.StatusOK},
		{"an operator's page", "ops", "GET", "/cubeauth/ui/", nil, http.StatusOK},
		{"paths outside /cubeauth/", "", "GET", "/elsewhere", nil, http.StatusTeapot},
		{"a write from the dashboard's origin", "ops", "PATCH", patch,
			[]string{"Origin", "https://dash.example", "Sec-Fetch-Site", "same-origin"}, http.StatusOK},
		{"a write from a tool such as curl", "ops", "PATCH", patch, nil, http.StatusOK},
		{"a cross-site write riding on cached credentials", "ops", "PATCH", patch,
			[]string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"a write with a foreign Origin", "ops", "PATCH", patch, []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"a cross-site read", "ops", "GET", apps, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"a browser write without Origin", "ops", "PATCH", patch, []string{"Sec-Fetch-Site", "same-origin"}, http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := ""
			if tt.method == "PATCH" {
				body = `{"name":"renamed"}`
			}
			w := dashboardCall(t, d, tt.user, tt.method, tt.target, body, tt.headers...)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status == http.StatusForbidden && !strings.Contains(w.Body.String(), `"error"`) {
				t.Fatalf("a refusal without a JSON error: %s", w.Body)
			}
		})
	}
	// Behind other authentication (mutual TLS, a private network), the
	// operator may allow requests no handler authenticated.
	open := &Dashboard{AllowUnauthenticated: true, api: d.api}
	if w := dashboardCall(t, open, "", "GET", apps, ""); w.Code != http.StatusOK {
		t.Fatalf("allow_unauthenticated: %d", w.Code)
	}
	// An end user that cubeauth itself authenticated is never an operator.
	endUser := map[string]any{"http.auth.user.id": "42", "http.auth.user.app_id": "1"}
	if w := dashboardCallAs(t, open, endUser, "GET", apps, ""); w.Code != http.StatusForbidden {
		t.Fatalf("an app's end user: %d, want 403", w.Code)
	}
}

func TestDashboardAssetsAreEmbeddedWithAStrictContentSecurityPolicy(t *testing.T) {
	for _, name := range []string{"", "index.html", "app.js", "style.css"} {
		r := httptest.NewRequest("GET", "/cubeauth/ui/"+name, nil)
		w := httptest.NewRecorder()
		if err := serveDashboardAsset(w, r, "/"+name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if w.Code != http.StatusOK || w.Body.Len() == 0 {
			t.Fatalf("%s: %d, %d bytes", name, w.Code, w.Body.Len())
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") ||
			strings.Contains(csp, "unsafe-inline") {
			t.Fatalf("%s: CSP %q", name, csp)
		}
		etag := w.Header().Get("ETag")
		r.Header.Set("If-None-Match", etag)
		w = httptest.NewRecorder()
		_ = serveDashboardAsset(w, r, "/"+name)
		if w.Code != http.StatusNotModified {
			t.Fatalf("%s with its ETag: %d, want 304", name, w.Code)
		}
	}
	w := httptest.NewRecorder()
	_ = serveDashboardAsset(w, httptest.NewRequest("GET", "/cubeauth/ui", nil), "")
	if w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "ui/" {
		t.Fatalf("/cubeauth/ui: %d to %q, want a relative redirect to ui/", w.Code, w.Header().Get("Location"))
	}
	if err := serveDashboardAsset(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil), "/../module.go"); err == nil {
		t.Fatal("a file outside the dashboard is served")
	}
}
