package caddymodule

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// The auth key is public (issue 12, items 1 and 2): what an app or guest
// session reaches, anyone reaches. These tests act as that anyone.

// signUp creates a user of app with an email and returns its ID.
func (ts *testServer) signUp(t *testing.T, app int, key, login, email, password string) string {
	t.Helper()
	res := ts.do("POST", "/users.json",
		`{"user":{"login":"`+login+`","email":"`+email+`","password":"`+password+`","full_name":"`+login+` X","custom_data":"{\"bio\":\"hi\"}"}}`,
		"CB-AuthKey", key, "CB-AppId", strconv.Itoa(app))
	if res.status != http.StatusCreated {
		t.Fatalf("sign up %s: %d %s", login, res.status, res.raw)
	}
	return strconv.Itoa(int(res.body["user"].(map[string]any)["id"].(float64)))
}

func appSessionToken(t *testing.T, ts *testServer, app int, key string) string {
	t.Helper()
	return ts.session(t, `{"application_id":`+strconv.Itoa(app)+`,"auth_key":"`+key+`"}`)["token"].(string)
}

func TestOtherSessionsSeeNoContactDetailsOfAUser(t *testing.T) {
	ts := newTestServer(t)
	idA := ts.signUp(t, 1, devKey, "anna", "anna@example.com", "supersecret")
	ts.signUp(t, 1, devKey, "boris", "boris@example.com", "supersecret")
	tokA := ts.session(t, userBody(1, devKey, "anna", "supersecret"))["token"].(string)
	tokB := ts.session(t, userBody(1, devKey, "boris", "supersecret"))["token"].(string)
	app := appSessionToken(t, ts, 1, devKey)

	// Development allows app sessions to list; nobody but anna sees her email.
	for name, tok := range map[string]string{"another user": tokB, "an app session": app} {
		for _, path := range []string{"/users/" + idA + ".json", "/users/by_login.json?login=anna", "/users/v2.json?id=" + idA} {
			res := ts.do("GET", path, "", "CB-Token", tok)
			if res.status != http.StatusOK {
				t.Fatalf("%s: GET %s: %d %s", name, path, res.status, res.raw)
			}
			if strings.Contains(res.raw, "anna@example.com") {
				t.Fatalf("%s: GET %s shows anna's email: %s", name, path, res.raw)
			}
			if !strings.Contains(res.raw, `"anna X"`) || !strings.Contains(res.raw, `bio`) {
				t.Fatalf("%s: GET %s hides the public profile (full_name, custom_data): %s", name, path, res.raw)
			}
		}
	}
	if res := ts.do("GET", "/users/"+idA+".json", "", "CB-Token", tokA); !strings.Contains(res.raw, "anna@example.com") {
		t.Fatalf("anna's own record lacks her email: %d %s", res.status, res.raw)
	}
}

func TestAnAppsConfigChoosesWhichUserFieldsArePublic(t *testing.T) {
	ts := newTestServer(t, func(h *Handler) {
		h.Apps[0].PublicUserFields = []string{"email"}
		h.Apps[0].PrivateUserFields = []string{"full_name"}
	})
	idA := ts.signUp(t, 1, devKey, "anna", "anna@example.com", "supersecret")
	app := appSessionToken(t, ts, 1, devKey)
	res := ts.do("GET", "/users/"+idA+".json", "", "CB-Token", app)
	if !strings.Contains(res.raw, "anna@example.com") || strings.Contains(res.raw, `"anna X"`) {
		t.Fatalf("email made public and full_name private, got %d %s", res.status, res.raw)
	}
	// With email public, a lookup by email is no oracle for what one cannot see.
	if res := ts.do("GET", "/users/by_email.json?email=anna@example.com", "", "CB-Token", app); res.status != http.StatusOK {
		t.Fatalf("lookup by a public email: %d %s", res.status, res.raw)
	}
}

func TestALookupByAPrivateEmailIsRefusedWhetherOrNotItExists(t *testing.T) {
	ts := newTestServer(t)
	ts.signUp(t, 1, devKey, "anna", "anna@example.com", "supersecret")
	ts.signUp(t, 1, devKey, "boris", "boris@example.com", "supersecret")
	tokB := ts.session(t, userBody(1, devKey, "boris", "supersecret"))["token"].(string)
	for _, email := range []string{"anna@example.com", "nobody@example.com"} {
		for _, path := range []string{"/users/by_email.json?email=" + email, "/users/v2.json?email[in][]=" + email} {
			expectError(t, ts.do("GET", path, "", "CB-Token", tokB), http.StatusForbidden, "email is private")
		}
	}
}

