package e2e

import (
	"fmt"
	"net/http"
	"testing"
)

// What the Flutter SDK sends, through a real Caddy: an empty "CB-Token:"
// header before it has a session (sign-up with CB-AuthKey, POST /session),
// and sign-up under an app session's token (as SDK v1–v3 do too), with
// tag_list as a JSON array.
func TestFlutterEmptyCBTokenAndSignupUnderAnAppSession(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newClient(t, srv)
	flutter := []string{"CB-Token", "", "ConnectyCube-REST-API-Version", "0.1.1", "CB-SDK", "Flutter 3.1.0"}

	login := "flutter" + uniqueSuffix(t)
	r := c.postJSON("/users", map[string]any{"user": map[string]any{"login": login, "password": "supersecret1", "tag_list": []string{"iphone", "apple"}}},
		append([]string{"CB-AuthKey", prodAuthKey}, flutter...)...).want(t, http.StatusCreated)
	if u := r.JSON(t)["user"].(map[string]any); u["user_tags"] != "iphone,apple" {
		t.Fatalf("%s: want user_tags \"iphone,apple\"", r)
	}
	r = c.postJSON("/session", map[string]any{
		"application_id": fmt.Sprint(prodAppID), "auth_key": prodAuthKey,
		"user": map[string]any{"login": login, "password": "supersecret1"},
	}, flutter...).want(t, http.StatusCreated)
	decodeSession(t, r)

	// Sign-up under an app session token.
	app := decodeSession(t, c.postJSON("/session", map[string]any{"application_id": prodAppID, "auth_key": prodAuthKey}, flutter...).want(t, http.StatusCreated))
	login2 := "flutterapp" + uniqueSuffix(t)
	r = c.postJSON("/users", map[string]any{"user": map[string]any{"login": login2, "password": "supersecret1", "tag_list": "vip"}},
		"CB-Token", app.Token).want(t, http.StatusCreated)
	if u := decodeUser(t, r); u.Login == nil || *u.Login != login2 {
		t.Fatalf("%s: want login %s", r, login2)
	}

	// An empty CB-Token alone is no credential.
	c.postJSON("/users", map[string]any{"user": map[string]any{"login": "nobody" + uniqueSuffix(t), "password": "supersecret1"}},
		flutter...).want(t, http.StatusUnauthorized).wantErrorShape(t)
}
