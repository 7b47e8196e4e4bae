package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/internal/testcaddy"
)

// The operator tests (admin API, CLI, dashboard) run a config in which app 1
// pins only its auth key, so its stage and permission are managed at
// runtime, and app 2 pins its name, key and stage. A second site serves the
// dashboard behind basic_auth.
const operatorCaddyfileTemplate = `{GLOBALS}
http://127.0.0.1:{PORT} {
	cubeauth {
		storage badger {DIR}/data
		argon2 64 1
		app 1 {
			auth_key 6f1c2b8e-0d4a-4c55-9a57-2a3c4f1e9b10
		}
		app 2 {
			name "Configured production"
			auth_key 0b7f5a2c-3e1d-4f6a-8b9c-1d2e3f4a5b6c
			stage production
		}
	}
	reverse_proxy 127.0.0.1:{BACKEND}
}
http://127.0.0.1:{BACKEND} {
	header Content-Type application/json
	respond ` + "`" + `{"user_id":"{header.X-Cube-User-Id}","app_id":"{header.X-Cube-App-Id}","login":"{header.X-Cube-User-Login}","session_type":"{header.X-Cube-Session-Type}","method":"{method}"}` + "`" + `
}
http://127.0.0.1:{DASH} {
	basic_auth {
		ops {HASH}
	}
	cubeauth_dashboard
}
`

// Operator credentials of the dashboard site.
const (
	dashUser     = "ops"
	dashPassword = "dashboard-test-password"
)

// operatorServer is a running Caddy with cubeauth, its admin API, and the
// dashboard site.
type operatorServer struct {
	*server
	// AdminURL is Caddy's admin endpoint; DashURL the dashboard site.
	AdminURL, DashURL string
	// AdminAddr is the admin endpoint as `caddy --address` takes it.
	AdminAddr string
	http      *http.Client
}

