package e2e

import (
	"fmt"
	"mime"
	"net/http"
	"testing"
)

// These tests are the README's curl walkthrough in Go: what a client without
// an SDK sends (JSON or form bodies, CB-Token or Authorization: Bearer) and
// what the backend behind cubeauth receives.

func TestDevelopmentStageCreatesTheUserOnFirstLoginAndForwardsItsIdentity(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newClient(t, srv)
	login, password := "curldev"+uniqueSuffix(t), "supersecret1"

	// POST /session.json with a JSON body: the user does not exist yet and is
	// created because app 1 is in the development stage.
	r := c.postJSON("/session.json", map[string]any{
		"application_id": devAppID,
		"auth_key":       devAuthKey,
		"user":           map[string]any{"login": login, "password": password},
	}).want(t, http.StatusCreated)
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", r, r.Header.Get("Content-Type"))
	}
	first := decodeSession(t, r)
	if first.UserID == nil || *first.UserID <= 0 {
		t.Fatalf("%s: want a user session", r)
	}
	userID := *first.UserID
	if first.User == nil || first.User.Login == nil || *first.User.Login != login || first.User.ID != userID {
		t.Fatalf("%s: want session.user with id %d and login %q", r, userID, login)
	}
	if first.User.Password != nil {
		t.Fatalf("%s: the user object carries the password", r)
	}

	// POST /session (no .json) with a form body, as iOS and curl -d send it.
	form := fmt.Sprintf("application_id=%d&auth_key=%s&user[login]=%s&user[password]=%s", devAppID, devAuthKey, login, password)
	r = c.postForm("/session", form).want(t, http.StatusCreated)
	second := decodeSession(t, r)
	if second.UserID == nil || *second.UserID != userID {
		t.Fatalf("%s: want the same user %d", r, userID)
	}
	if second.Token == first.Token {
		t.Fatalf("%s: a new login must issue a new token", r)
	}

	// application_id as a string (Flutter, the docs' curl examples), with a
	// stale CB-Token that session creation must ignore.
	r = c.postJSON("/session.json", map[string]any{
		"application_id": fmt.Sprint(devAppID),
		"auth_key":       devAuthKey,
		"user":           map[string]any{"login": login, "password": password},
	}, "CB-Token", "0000000000000000000000000000000000000000").want(t, http.StatusCreated)
	if s := decodeSession(t, r); s.UserID == nil || *s.UserID != userID {
		t.Fatalf("%s: want the same user %d", r, userID)
	}

	// A wrong password is refused.
	c.postJSON("/session.json", map[string]any{
		"application_id": devAppID,
		"auth_key":       devAuthKey,
		"user":           map[string]any{"login": login, "password": "wrong-password"},
	}).want(t, http.StatusUnauthorized).wantErrorShape(t)

	// Proxied request with Authorization: Bearer; every client copy of an
	// identity header (the whole X-Cube- prefix) is dropped, and the
	// credentials do not reach the backend.
	got := c.backend(http.MethodGet,
		"Authorization", "Bearer "+second.Token,
		"X-Cube-User-Id", "1",
		"X-Cube-App-Id", "999",
		"X-Cube-User-Login", "admin",
		"X-Cube-Session-Type", "user",
		"X-Cube-Extra", "forged",
	)
	want := whoami{
		UserID:      fmt.Sprint(userID),
		AppID:       fmt.Sprint(devAppID),
		Login:       login,
		SessionType: "user",
		Method:      http.MethodGet,
	}
	if got != want {
		t.Fatalf("backend saw %+v, want %+v", got, want)
	}

	// The CB-Token header works the same way.
	if got := c.backend(http.MethodPost, "CB-Token", first.Token); got.UserID != fmt.Sprint(userID) || got.Method != http.MethodPost || got.CBToken != "" {
		t.Fatalf("backend saw %+v with CB-Token", got)
	}

	// No token: refused, never forwarded, whatever identity the client claims.
	c.do(http.MethodGet, whoamiPath, nil, "X-Cube-User-Id", fmt.Sprint(userID)).
		want(t, http.StatusUnauthorized).wantErrorShape(t)
	// An unknown token: the body every SDK treats as an expired session.
	c.do(http.MethodGet, whoamiPath, nil, "Authorization", "Bearer not-a-token").
		want(t, http.StatusUnauthorized).wantBody(t, expiredSessionBody)

	// GET /session shows the session.
	r = c.do(http.MethodGet, "/session.json", nil, "CB-Token", second.Token).want(t, http.StatusOK)
	if s := decodeSession(t, r); s.UserID == nil || *s.UserID != userID || s.Token != second.Token {
		t.Fatalf("%s: want session of user %d with the same token", r, userID)
	}

	// DELETE /session revokes the token: refused on the very next request.
	c.do(http.MethodDelete, "/session.json", nil, "CB-Token", second.Token).want2xx(t)
	c.do(http.MethodGet, whoamiPath, nil, "Authorization", "Bearer "+second.Token).
		want(t, http.StatusUnauthorized).wantBody(t, expiredSessionBody)
	// The other token of the same user is untouched.
	if got := c.backend(http.MethodGet, "CB-Token", first.Token); got.UserID != fmt.Sprint(userID) {
		t.Fatalf("backend saw %+v with the first token after revoking the second", got)
	}
}