func TestProductionAppSessionsMayNotListUsersUnlessAllowed(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run("list_users allow="+strconv.FormatBool(allow), func(t *testing.T) {
			ts := newTestServer(t, func(h *Handler) {
				h.Apps[1].GuestSessions = "allow"
				if allow {
					h.Apps[1].ListUsers = "allow"
				}
			})
			idA := ts.signUp(t, 2, prodKey, "anna", "anna@example.com", "supersecret")
			app := appSessionToken(t, ts, 2, prodKey)
			guest := ts.session(t, `{"application_id":2,"auth_key":"`+prodKey+`","user":{"guest":"1"}}`)["token"].(string)
			for _, tok := range []string{app, guest} {
				for _, path := range []string{"/users/" + idA + ".json", "/users/by_login.json?login=anna", "/users/v2.json?id[in][]=" + idA, "/users.json?filter[]=string+login+eq+anna"} {
					res := ts.do("GET", path, "", "CB-Token", tok)
					if allow && res.status != http.StatusOK {
						t.Fatalf("allowed: GET %s: %d %s", path, res.status, res.raw)
					}
					if !allow {
						expectError(t, res, http.StatusForbidden, "Listing users is not allowed")
					}
				}
			}
			// A signed-in user may look others up either way.
			ts.signUp(t, 2, prodKey, "boris", "boris@example.com", "supersecret")
			tokB := ts.session(t, userBody(2, prodKey, "boris", "supersecret"))["token"].(string)
			if res := ts.do("GET", "/users/"+idA+".json", "", "CB-Token", tokB); res.status != http.StatusOK {
				t.Fatalf("a user looks up another in production: %d %s", res.status, res.raw)
			}
		})
	}
}

func TestALookupNamesAtMost100UsersAndIsThrottled(t *testing.T) {
	ts := newTestServer(t, func(h *Handler) {
		h.Limits = &LimitsConfig{LookupsPerSession: "150/1m"}
	})
	ts.signUp(t, 1, devKey, "anna", "anna@example.com", "supersecret")
	tok := ts.session(t, userBody(1, devKey, "anna", "supersecret"))["token"].(string)
	ids := func(n int) string {
		var q []string
		for i := 1; i <= n; i++ {
			q = append(q, "id[in][]="+strconv.Itoa(i))
		}
		return strings.Join(q, "&")
	}
	expectError(t, ts.do("GET", "/users/v2.json?"+ids(101), "", "CB-Token", tok), http.StatusUnprocessableEntity, "at most 100")
	if res := ts.do("GET", "/users/v2.json?"+ids(100), "", "CB-Token", tok); res.status != http.StatusOK {
		t.Fatalf("100 ids: %d %s", res.status, res.raw)
	}
	// 100 of the session's 150 are spent: 60 more is over.
	expectError(t, ts.do("GET", "/users/v2.json?"+ids(60), "", "CB-Token", tok), http.StatusTooManyRequests, "")
	if res := ts.do("GET", "/users/v2.json?"+ids(50), "", "CB-Token", tok); res.status != http.StatusOK {
		t.Fatalf("the last 50 of the budget: %d %s", res.status, res.raw)
	}
	expectError(t, ts.do("GET", "/users/by_login.json?login=anna", "", "CB-Token", tok), http.StatusTooManyRequests, "")
}

func TestGuestSessionsFollowSessionWithoutUserAndCountAsSignups(t *testing.T) {
	guest := func(app int, key string) string {
		return `{"application_id":` + strconv.Itoa(app) + `,"auth_key":"` + key + `","user":{"guest":"1","full_name":"G"}}`
	}
	t.Run("production denies guests by default", func(t *testing.T) {
		ts := newTestServer(t)
		expectError(t, ts.do("POST", "/session.json", guest(2, prodKey)), http.StatusForbidden, "Guest sessions are not allowed")
	})
	t.Run("session_without_user deny denies guests in development", func(t *testing.T) {
		ts := newTestServer(t, func(h *Handler) { h.Apps[0].SessionWithoutUser = "deny" })
		expectError(t, ts.do("POST", "/session.json", guest(1, devKey)), http.StatusForbidden, "Guest sessions are not allowed")
	})
	t.Run("guest_sessions allow overrides, within signups_per_ip", func(t *testing.T) {
		ts := newTestServer(t, func(h *Handler) {
			h.Apps[1].GuestSessions = "allow"
			h.Limits = &LimitsConfig{SignupsPerIP: "3/1m"}
		})
		for range 3 {
			ts.session(t, guest(2, prodKey))
		}
		expectError(t, ts.do("POST", "/session.json", guest(2, prodKey)), http.StatusTooManyRequests, "")
	})
}

