package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/internal/testcaddy"
)

// A config load is pure until Caddy starts it: caddy validate, a config
// that Validate refuses, and the order in which handlers are provisioned
// must never change what the store holds.

// runningCaddyfile is the config the instance runs.
func runningCaddyfile(t *testing.T, inst *testcaddy.Instance) string {
	t.Helper()
	b, err := os.ReadFile(inst.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantAppStage fails the test unless the admin API shows app's stage.
func wantAppStage(t *testing.T, s *operatorServer, app, stage string) adminApp {
	t.Helper()
	got := decodeApp(t, s.admin(t, "GET", "/cubeauth/apps/"+app, nil).want(t, http.StatusOK))
	if got.Stage != stage {
		t.Fatalf("app %s is in %s, want %s", app, got.Stage, stage)
	}
	return got
}

func TestCaddyValidateBesideARunningServerSucceedsAndChangesNothing(t *testing.T) {
	s := startOperatorServer(t)
	wantAppStage(t, s, "1", "development")
	// The same site, with app 1 pinned to production, on the same Badger
	// directory the running server holds open.
	changed := strings.Replace(runningCaddyfile(t, s.Caddy), "app 1 {", "app 1 {\n\t\t\tstage production", 1)
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testcaddy.Binary(t), "validate", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("caddy validate beside a running server: %v\n%s", err, out)
	}
	app := wantAppStage(t, s, "1", "development")
	for _, f := range app.Pinned {
		if f == "stage" {
			t.Fatal("caddy validate pinned app 1's stage")
		}
	}
	devLogin(t, newClient(t, s.server), "validate"+uniqueSuffix(t), "supersecret1")
}

func TestAConfigThatValidateRefusesWritesNoApps(t *testing.T) {
	s := startOperatorServer(t)
	// Provision accepts this config; Validate then refuses its durations.
	refused := strings.Replace(runningCaddyfile(t, s.Caddy), "argon2 64 1", "argon2 64 1\n\t\tsession_ttl 2h\n\t\tsession_max_age 1h", 1)
	refused = strings.Replace(refused, "app 1 {", "app 1 {\n\t\t\tstage production", 1)
	refused = strings.Replace(refused, "app 2 {", "app 3 {\n\t\t\tauth_key 7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f\n\t\t}\n\t\tapp 2 {", 1)
	if err := s.Caddy.TryReload(refused); err == nil || !strings.Contains(err.Error(), "session_max_age") {
		t.Fatalf("reload: %v, want session_max_age refused", err)
	}
	wantAppStage(t, s, "1", "development")
	s.admin(t, "GET", "/cubeauth/apps/3", nil).want(t, http.StatusNotFound)
}

// twoSitesCaddyfile serves two cubeauth sites over one Badger directory:
// the first pins app 1 to production, the second declares no apps.
const twoSitesCaddyfile = `http://127.0.0.1:{SECOND} {
	cubeauth {
		storage badger {DIR}/data
		argon2 64 1
	}
	respond "second"
}
`

func TestHandlersOverOneStoreApplyTheUnionOfTheirAppsOnEveryStart(t *testing.T) {
	s := startOperatorServer(t)
	second := testcaddy.FreePort(t)
	config := strings.Replace(runningCaddyfile(t, s.Caddy), "app 1 {", "app 1 {\n\t\t\tstage production", 1) +
		strings.NewReplacer("{SECOND}", strconv.Itoa(second), "{DIR}", s.dir).Replace(twoSitesCaddyfile)
	// Caddy provisions handlers in no fixed order: a start where the
	// second site's handler went last used to unpin app 1.
	for i := range 6 {
		if i%2 == 0 {
			s.Caddy.Reload(t, config)
		} else {
			s.Caddy.Restart(t)
		}
		app := wantAppStage(t, s, "1", "production")
		if !strings.Contains(strings.Join(app.Pinned, ","), "stage") {
			t.Fatalf("start %d: app 1's stage is not pinned: %v", i, app.Pinned)
		}
		s.admin(t, "PATCH", "/cubeauth/apps/1", map[string]any{"stage": "development"}).want(t, http.StatusConflict)
	}
}
