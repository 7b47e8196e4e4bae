package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/authcore"
)

// playwrightVersion and axeVersion are what e2e/dashboard/package.json pins.
const (
	playwrightVersion = "1.65.1"
	axeVersion        = "4.14.1"
)

// envScreenshots names a directory (relative to the repository root, or
// absolute) where TestDashboard saves a screenshot of each main page, e.g.
// CUBEAUTH_SCREENSHOTS=docs go test ./e2e/ -run Dashboard
const envScreenshots = "CUBEAUTH_SCREENSHOTS"

// TestDashboardInARealBrowserChangesApplyToTheNextRequest drives the
// dashboard in headless Chromium (e2e/dashboard/dashboard.js): the page
// switches app 1 to production, ends and revokes sessions, deletes a user
// and creates an app; then the API shows each change took effect on the
// very next request, while the sessions the page did not touch go on.
func TestDashboardInARealBrowserChangesApplyToTheNextRequest(t *testing.T) {
	t.Parallel()
	srv := startOperatorServer(t)
	c := newClient(t, srv.server)
	suffix := uniqueSuffix(t)
	alice := decodeSession(t, userSession(c, devAppID, devAuthKey, "alice"+suffix).want(t, http.StatusCreated))
	bob := decodeSession(t, userSession(c, devAppID, devAuthKey, "bob"+suffix).want(t, http.StatusCreated))
	carol := decodeSession(t, userSession(c, devAppID, devAuthKey, "carol"+suffix).want(t, http.StatusCreated))
	dave := decodeSession(t, userSession(c, devAppID, devAuthKey, "dave"+suffix).want(t, http.StatusCreated))
	for _, s := range []session{alice, bob, carol, dave} {
		wantTokenAccepted(t, c, s.Token)
	}

	runBrowser(t, "dashboard.js", map[string]string{
		"DASH_URL":           srv.DashURL,
		"DASH_USER":          dashUser,
		"DASH_PASSWORD":      dashPassword,
		"ADMIN_URL":          srv.AdminURL,
		"APP_ID":             fmt.Sprint(devAppID),
		"AUTH_KEY":           devAuthKey,
		"PINNED_APP_ID":      fmt.Sprint(prodAppID),
		"REVOKE_FINGERPRINT": authcore.Fingerprint(authcore.HashToken(alice.Token)),
		"END_SESSIONS_LOGIN": "bob" + suffix,
		"DELETE_LOGIN":       "carol" + suffix,
		"STORE_LABEL":        "/var/lib/cubeauth",
	})

	// The page switched app 1 to production: a login that does not exist is
	// refused, as ConnectyCube does...
	userSession(c, devAppID, devAuthKey, "nobody"+suffix).want(t, http.StatusNotFound).wantBody(t, `{"errors":["User not found"]}`)
	// ...without dropping the sessions it did not touch.
	wantTokenAccepted(t, c, dave.Token)
	// The session revoked in the page is refused.
	wantTokenRefused(t, c, alice.Token)
	// The sessions of the user whose sessions the page ended, and of the
	// user it deleted, are refused too.
	wantTokenRefused(t, c, bob.Token)
	wantTokenRefused(t, c, carol.Token)
	srv.admin(t, "GET", fmt.Sprintf("/cubeauth/apps/1/users/%d", *bob.UserID), nil).want(t, http.StatusOK)
	srv.admin(t, "GET", fmt.Sprintf("/cubeauth/apps/1/users/%d", *carol.UserID), nil).want(t, http.StatusNotFound)

	app := decodeApp(t, srv.admin(t, "GET", "/cubeauth/apps/1", nil).want(t, http.StatusOK))
	if app.Stage != "production" || app.SessionWithoutUser != nil || len(app.Warnings) != 0 {
		t.Fatalf("app 1 after the page: %+v, want production following the stage, no warning", app)
	}
	// The app created on the admin endpoint's page exists and works.
	r := srv.admin(t, "GET", "/cubeauth/apps", nil).want(t, http.StatusOK)
	var list struct{ Apps []adminApp }
	if err := json.Unmarshal(r.Body, &list); err != nil {
		t.Fatal(err)
	}
	var created *adminApp
	for i, a := range list.Apps {
		if a.Name == "Created in the admin UI" {
			created = &list.Apps[i]
		}
	}
	if created == nil || created.Stage != "production" {
		t.Fatalf("%s: want the app created in the admin endpoint's page, in production", r)
	}
	c.postJSON("/session.json", map[string]any{"application_id": created.ID, "auth_key": created.AuthKey}).want(t, http.StatusCreated)
}

// runBrowser runs a playwright-core script of e2e/dashboard in headless
// Chromium with env added to the environment; CUBEAUTH_SCREENSHOTS is passed
// on as SCREENSHOTS (an absolute directory). It skips the test when node or
// Chromium is missing.
func runBrowser(t *testing.T, script string, env map[string]string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: the dashboard tests drive Chromium with playwright-core under Node 20")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if _, statErr := os.Stat("/usr/bin/chromium"); statErr != nil {
			t.Skip("chromium is not installed (apt-get install -y chromium): the dashboard tests need a real browser")
		}
		chromium = "/usr/bin/chromium"
	}
	dir, err := filepath.Abs("dashboard")
	if err != nil {
		t.Fatal(err)
	}
	installNodePackages(t, dir, map[string]string{"playwright-core": playwrightVersion, "axe-core": axeVersion})

	shots := os.Getenv(envScreenshots)
	if shots != "" && !filepath.IsAbs(shots) {
		shots = filepath.Join("..", shots)
	}
	if shots != "" {
		if shots, err = filepath.Abs(shots); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium, "SCREENSHOTS="+shots)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, out)
	}
	t.Logf("node %s:\n%s", script, out)
}
