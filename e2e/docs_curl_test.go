package e2e

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The ConnectyCube REST docs' own curl examples (ConnectyCube/docs,
// src/content/docs/server/auth.mdx and users.md), run with the curl binary
// through a real Caddy. Each is copied as written; only what must name this
// server changes: the base URL, the auth key, <TOKEN>, and user ids. The
// GET examples send their parameters as a form body (curl -X GET -d).
const (
	docsSignup = `curl -X POST \
-H "Content-Type: application/json" \
-H "CB-AuthKey: 29WfrNWdvkhmX6V" \
-d '{"user": {"login": "Dacia", "password": "petU4or!", "email": "dacia_k@domain.com", "facebook_id": "91234409", "twitter_id": "83510562734", "full_name": "Dacia Kail ", "phone": "+6110797757", "timezone": 180}}' \
https://api.connectycube.com/users`

	docsCreateSession = `curl -X POST \
-H "Content-Type: application/json" \
-d '{"application_id": "1", "auth_key": "29WfrNWdvkhmX6V", "timestamp": "1544010993", "user":{"login": "john", "password": "11111111"}}' \
https://api.connectycube.com/session`

	// As written in auth.mdx, `"\` glues the URL to the header value (the
	// shell joins the lines with no space: curl says "no URL specified"), so
	// these two take one space before the backslash; see docsTypoFix.
	docsGetSession = `curl -X GET \
-H "CB-Token:  <TOKEN> "\
https://api.connectycube.com/session`

	docsByLogin = `curl -X GET \
-H "CB-Token: <TOKEN>" \
-d 'login=Dacia' \
https://api.connectycube.com/users/by_login`

	docsShowUser = `curl -X GET \
-H "CB-Token: <TOKEN>" \
https://api.connectycube.com/users/51946`

	docsUpdate = `curl -X PUT \
-H "Content-Type: application/json" \
-H "CB-Token: <TOKEN>" \
-d '{"user": {"email": "pallavi.purushottam@yahoo.com", "website": "pavalli.com.au"}}' \
https://api.connectycube.com/users/51943`

	docsDestroySession = `curl -X DELETE \
-H "CB-Token:  <TOKEN> "\
https://api.connectycube.com/session`

	docsDeleteUser = `curl -X DELETE \
-H "CB-Token: <TOKEN>" \
https://api.connectycube.com/users/51959`

	// The users/v2 example's id filter; docs_users_test.go sends the whole
	// example, which also filters on the (private by default) phone.
	docsUsersV2 = `curl -X GET \
-H "CB-Token: <TOKEN>" \
-d 'id[in][]=52671&id[in][]=51943&limit=10' \
https://api.connectycube.com/users/v2`
)

// docsTypo is the docs' missing space before a line continuation, and
// docsTypoFix the space.
const docsTypo, docsTypoFix = "\"\\\n", "\" \\\n"

// docsCurl runs one docs example through sh and the curl binary, after the
// replacements, and returns the HTTP status and the body.
func docsCurl(t *testing.T, srv *server, example string, replace ...string) (int, string) {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not on PATH")
	}
	replace = append(replace, "https://api.connectycube.com", srv.URL, "29WfrNWdvkhmX6V", devAuthKey, docsTypo, docsTypoFix)
	cmdline := strings.NewReplacer(replace...).Replace(example)
	// Only what curl prints changes: quiet, with the status on a last line.
	cmdline = strings.Replace(cmdline, "curl ", curl+` -sS -w '\n%{http_code}' `, 1)
	out, err := exec.Command("sh", "-c", cmdline).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, out)
	}
	text := strings.TrimRight(string(out), "\n")
	i := strings.LastIndexByte(text, '\n')
	status, err := strconv.Atoi(text[i+1:])
	if err != nil {
		t.Fatalf("%s: no status in %q", cmdline, out)
	}
	return status, text[:max(i, 0)]
}

// docsJSON decodes an answer's JSON object, failing on a wrong status.
func docsJSON(t *testing.T, what string, status int, body string, want int) map[string]any {
	t.Helper()
	if status != want {
		t.Fatalf("%s: status %d, want %d: %s", what, status, want, body)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%s: body is not JSON: %q", what, body)
	}
	return v
}

