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

// playwrightVersion is what e2e/dashboard/package.json pins.
const playwrightVersion = "1.65.1"

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
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: the dashboard test drives Chromium with playwright-core under Node 20")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if _, statErr := os.Stat("/usr/bin/chromium"); statErr != nil {
			t.Skip("chromium is not installed (apt-get install -y chromium): the dashboard test needs a real browser")
		}
		chromium = "/usr/bin/chromium"
	}
	dir, err := filepath.Abs("dashboard")
	if err != nil {
		t.Fatal(err)
	}
	installNodePackages(t, dir, map[string]string{"playwright-core": playwrightVersion})

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
	cmd := exec.CommandContext(ctx, node, "dashboard.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"DASH_URL="+srv.DashURL,
		"DASH_USER="+dashUser,
		"DASH_PASSWORD="+dashPassword,
		"ADMIN_URL="+srv.AdminURL,
		fmt.Sprintf("APP_ID=%d", devAppID),
		"AUTH_KEY="+devAuthKey,
		fmt.Sprintf("PINNED_APP_ID=%d", prodAppID),
		"REVOKE_FINGERPRINT="+authcore.Fingerprint(authcore.HashToken(alice.Token)),
		"END_SESSIONS_LOGIN=bob"+suffix,
		"DELETE_LOGIN=carol"+suffix,
		"CHROMIUM="+chromium,
		"SCREENSHOTS="+shots,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node dashboard.js: %v\n%s", err, out)
	}
	t.Logf("node dashboard.js:\n%s", out)

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