func TestAnAppsMinimumPasswordLengthAppliesToSignupAndChange(t *testing.T) {
	ts := newTestServer(t, func(h *Handler) { h.Apps[1].MinPasswordLength = 12 })
	signup := func(login, password string) response {
		return ts.do("POST", "/users.json", `{"user":{"login":"`+login+`","password":"`+password+`"}}`, "CB-AuthKey", prodKey)
	}
	expectError(t, signup("anna", "elevenchars"), http.StatusUnprocessableEntity, "password")
	// Characters, not bytes: twelve two-byte letters pass.
	if res := signup("anna", "ääääääääääää"); res.status != http.StatusCreated {
		t.Fatalf("12-character password: %d %s", res.status, res.raw)
	}
	s := ts.session(t, `{"application_id":2,"auth_key":"`+prodKey+`","user":{"login":"anna","password":"ääääääääääää"}}`)
	id := strconv.Itoa(int(s["user_id"].(float64)))
	expectError(t, ts.do("PUT", "/users/"+id+".json", `{"user":{"password":"short-pass1","old_password":"ääääääääääää"}}`, "CB-Token", s["token"].(string)),
		http.StatusUnprocessableEntity, "password")
	// The development app keeps the default of 8.
	if res := ts.do("POST", "/users.json", `{"user":{"login":"boris","password":"eightchr"}}`, "CB-AuthKey", devKey); res.status != http.StatusCreated {
		t.Fatalf("8-character password on a default app: %d %s", res.status, res.raw)
	}
}

func TestAppPolicyConfigIsValidatedAtLoad(t *testing.T) {
	for name, bad := range map[string]AppConfig{
		"unknown field":        {ID: 3, PublicUserFields: []string{"password_hash"}},
		"public and private":   {ID: 3, PublicUserFields: []string{"email"}, PrivateUserFields: []string{"email"}},
		"min password too low": {ID: 3, MinPasswordLength: 4},
		"min password too big": {ID: 3, MinPasswordLength: 1000},
		"bad permission":       {ID: 3, ListUsers: "maybe"},
	} {
		h := &Handler{Apps: []AppConfig{bad}}
		if _, err := h.configApps(nil); err == nil {
			t.Errorf("%s: configApps accepted %+v", name, bad)
		}
	}
}

func TestChangingTheEmailIsNoUnthrottledOracleForWhoHasAnAddress(t *testing.T) {
	ts := newTestServer(t)
	ts.signUp(t, 2, prodKey, "anna", "anna@example.com", "supersecret")
	id := ts.signUp(t, 2, prodKey, "mallory", "mallory@example.com", "supersecret")
	tok := ts.session(t, `{"application_id":2,"auth_key":"`+prodKey+`","user":{"login":"mallory","password":"supersecret"}}`)["token"].(string)
	probe := func(email string) response {
		return ts.do("PUT", "/users/"+id+".json", `{"user":{"email":"`+email+`"}}`, "CB-Token", tok)
	}
	expectError(t, probe("anna@example.com"), http.StatusUnprocessableEntity, "has already been taken")
	for i := range 9 { // the rest of the default 10 an hour
		if res := probe("probe" + strconv.Itoa(i) + "@example.com"); res.status != http.StatusOK {
			t.Fatalf("email change %d: %d %s", i+2, res.status, res.raw)
		}
	}
	expectError(t, probe("anna@example.com"), http.StatusTooManyRequests, "")
	// Other changes go on.
	if res := ts.do("PUT", "/users/"+id+".json", `{"user":{"full_name":"M"}}`, "CB-Token", tok); res.status != http.StatusOK {
		t.Fatalf("a full_name change after the email limit: %d %s", res.status, res.raw)
	}
}
