package e2e

import (
	"fmt"
	"net/http"
	"testing"
)

// devLogin opens a user session on app 1 for login (creating the user in the
// development stage) and returns the session.
func devLogin(t *testing.T, c *client, login, password string) session {
	t.Helper()
	r := c.postJSON("/session.json", map[string]any{
		"application_id": devAppID,
		"auth_key":       devAuthKey,
		"user":           map[string]any{"login": login, "password": password},
	}).want(t, http.StatusCreated)
	s := decodeSession(t, r)
	if s.UserID == nil {
		t.Fatalf("%s: want a user session", r)
	}
	return s
}

func TestUsersAndSessionsSurviveACrashAndARestart(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newClient(t, srv)
	login, password := "crash"+uniqueSuffix(t), "supersecret1"
	s := devLogin(t, c, login, password)

	// A 2xx means durable: SIGKILL right after it loses nothing.
	srv.Caddy.Kill()
	srv.Caddy.Restart(t)

	if got := c.backend(http.MethodGet, "CB-Token", s.Token); got.UserID != fmt.Sprint(*s.UserID) {
		t.Fatalf("after a crash the token maps to %+v, want user %d", got, *s.UserID)
	}
	if again := devLogin(t, c, login, password); *again.UserID != *s.UserID {
		t.Fatalf("after a crash login %q is user %d, want %d (the user was created again?)", login, *again.UserID, *s.UserID)
	}

	// A graceful restart too.
	srv.Caddy.Restart(t)
	if got := c.backend(http.MethodGet, "CB-Token", s.Token); got.UserID != fmt.Sprint(*s.UserID) {
		t.Fatalf("after a restart the token maps to %+v, want user %d", got, *s.UserID)
	}
}

func TestReloadAppliesANewStageWithoutDroppingSessions(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newClient(t, srv)
	suffix := uniqueSuffix(t)
	s := devLogin(t, c, "reload"+suffix, "supersecret1")

	// Switch app 1 to production; the Badger directory stays open across
	// the overlapping old and new config.
	srv.Caddy.Reload(t, srv.caddyfile("production"))

	if got := c.backend(http.MethodGet, "CB-Token", s.Token); got.UserID != fmt.Sprint(*s.UserID) {
		t.Fatalf("after reload the token maps to %+v, want user %d", got, *s.UserID)
	}
	c.postJSON("/session.json", map[string]any{
		"application_id": devAppID,
		"auth_key":       devAuthKey,
		"user":           map[string]any{"login": "reloadnew" + suffix, "password": "supersecret1"},
	}).want(t, http.StatusNotFound).wantBody(t, `{"errors":["User not found"]}`)

	// And back: the next request sees development again.
	srv.Caddy.Reload(t, srv.caddyfile("development"))
	devLogin(t, c, "reloadnew"+suffix, "supersecret1")
}
