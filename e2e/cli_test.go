package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/internal/testcaddy"
)

// cli runs `caddy cubeauth <args> --address <admin>` with the built binary.
type cli struct {
	t    *testing.T
	bin  string
	addr string
}

// run runs the command and fails the test unless it succeeds; it returns
// stdout.
func (c cli) run(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.exec(args...)
	if err != nil {
		c.t.Fatalf("caddy cubeauth %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// fail runs the command, fails the test unless it exits non-zero, and
// returns stderr.
func (c cli) fail(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.exec(args...)
	if err == nil {
		c.t.Fatalf("caddy cubeauth %s succeeded, want a failure\nstdout: %s", strings.Join(args, " "), out)
	}
	return errOut
}

func (c cli) exec(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append(append([]string{"cubeauth"}, args...), "--address", c.addr)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func wantLine(t *testing.T, out string, pattern string) {
	t.Helper()
	if !regexp.MustCompile(`(?m)` + pattern).MatchString(out) {
		t.Fatalf("output does not match %q:\n%s", pattern, out)
	}
}

func TestCLIManagesAppsStagesAndPermissionsOfARunningCaddy(t *testing.T) {
	t.Parallel()
	srv := startOperatorServer(t)
	c := cli{t: t, bin: testcaddy.Binary(t), addr: srv.AdminAddr}
	client := newClient(t, srv.server)
	suffix := uniqueSuffix(t)

	out := c.run("apps", "list")
	wantLine(t, out, `^APP ID\s+NAME\s+STAGE\s+SESSION WITHOUT USER\s+PINNED\s+WARNINGS$`)
	wantLine(t, out, `^1\s+-\s+development\s+allow \(stage default\)\s+auth_key\s+0$`)
	wantLine(t, out, `^2\s+Configured production\s+production\s+deny \(stage default\)\s+name,auth_key,stage\s+0$`)

	var created struct{ App adminApp }
	if err := json.Unmarshal([]byte(c.run("apps", "create", "--name", "From the CLI", "--json")), &created); err != nil {
		t.Fatal(err)
	}
	if created.App.ID != 3 || len(created.App.AuthKey) != 36 {
		t.Fatalf("created %+v", created.App)
	}
	out = c.run("apps", "show", "3")
	wantLine(t, out, `^Auth Key:\s+`+created.App.AuthKey+`$`)
	wantLine(t, out, `^Stage:\s+development$`)

	// Production on the next request: an unknown login is refused.
	wantLine(t, c.run("apps", "set-stage", "1", "production"), `^App 1 is now in production; session without user: deny`)
	userSession(client, devAppID, devAuthKey, "nobody"+suffix).want(t, http.StatusNotFound).wantBody(t, `{"errors":["User not found"]}`)
	wantLine(t, c.run("apps", "set-permission", "1", "session_without_user", "allow"), `^WARNING: production app allows session creation`)
	userSession(client, devAppID, devAuthKey, "created"+suffix).want(t, http.StatusCreated)
	c.run("apps", "set-permission", "1", "session_without_user", "default")
	userSession(client, devAppID, devAuthKey, "again"+suffix).want(t, http.StatusNotFound)

	// Pinned fields are refused with the API's own words.
	errOut := c.fail("apps", "set-stage", "2", "development")
	if !strings.Contains(errOut, "stage is set in the server configuration") || !strings.Contains(errOut, "409") {
		t.Fatalf("stderr %q: want the pinned-field refusal", errOut)
	}
	errOut = c.fail("apps", "set-permission", "1", "session_without_user", "maybe")
	if !strings.Contains(errOut, "allow, deny or default") {
		t.Fatalf("stderr %q", errOut)
	}

	// Key rotation with a grace period: both keys work for now.
	out = c.run("apps", "rotate-key", "3", "--grace", "1h")
	m := regexp.MustCompile(`New Auth Key of app 3: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("rotate-key printed %q", out)
	}
	for _, key := range []string{created.App.AuthKey, m[1]} {
		client.postJSON("/session.json", map[string]any{"application_id": 3, "auth_key": key}).want(t, http.StatusCreated)
	}
	c.run("apps", "rotate-key", "3", "--grace", "0")
	client.postJSON("/session.json", map[string]any{"application_id": 3, "auth_key": m[1]}).want(t, http.StatusUnauthorized)
	wantLine(t, c.run("apps", "delete", "3"), `^App 3 deleted`)

	errOut = c.fail("apps", "show", "3")
	if !strings.Contains(errOut, "app not found") {
		t.Fatalf("stderr %q: want app not found", errOut)
	}
	errOut = cli{t: t, bin: c.bin, addr: fmt.Sprintf("127.0.0.1:%d", testcaddy.FreePort(t))}.fail("apps", "list")
	if !strings.Contains(errOut, "cannot reach Caddy's admin API") {
		t.Fatalf("stderr %q: want a hint that Caddy is not reachable", errOut)
	}
}

func TestCLIListsAndRevokesUsersAndSessions(t *testing.T) {
	t.Parallel()
	srv := startOperatorServer(t)
	c := cli{t: t, bin: testcaddy.Binary(t), addr: srv.AdminAddr}
	client := newClient(t, srv.server)
	suffix := uniqueSuffix(t)
	alice := decodeSession(t, userSession(client, devAppID, devAuthKey, "alice"+suffix).want(t, http.StatusCreated))
	bob := decodeSession(t, userSession(client, devAppID, devAuthKey, "bob"+suffix).want(t, http.StatusCreated))
	carol := decodeSession(t, userSession(client, devAppID, devAuthKey, "carol"+suffix).want(t, http.StatusCreated))

	out := c.run("users", "list", "1", "--search", "alice"+suffix)
	wantLine(t, out, fmt.Sprintf(`^%d\s+alice%s\s+`, *alice.UserID, suffix))
	wantLine(t, out, `^1 of 1 user\(s\)$`)
	wantLine(t, c.run("users", "show", "1", fmt.Sprint(*bob.UserID)), `^Active sessions:\s+1$`)

	out = c.run("sessions", "list", "1", "--user", fmt.Sprint(*alice.UserID))
	fp := sessionOf(t, srv.sessions(t, devAppID, ""), alice.Token)
	wantLine(t, out, fmt.Sprintf(`^%d\s+%d\s+user\s+%s\s+`, fp.ID, *alice.UserID, fp.Fingerprint))
	if strings.Contains(out, alice.Token) {
		t.Fatal("sessions list prints a token")
	}
	var listed struct{ Sessions []adminSession }
	if err := json.Unmarshal([]byte(c.run("sessions", "list", "1", "--json")), &listed); err != nil || len(listed.Sessions) != 3 {
		t.Fatalf("sessions list --json: %+v, %v", listed, err)
	}

	wantTokenAccepted(t, client, alice.Token)
	wantLine(t, c.run("sessions", "revoke", "1", fmt.Sprint(fp.ID)), `^Session \d+ revoked`)
	wantTokenRefused(t, client, alice.Token)

	wantLine(t, c.run("sessions", "revoke", "1", "--user", fmt.Sprint(*bob.UserID)), `^1 session\(s\) of user \d+ ended`)
	wantTokenRefused(t, client, bob.Token)

	wantLine(t, c.run("users", "delete", "1", fmt.Sprint(*carol.UserID)), `deleted; its sessions ended`)
	wantTokenRefused(t, client, carol.Token)
	if errOut := c.fail("users", "show", "1", fmt.Sprint(*carol.UserID)); !strings.Contains(errOut, "user not found") {
		t.Fatalf("stderr %q", errOut)
	}
}