func TestTheDocsCurlExamplesWorkAsWritten(t *testing.T) {
	t.Parallel()
	srv := startServer(t)

	st, body := docsCurl(t, srv, docsSignup)
	dacia := docsJSON(t, "sign up", st, body, 201)["user"].(map[string]any)
	// cubeauth keeps logins in lower case (one login per app, in any case).
	if login, _ := dacia["login"].(string); !strings.EqualFold(login, "Dacia") || dacia["timezone"] != float64(180) {
		t.Fatalf("sign up: %s", body)
	}
	daciaID := strconv.Itoa(int(dacia["id"].(float64)))

	// The docs' session example: app 1 is in the development stage, so
	// john is created on the fly.
	st, body = docsCurl(t, srv, docsCreateSession)
	session := docsJSON(t, "create session", st, body, 201)["session"].(map[string]any)
	token := session["token"].(string)
	johnID := strconv.Itoa(int(session["user_id"].(float64)))

	st, body = docsCurl(t, srv, docsGetSession, "<TOKEN>", token)
	if s := docsJSON(t, "get session", st, body, 200)["session"].(map[string]any); s["user_id"] != session["user_id"] {
		t.Fatalf("get session: %s", body)
	}

	st, body = docsCurl(t, srv, docsByLogin, "<TOKEN>", token)
	if u := docsJSON(t, "by_login with a form body", st, body, 200)["user"].(map[string]any); u["id"] != dacia["id"] {
		t.Fatalf("by_login: %s", body)
	}

	st, body = docsCurl(t, srv, docsShowUser, "<TOKEN>", token, "51946", daciaID)
	if u := docsJSON(t, "show user", st, body, 200)["user"].(map[string]any); u["id"] != dacia["id"] {
		t.Fatalf("show user: %s", body)
	}

	st, body = docsCurl(t, srv, docsUsersV2, "<TOKEN>", token, "52671", daciaID, "51943", johnID)
	if v2 := docsJSON(t, "users/v2 with a form body", st, body, 200); v2["total_entries"] != float64(2) || v2["limit"] != float64(10) {
		t.Fatalf("users/v2: %s", body)
	}

	st, body = docsCurl(t, srv, docsUpdate, "<TOKEN>", token, "51943", johnID)
	if u := docsJSON(t, "update", st, body, 200)["user"].(map[string]any); u["email"] != "pallavi.purushottam@yahoo.com" || u["website"] != "http://pavalli.com.au" {
		t.Fatalf("update: %s", body)
	}

	if st, body = docsCurl(t, srv, docsDestroySession, "<TOKEN>", token); st != 200 {
		t.Fatalf("destroy session: %d %s", st, body)
	}
	st, body = docsCurl(t, srv, docsGetSession, "<TOKEN>", token)
	if st != 401 || !strings.Contains(body, "Required session does not exist") {
		t.Fatalf("the destroyed session still answers: %d %s", st, body)
	}

	st, body = docsCurl(t, srv, docsCreateSession)
	token = docsJSON(t, "create session again", st, body, 201)["session"].(map[string]any)["token"].(string)
	if st, body = docsCurl(t, srv, docsDeleteUser, "<TOKEN>", token, "51959", johnID); st != 200 {
		t.Fatalf("delete user: %d %s", st, body)
	}
	if st, body = docsCurl(t, srv, docsByLogin, "<TOKEN>", token); st != 401 {
		t.Fatalf("deleting the user must end its sessions: %d %s", st, body)
	}
}

// docsPasswordReset is users.md's password reset example.
const docsPasswordReset = `curl -X GET \
-H "CB-Token: <TOKEN>" \
-d 'email=dacia_k@domain.com' \
https://api.connectycube.com/users/password/reset`

func TestTheDocsPasswordResetCurlExampleSendsTheMail(t *testing.T) {
	t.Parallel()
	s := startResetServer(t, time.Hour)
	s.signup(t, "dacia", "dacia_k@domain.com", "petU4or!x")
	if st, body := docsCurl(t, s.server, docsPasswordReset, "<TOKEN>", s.appToken(t)); st != 200 {
		t.Fatalf("password reset with the email in a form body: %d %s", st, body)
	}
	s.linkOfMail(t, 1, "dacia_k@domain.com")
}