func TestProductionStageSignsUpWithTheAuthKeyAndKeepsAppSessionsReadOnly(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newClient(t, srv)
	login, password := "curlprod"+uniqueSuffix(t), "supersecret1"
	credentials := map[string]any{
		"application_id": prodAppID,
		"auth_key":       prodAuthKey,
		"user":           map[string]any{"login": login, "password": password},
	}

	// No user is created on the fly in production.
	c.postJSON("/session.json", credentials).
		want(t, http.StatusNotFound).wantBody(t, `{"errors":["User not found"]}`)

	// POST /users with only CB-AuthKey (no token) signs up.
	signup := map[string]any{"user": map[string]any{"login": login, "password": password}}
	r := c.postJSON("/users.json", signup, "CB-AuthKey", prodAuthKey).want2xx(t)
	created := decodeUser(t, r)
	if created.ID <= 0 || created.Login == nil || *created.Login != login {
		t.Fatalf("%s: want a user with login %q", r, login)
	}

	// The same login again: 422 naming the login.
	body := c.postJSON("/users.json", signup, "CB-AuthKey", prodAuthKey).
		want(t, http.StatusUnprocessableEntity).wantErrorShape(t)
	if errs, _ := body["errors"].(map[string]any); errs["login"] == nil {
		t.Fatalf("duplicate signup: want errors.login, got %v", body)
	}

	// Neither an auth key nor a token: refused.
	other := map[string]any{"user": map[string]any{"login": login + "x", "password": password}}
	if r := c.postJSON("/users.json", other); r.Status < 400 || r.Status > 499 {
		t.Fatalf("%s: signup without credentials must be refused with a 4xx", r)
	}

	// Now the credentials open a user session (form body, no .json).
	form := fmt.Sprintf("application_id=%d&auth_key=%s&user[login]=%s&user[password]=%s", prodAppID, prodAuthKey, login, password)
	r = c.postForm("/session", form).want(t, http.StatusCreated)
	if s := decodeSession(t, r); s.UserID == nil || *s.UserID != created.ID {
		t.Fatalf("%s: want a session of user %d", r, created.ID)
	}

	// Another app's auth key does not open app 2.
	if r := c.postJSON("/session.json", map[string]any{"application_id": prodAppID, "auth_key": devAuthKey}); r.Status < 400 || r.Status > 499 {
		t.Fatalf("%s: app 2 with app 1's auth key must be refused with a 4xx", r)
	} else {
		r.wantErrorShape(t)
	}

	// App session: application credentials only.
	r = c.postJSON("/session.json", map[string]any{"application_id": prodAppID, "auth_key": prodAuthKey}).want(t, http.StatusCreated)
	app := decodeSession(t, r)
	if app.UserID != nil || app.User != nil {
		t.Fatalf("%s: want \"user_id\": null and no user", r)
	}

	// It may read through the proxy, as an app session, and not write.
	got := c.backend(http.MethodGet, "Authorization", "Bearer "+app.Token, "X-Cube-User-Id", "1")
	if want := (whoami{AppID: fmt.Sprint(prodAppID), SessionType: "app", Method: http.MethodGet}); got != want {
		t.Fatalf("backend saw %+v, want %+v", got, want)
	}
	c.do(http.MethodPost, whoamiPath, nil, "Authorization", "Bearer "+app.Token).
		want(t, http.StatusForbidden).wantErrorShape(t)

	// A wrong password on POST /login is refused and leaves the token an app session.
	c.postJSON("/login.json", map[string]any{"login": login, "password": "wrong-password"}, "CB-Token", app.Token).
		want(t, http.StatusUnauthorized).wantErrorShape(t)

	// POST /login binds the user to the same token.
	r = c.postJSON("/login.json", map[string]any{"login": login, "password": password}, "CB-Token", app.Token).want2xx(t)
	if u := decodeUser(t, r); u.ID != created.ID {
		t.Fatalf("%s: want user %d", r, created.ID)
	}
	r = c.do(http.MethodGet, "/session.json", nil, "CB-Token", app.Token).want(t, http.StatusOK)
	if s := decodeSession(t, r); s.UserID == nil || *s.UserID != created.ID || s.Token != app.Token {
		t.Fatalf("%s: want the same token bound to user %d", r, created.ID)
	}
	got = c.backend(http.MethodPost, "Authorization", "Bearer "+app.Token)
	if got.UserID != fmt.Sprint(created.ID) || got.SessionType != "user" || got.Login != login {
		t.Fatalf("backend saw %+v after POST /login", got)
	}

	// DELETE /login unbinds it: read-only again.
	c.do(http.MethodDelete, "/login.json", nil, "CB-Token", app.Token).want2xx(t)
	c.do(http.MethodPost, whoamiPath, nil, "Authorization", "Bearer "+app.Token).
		want(t, http.StatusForbidden).wantErrorShape(t)
	if got := c.backend(http.MethodGet, "CB-Token", app.Token); got.SessionType != "app" || got.UserID != "" {
		t.Fatalf("backend saw %+v after DELETE /login", got)
	}
}