func startOperatorServer(t *testing.T) *operatorServer {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(dashPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{dir: t.TempDir()}
	s.start(t, func(p *testcaddy.Ports) string {
		s.backend = p.Port("backend")
		return strings.NewReplacer(
			"{GLOBALS}", testcaddy.Globals(s.admin),
			"{PORT}", strconv.Itoa(s.port),
			"{BACKEND}", strconv.Itoa(s.backend),
			"{DASH}", strconv.Itoa(p.Port("dashboard")),
			"{DIR}", s.dir,
			"{HASH}", string(hash),
		).Replace(operatorCaddyfileTemplate)
	})
	return &operatorServer{
		server:    s,
		AdminURL:  s.Caddy.AdminURL,
		AdminAddr: fmt.Sprintf("127.0.0.1:%d", s.admin),
		DashURL:   fmt.Sprintf("http://127.0.0.1:%d", s.Caddy.Port("dashboard")),
		http:      &http.Client{Timeout: 15 * time.Second},
	}
}

// admin sends a request to the admin API's /cubeauth/ routes, as a tool
// such as curl would (no Origin header).
func (s *operatorServer) admin(t *testing.T, method, path string, body any) reply {
	t.Helper()
	return s.send(t, s.AdminURL, method, path, body)
}

func (s *operatorServer) send(t *testing.T, base, method, path string, body any, header ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{Method: method, Path: path, Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// adminApp is an app as the admin API shows it.
type adminApp struct {
	ID                          int64      `json:"id"`
	Name                        string     `json:"name"`
	AuthKey                     string     `json:"auth_key"`
	AuthSecretSet               bool       `json:"auth_secret_set"`
	PreviousAuthKeyExpiresAt    *time.Time `json:"previous_auth_key_expires_at"`
	Stage                       string     `json:"stage"`
	SessionWithoutUser          *string    `json:"session_without_user"`
	SessionWithoutUserEffective string     `json:"session_without_user_effective"`
	Pinned                      []string   `json:"pinned"`
	Warnings                    []string   `json:"warnings"`
}

func decodeApp(t *testing.T, r reply) adminApp {
	t.Helper()
	var v struct {
		App *adminApp `json:"app"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil || v.App == nil {
		t.Fatalf("%s: want {\"app\":{...}} (%v)", r, err)
	}
	return *v.App
}

// adminSession is a session as the admin API shows it.
type adminSession struct {
	ID          int64  `json:"id"`
	UserID      *int64 `json:"user_id"`
	Type        string `json:"type"`
	Fingerprint string `json:"fingerprint"`
}

func (s *operatorServer) sessions(t *testing.T, appID int64, query string) []adminSession {
	t.Helper()
	r := s.admin(t, "GET", fmt.Sprintf("/cubeauth/apps/%d/sessions%s", appID, query), nil).want(t, http.StatusOK)
	var v struct {
		Sessions []adminSession `json:"sessions"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("%s: %v", r, err)
	}
	return v.Sessions
}

// sessionOf finds the listed session of a token by its fingerprint, the
// only name of a token operators see.
func sessionOf(t *testing.T, list []adminSession, token string) adminSession {
	t.Helper()
	fp := authcore.Fingerprint(authcore.HashToken(token))
	for _, s := range list {
		if s.Fingerprint == fp {
			return s
		}
	}
	t.Fatalf("no listed session has the token's fingerprint %s", fp)
	return adminSession{}
}

// userSession creates a user session on app (creating the user where the app
// allows it) and returns the reply.
func userSession(c *client, appID int64, authKey, login string) reply {
	c.t.Helper()
	return c.postJSON("/session.json", map[string]any{
		"application_id": appID, "auth_key": authKey,
		"user": map[string]any{"login": login, "password": "supersecret"},
	})
}

// wantTokenAccepted and wantTokenRefused check a token on the proxied path.
func wantTokenAccepted(t *testing.T, c *client, token string) {
	t.Helper()
	c.do("GET", whoamiPath, nil, "CB-Token", token).want(t, http.StatusOK)
}

func wantTokenRefused(t *testing.T, c *client, token string) {
	t.Helper()
	c.do("GET", whoamiPath, nil, "CB-Token", token).want(t, http.StatusUnauthorized).wantBody(t, expiredSessionBody)
}

func TestAdminAPIChangesApplyToTheNextRequestWithoutDroppingSessions(t *testing.T) {
	t.Parallel()
	srv := startOperatorServer(t)
	c := newClient(t, srv.server)
	suffix := uniqueSuffix(t)
	alice := decodeSession(t, userSession(c, devAppID, devAuthKey, "alice"+suffix).want(t, http.StatusCreated))

	app := decodeApp(t, srv.admin(t, "PATCH", "/cubeauth/apps/1", map[string]any{"stage": "production"}).want(t, http.StatusOK))
	if app.Stage != "production" || app.SessionWithoutUserEffective != "deny" || len(app.Warnings) != 0 {
		t.Fatalf("after the switch: %+v", app)
	}
	// The very next request: an unknown login is no longer created...
	userSession(c, devAppID, devAuthKey, "nobody"+suffix).want(t, http.StatusNotFound).wantBody(t, `{"errors":["User not found"]}`)
	// ...and the session that existed goes on.
	wantTokenAccepted(t, c, alice.Token)

	app = decodeApp(t, srv.admin(t, "PATCH", "/cubeauth/apps/1", map[string]any{"session_without_user": "allow"}).want(t, http.StatusOK))
	if len(app.Warnings) != 1 || !strings.Contains(app.Warnings[0], "production") {
		t.Fatalf("production with allow: warnings %q", app.Warnings)
	}
	userSession(c, devAppID, devAuthKey, "created"+suffix).want(t, http.StatusCreated)

	app = decodeApp(t, srv.admin(t, "PATCH", "/cubeauth/apps/1", map[string]any{"session_without_user": nil}).want(t, http.StatusOK))
	if app.SessionWithoutUser != nil || app.SessionWithoutUserEffective != "deny" {
		t.Fatalf("back to the stage default: %+v", app)
	}
	userSession(c, devAppID, devAuthKey, "again"+suffix).want(t, http.StatusNotFound)
	wantTokenAccepted(t, c, alice.Token)

	// The change survives a restart: it is in the store, not in memory.
	srv.Caddy.Restart(t)
	userSession(c, devAppID, devAuthKey, "afterrestart"+suffix).want(t, http.StatusNotFound)
	wantTokenAccepted(t, c, alice.Token)
}

func TestAdminAPIRefusesChangesToFieldsPinnedByTheConfig(t *testing.T) {
	t.Parallel()
	srv := startOperatorServer(t)
	app := decodeApp(t, srv.admin(t, "GET", "/cubeauth/apps/2", nil).want(t, http.StatusOK))
	if strings.Join(app.Pinned, ",") != "name,auth_key,stage" {
		t.Fatalf("app 2 pinned %q, want name,auth_key,stage", app.Pinned)
	}
	for _, tt := range []struct {
		method, path string
		body         any
		says         string
	}{
		{"PATCH", "/cubeauth/apps/2", map[string]any{"stage": "development"}, "stage is set in the server configuration"},
		{"PATCH", "/cubeauth/apps/2", map[string]any{"name": "other"}, "name is set in the server configuration"},
		{"POST", "/cubeauth/apps/2/rotate_key", map[string]any{"grace": "1h"}, "auth_key is set in the server configuration"},
		{"POST", "/cubeauth/apps/1/rotate_key", map[string]any{"grace": "1h"}, "auth_key is set in the server configuration"},
		{"DELETE", "/cubeauth/apps/2", nil, "declared in the server configuration"},
	} {
		r := srv.admin(t, tt.method, tt.path, tt.body).want(t, http.StatusConflict)
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(r.Body, &e) != nil || !strings.Contains(e.Error, tt.says) {
			t.Fatalf("%s: want {\"error\": \"...%s...\"}", r, tt.says)
		}
	}
	// Setting a pinned field to the value it has is not a change; the
	// runtime-managed permission beside it may change.
	srv.admin(t, "PATCH", "/cubeauth/apps/2", map[string]any{"stage": "production", "session_without_user": "deny"}).want(t, http.StatusOK)
	c := newClient(t, srv.server)
	userSession(c, prodAppID, prodAuthKey, "nobody"+uniqueSuffix(t)).want(t, http.StatusNotFound)
}

func TestAdminAPICreatesAppsAndRotatesKeysWithAGracePeriod(t *testing.T) {
	t.Parallel()
	srv := startOperatorServer(t)
	c := newClient(t, srv.server)
	app := decodeApp(t, srv.admin(t, "POST", "/cubeauth/apps", map[string]any{"name": "Chat"}).want(t, http.StatusCreated))
	if app.ID != 3 || app.Stage != "development" || len(app.AuthKey) != 36 || app.AuthKey[14] != '4' {
		t.Fatalf("new app %+v: want ID 3 in development with a UUID v4 key", app)
	}
	appSession := func(key string) reply {
		return c.postJSON("/session.json", map[string]any{"application_id": app.ID, "auth_key": key})
	}
	appSession(app.AuthKey).want(t, http.StatusCreated)

	rotated := decodeApp(t, srv.admin(t, "POST", fmt.Sprintf("/cubeauth/apps/%d/rotate_key", app.ID), map[string]any{"grace": "3s"}).want(t, http.StatusOK))
	if rotated.AuthKey == app.AuthKey || rotated.PreviousAuthKeyExpiresAt == nil {
		t.Fatalf("rotated %+v", rotated)
	}
	appSession(rotated.AuthKey).want(t, http.StatusCreated)
	appSession(app.AuthKey).want(t, http.StatusCreated) // in its grace period
	time.Sleep(time.Until(*rotated.PreviousAuthKeyExpiresAt) + 100*time.Millisecond)
	appSession(app.AuthKey).want(t, http.StatusUnauthorized)
	appSession(rotated.AuthKey).want(t, http.StatusCreated)

	// Without grace the old key stops on the next request.
	again := decodeApp(t, srv.admin(t, "POST", fmt.Sprintf("/cubeauth/apps/%d/rotate_key", app.ID), map[string]any{"grace": "0"}).want(t, http.StatusOK))
	appSession(rotated.AuthKey).want(t, http.StatusUnauthorized)
	appSession(again.AuthKey).want(t, http.StatusCreated)

	srv.admin(t, "DELETE", fmt.Sprintf("/cubeauth/apps/%d", app.ID), nil).want(t, http.StatusNoContent)
	srv.admin(t, "GET", fmt.Sprintf("/cubeauth/apps/%d", app.ID), nil).want(t, http.StatusNotFound)
	appSession(again.AuthKey).want(t, http.StatusUnauthorized)
}

func TestAdminAPIListsAndRevokesUsersAndSessions(t *testing.T) {
	t.Parallel()
	srv := startOperatorServer(t)
	c := newClient(t, srv.server)
	suffix := uniqueSuffix(t)
	alice := decodeSession(t, userSession(c, devAppID, devAuthKey, "alice"+suffix).want(t, http.StatusCreated))
	bob1 := decodeSession(t, userSession(c, devAppID, devAuthKey, "bob"+suffix).want(t, http.StatusCreated))
	bob2 := decodeSession(t, userSession(c, devAppID, devAuthKey, "bob"+suffix).want(t, http.StatusCreated))
	carol := decodeSession(t, userSession(c, devAppID, devAuthKey, "carol"+suffix).want(t, http.StatusCreated))
	for _, s := range []session{alice, bob1, bob2, carol} {
		wantTokenAccepted(t, c, s.Token) // cached in the handler from now on
	}

	r := srv.admin(t, "GET", "/cubeauth/apps/1/users?search=BOB"+suffix+"&limit=10", nil).want(t, http.StatusOK)
	var users struct {
		Users []struct {
			ID    int64  `json:"id"`
			Login string `json:"login"`
		} `json:"users"`
		Total int `json:"total"`
	}
	if err := json.Unmarshal(r.Body, &users); err != nil || users.Total != 1 || users.Users[0].Login != "bob"+suffix {
		t.Fatalf("%s: want bob alone", r)
	}
	if bytes.Contains(r.Body, []byte("password")) || bytes.Contains(r.Body, []byte("argon2")) {
		t.Fatalf("%s: password material in the user list", r)
	}
	srv.admin(t, "GET", "/cubeauth/apps/1/users?offset=1&limit=1", nil).want(t, http.StatusOK)
	r = srv.admin(t, "GET", fmt.Sprintf("/cubeauth/apps/1/users/%d", *bob1.UserID), nil).want(t, http.StatusOK)
	if !bytes.Contains(r.Body, []byte(`"sessions":2`)) {
		t.Fatalf("%s: want bob's 2 sessions counted", r)
	}

	list := srv.sessions(t, devAppID, "")
	for _, s := range []session{alice, bob1, bob2, carol} {
		sessionOf(t, list, s.Token)
	}
	raw := srv.admin(t, "GET", "/cubeauth/apps/1/sessions", nil).Body
	for _, s := range []session{alice, bob1, bob2, carol} {
		if bytes.Contains(raw, []byte(s.Token)) {
			t.Fatal("the session list shows a token")
		}
	}
	if got := srv.sessions(t, devAppID, fmt.Sprintf("?user_id=%d", *bob1.UserID)); len(got) != 2 {
		t.Fatalf("bob's sessions: %d, want 2", len(got))
	}

	// Revoke one session: refused on the very next request, others go on.
	srv.admin(t, "DELETE", fmt.Sprintf("/cubeauth/apps/1/sessions/%d", sessionOf(t, list, alice.Token).ID), nil).want(t, http.StatusNoContent)
	wantTokenRefused(t, c, alice.Token)
	wantTokenAccepted(t, c, bob1.Token)

	// End every session of a user: the user remains and may log in again.
	r = srv.admin(t, "POST", fmt.Sprintf("/cubeauth/apps/1/users/%d/end_sessions", *bob1.UserID), nil).want(t, http.StatusOK)
	if !bytes.Contains(r.Body, []byte(`"ended":2`)) {
		t.Fatalf("%s: want 2 ended", r)
	}
	wantTokenRefused(t, c, bob1.Token)
	wantTokenRefused(t, c, bob2.Token)
	userSession(c, devAppID, devAuthKey, "bob"+suffix).want(t, http.StatusCreated)

	// Delete a user: its sessions end with it.
	srv.admin(t, "DELETE", fmt.Sprintf("/cubeauth/apps/1/users/%d", *carol.UserID), nil).want(t, http.StatusNoContent)
	wantTokenRefused(t, c, carol.Token)
	srv.admin(t, "GET", fmt.Sprintf("/cubeauth/apps/1/users/%d", *carol.UserID), nil).want(t, http.StatusNotFound)
}

func TestAdminAPIListsItsStoreAndAnswersErrorsAsJSON(t *testing.T) {
	t.Parallel()
	srv := startOperatorServer(t)
	r := srv.admin(t, "GET", "/cubeauth/stores", nil).want(t, http.StatusOK)
	var v struct {
		Stores []struct{ Name string } `json:"stores"`
	}
	if json.Unmarshal(r.Body, &v) != nil || len(v.Stores) != 1 || !strings.HasPrefix(v.Stores[0].Name, "badger:") {
		t.Fatalf("%s: want the one badger store", r)
	}
	srv.admin(t, "GET", "/cubeauth/apps?store="+v.Stores[0].Name, nil).want(t, http.StatusOK)
	srv.admin(t, "GET", "/cubeauth/apps?store=badger:/elsewhere", nil).want(t, http.StatusBadRequest)

	for _, tt := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", "/cubeauth/apps/99", nil, http.StatusNotFound},
		{"PUT", "/cubeauth/apps/1", map[string]any{}, http.StatusMethodNotAllowed},
		{"PATCH", "/cubeauth/apps/1", map[string]any{"stage": "staging"}, http.StatusUnprocessableEntity},
		{"PATCH", "/cubeauth/apps/1", map[string]any{"auth_key": "mine"}, http.StatusBadRequest},
	} {
		r := srv.admin(t, tt.method, tt.path, tt.body).want(t, tt.status)
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(r.Body, &e) != nil || e.Error == "" {
			t.Fatalf("%s: want {\"error\": \"...\"}", r)
		}
	}
}

func TestAdminEndpointServesTheDashboardWithinCaddysOriginChecks(t *testing.T) {
	t.Parallel()
	srv := startOperatorServer(t)
	r := srv.admin(t, "GET", "/cubeauth/ui/", nil).want(t, http.StatusOK)
	if !bytes.Contains(r.Body, []byte("cubeauth dashboard")) || !strings.Contains(r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("%s: want the dashboard page with its CSP", r)
	}
	// A browser's own requests from the page carry its origin and pass...
	page := srv.AdminURL + "/cubeauth/ui/"
	srv.send(t, srv.AdminURL, "GET", "/cubeauth/apps", nil, "Sec-Fetch-Mode", "cors", "Referer", page).want(t, http.StatusOK)
	srv.send(t, srv.AdminURL, "PATCH", "/cubeauth/apps/1", map[string]any{"name": "from the page"},
		"Sec-Fetch-Mode", "cors", "Origin", srv.AdminURL).want(t, http.StatusOK)
	// ...another site's do not...
	srv.send(t, srv.AdminURL, "PATCH", "/cubeauth/apps/1", map[string]any{"name": "evil"},
		"Sec-Fetch-Mode", "cors", "Origin", "http://evil.example").want(t, http.StatusForbidden)
	// ...and neither does a bare navigation (a typed URL carries no Origin
	// or Referer): Caddy refuses it before any module sees it, which is why
	// browsers use the cubeauth_dashboard site handler (README, Dashboard).
	srv.send(t, srv.AdminURL, "GET", "/cubeauth/ui/", nil, "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "none").want(t, http.StatusForbidden)
}

func TestDashboardSiteServesOperatorsBehindBasicAuthAndRefusesCrossSiteWrites(t *testing.T) {
	t.Parallel()
	srv := startOperatorServer(t)
	auth := "Basic " + basicAuth(dashUser, dashPassword)
	srv.send(t, srv.DashURL, "GET", "/cubeauth/apps", nil).want(t, http.StatusUnauthorized)
	srv.send(t, srv.DashURL, "GET", "/cubeauth/apps", nil, "Authorization", "Basic "+basicAuth(dashUser, "wrong")).want(t, http.StatusUnauthorized)
	srv.send(t, srv.DashURL, "GET", "/cubeauth/ui/", nil, "Authorization", auth).want(t, http.StatusOK)
	srv.send(t, srv.DashURL, "GET", "/cubeauth/apps", nil, "Authorization", auth).want(t, http.StatusOK)
	srv.send(t, srv.DashURL, "PATCH", "/cubeauth/apps/1", map[string]any{"stage": "production"},
		"Authorization", auth, "Origin", srv.DashURL, "Sec-Fetch-Site", "same-origin").want(t, http.StatusOK)
	srv.send(t, srv.DashURL, "PATCH", "/cubeauth/apps/1", map[string]any{"stage": "development"},
		"Authorization", auth, "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site").want(t, http.StatusForbidden)
	app := decodeApp(t, srv.admin(t, "GET", "/cubeauth/apps/1", nil))
	if app.Stage != "production" {
		t.Fatalf("stage %q: the cross-site write went through, or the same-origin one did not", app.Stage)
	}
}

func basicAuth(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}
