package caddymodule

import (
	"net/http"
	"strconv"
	"testing"
)

func TestChatPasswordChecksAnswerOnlyWhenEnabled(t *testing.T) {
	const secret = "a-shared-secret-of-the-adapter"
	ts := newTestServer(t, func(h *Handler) { h.ChatPasswordSecret = secret })
	s := ts.session(t, userBody(1, devKey, "chatter", "supersecret"))
	uid := strconv.Itoa(int(s["user_id"].(float64)))
	check := func(body string) response {
		return ts.do("POST", "/cubeauth/chat_password", body, "Authorization", "Extauth "+secret)
	}
	// Without the adapter's secret, or with another, it is no password oracle.
	for _, wrong := range []string{"", secret + "x", "a-shared-secret-of-the-adaptex", " " + secret} {
		expectError(t, ts.do("POST", "/cubeauth/chat_password", `{"application_id":1,"user_id":`+uid+`,"password":"supersecret"}`,
			"Authorization", "Extauth "+wrong), http.StatusForbidden, "Forbidden")
	}

	res := check(`{"application_id":1,"user_id":` + uid + `,"password":"supersecret"}`)
	if res.status != http.StatusOK || res.body["user"].(map[string]any)["login"] != "chatter" {
		t.Fatalf("the right password: %d %s", res.status, res.raw)
	}
	if res := check("application_id=1&user_id=" + uid + "&password=supersecret"); res.status != http.StatusOK {
		t.Fatalf("as a form: %d %s", res.status, res.raw)
	}
	expectError(t, check(`{"application_id":1,"user_id":`+uid+`,"password":"wrong-password"}`), http.StatusUnauthorized, "Unauthorized")
	expectError(t, check(`{"application_id":2,"user_id":`+uid+`,"password":"supersecret"}`), http.StatusUnauthorized, "Unauthorized")
	expectError(t, check(`{"application_id":1,"user_id":"x","password":"supersecret"}`), http.StatusUnprocessableEntity, "user_id")
	expectError(t, ts.do("GET", "/cubeauth/chat_password", "", "Authorization", "Extauth "+secret), http.StatusMethodNotAllowed, "")
	if n := ts.reachedCount(); n != 0 {
		t.Fatalf("%d checks reached the backend", n)
	}

	off := newTestServer(t)
	off.session(t, userBody(1, devKey, "chatter", "supersecret"))
	tok := off.session(t, userBody(1, devKey, "chatter", "supersecret"))["token"].(string)
	// A short secret is refused at load.
	short := &Handler{ChatPasswordSecret: "too-short"}
	if err := short.provisionChatPassword(); err == nil {
		t.Error("a 9-character chat_password_secret was accepted")
	}

	// Off (the default), the path is the backend's, behind a session.
	if res := off.do("POST", "/cubeauth/chat_password", `{"application_id":1,"user_id":1,"password":"supersecret"}`, "CB-Token", tok); res.status != http.StatusOK || off.reachedCount() != 1 {
		t.Fatalf("with chat_password_check off: %d %s, reached %d", res.status, res.raw, off.reachedCount())
	}
}
