package caddymodule

import (
	"net/http"
	"strconv"
	"testing"
)

// The request formats real clients send (issue 13 item 3): tag lists as
// JSON arrays, GET and DELETE parameters in a body as the docs' curl
// examples send them, Flutter's empty CB-Token.

func userOf(t *testing.T, res response) map[string]any {
	t.Helper()
	u, ok := res.body["user"].(map[string]any)
	if !ok {
		t.Fatalf("no user object: %d %s", res.status, res.raw)
	}
	return u
}

func TestATagListIsAcceptedAsAnArrayOrAStringAndAnsweredAsAString(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct{ name, body string }{
		{"a JSON array (the SDK typings)", `{"user":{"login":"tagarray","password":"supersecret","tag_list":["iphone","apple"]}}`},
		{"a comma-separated string (the docs)", `{"user":{"login":"tagstring","password":"supersecret","tag_list":"iphone,apple"}}`},
		{"repeated form keys", `user[login]=tagform&user[password]=supersecret&user[tag_list][]=iphone&user[tag_list][]=apple`},
	} {
		res := ts.do("POST", "/users.json", tc.body, "CB-AuthKey", prodKey)
		if res.status != http.StatusCreated {
			t.Fatalf("%s: %d %s", tc.name, res.status, res.raw)
		}
		if got := userOf(t, res)["user_tags"]; got != "iphone,apple" {
			t.Errorf("%s: user_tags = %#v, want \"iphone,apple\"", tc.name, got)
		}
	}

	s := ts.session(t, userBody(2, prodKey, "tagarray", "supersecret"))
	id := strconv.Itoa(int(s["user_id"].(float64)))
	res := ts.do("PUT", "/users/"+id+".json", `{"user":{"tag_list":["android","pixel"]}}`, "CB-Token", s["token"].(string))
	if res.status != http.StatusOK || userOf(t, res)["user_tags"] != "android,pixel" {
		t.Fatalf("update with an array: %d %s", res.status, res.raw)
	}
	res = ts.do("PUT", "/users/"+id+".json", `{"user":{"tag_list":"vip"}}`, "CB-Token", s["token"].(string))
	if res.status != http.StatusOK || userOf(t, res)["user_tags"] != "vip" {
		t.Fatalf("update with a string: %d %s", res.status, res.raw)
	}
}

func TestAnArrayWhereAScalarBelongsIsA422InTheConnectyCubeShape(t *testing.T) {
	ts := newTestServer(t)
	expectError(t, ts.do("POST", "/users.json", `{"user":{"login":["a","b"],"password":"supersecret"}}`, "CB-AuthKey", prodKey),
		http.StatusUnprocessableEntity, `{"errors":{"user[login]":["must be a single value, not a list"]}}`)
	expectError(t, ts.do("POST", "/session.json", `{"application_id":[2],"auth_key":"`+prodKey+`"}`),
		http.StatusUnprocessableEntity, `"application_id":["must be a single value, not a list"]`)
	expectError(t, ts.do("POST", "/users.json", `{"user":{"login":"x","password":"supersecret","tag_list":["a,b"]}}`, "CB-AuthKey", prodKey),
		http.StatusUnprocessableEntity, `"user[tag_list]"`)
	// Arrays of anything but scalars stay malformed input.
	expectError(t, ts.do("POST", "/users.json", `{"user":{"login":"x","password":"supersecret","tag_list":[{"a":1}]}}`, "CB-AuthKey", prodKey),
		http.StatusBadRequest, "tag_list")
}

func TestGetAndDeleteParametersAreReadFromTheQueryOrABody(t *testing.T) {
	ts := newTestServer(t, func(h *Handler) { h.Apps[0].PublicUserFields = []string{"email"} })
	judy := ts.signUp(t, 1, devKey, "judy", "judy@example.com", "supersecret")
	s := ts.session(t, userBody(1, devKey, "judy", "supersecret"))
	token := s["token"].(string)

	for _, tc := range []struct{ name, target, body string }{
		{"query string (the SDKs)", "/users/by_login.json?login=judy", ""},
		{"form body (the docs' curl -X GET -d)", "/users/by_login", "login=judy"},
		{"JSON body", "/users/by_login", `{"login":"judy"}`},
		{"the same value in both", "/users/by_login?login=judy", "login=judy&unused=1"},
	} {
		res := ts.do("GET", tc.target, tc.body, "CB-Token", token)
		if tc.name == "the same value in both" {
			// A parameter named in the query and the body is refused,
			// whatever the values: no silent winner.
			expectError(t, ts.do("GET", tc.target, "login=mallory", "CB-Token", token), http.StatusBadRequest, "login")
			continue
		}
		if res.status != http.StatusOK || userOf(t, res)["login"] != "judy" {
			t.Fatalf("%s: %d %s", tc.name, res.status, res.raw)
		}
	}

	res := ts.do("GET", "/users/v2", "id[in][]="+judy+"&limit=10", "CB-Token", token)
	if res.status != http.StatusOK || res.body["total_entries"] != float64(1) || res.body["limit"] != float64(10) {
		t.Fatalf("users/v2 with a form body: %d %s", res.status, res.raw)
	}
	res = ts.do("GET", "/users/by_email", "email=judy@example.com", "CB-Token", token)
	if res.status != http.StatusOK || userOf(t, res)["login"] != "judy" {
		t.Fatalf("by_email with a form body: %d %s", res.status, res.raw)
	}
	expectError(t, ts.do("GET", "/users/by_login", "login=%zz", "CB-Token", token), http.StatusBadRequest, "")

	// DELETE /session with a body (curl -X DELETE -d …) still ends the session.
	if res := ts.do("DELETE", "/session.json", "reason=bye", "CB-Token", token); res.status != http.StatusOK {
		t.Fatalf("DELETE /session with a body: %d %s", res.status, res.raw)
	}
	expectError(t, ts.do("GET", "/session.json", "", "CB-Token", token), http.StatusUnauthorized, "Required session does not exist")
}

func TestFlutterEmptyCBTokenMeansNoToken(t *testing.T) {
	ts := newTestServer(t)
	res := ts.do("POST", "/users.json", `{"user":{"login":"flutterkid","password":"supersecret"}}`, "CB-AuthKey", prodKey, "CB-Token", "")
	if res.status != http.StatusCreated {
		t.Fatalf("signup with CB-AuthKey and an empty CB-Token: %d %s", res.status, res.raw)
	}
	res = ts.do("POST", "/session", `{"application_id":"2","auth_key":"`+prodKey+`","user":{"login":"flutterkid","password":"supersecret"}}`,
		"CB-Token", "", "ConnectyCube-REST-API-Version", "0.1.1")
	if res.status != http.StatusCreated {
		t.Fatalf("POST /session with an empty CB-Token: %d %s", res.status, res.raw)
	}
	// An empty CB-Token and no CB-AuthKey is no credential at all.
	expectError(t, ts.do("POST", "/users.json", `{"user":{"login":"nobody","password":"supersecret"}}`, "CB-Token", ""), http.StatusUnauthorized, "Token is required")
}

func TestSignupUnderAnAppSessionTokenWorks(t *testing.T) {
	ts := newTestServer(t)
	// What SDK v1–v3 and Flutter do: an app session first, then POST /users
	// with its CB-Token, then a user session.
	for _, app := range []struct {
		id  int
		key string
	}{{1, devKey}, {2, prodKey}} {
		login := "appsess" + strconv.Itoa(app.id)
		token := appSessionToken(t, ts, app.id, app.key)
		res := ts.do("POST", "/users.json", `{"user":{"login":"`+login+`","password":"supersecret","tag_list":["a","b"]}}`, "CB-Token", token)
		if res.status != http.StatusCreated || userOf(t, res)["login"] != login || userOf(t, res)["user_tags"] != "a,b" {
			t.Fatalf("app %d: signup under an app session: %d %s", app.id, res.status, res.raw)
		}
		ts.session(t, userBody(app.id, app.key, login, "supersecret"))
	}
}
