package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cubeauth/cubeauth/internal/testcaddy"
)

// The users API examples of ConnectyCube/docs users.md (the v2 query, the
// deprecated v1 list and lookups, users/external), sent as written with
// curl through a real Caddy. The app makes the looked-up fields public, as
// an app whose users find each other by phone or Facebook ID would: by
// default they are private (authcore/privacy.go).
const (
	docsUsersV2Full = `curl -X GET \
-H "CB-Token: <TOKEN>" \
-d 'id[in][]=52671&id[in][]=51943&phone=5464579797975&last_request_at[gt]=2018-12-06T09:21:41Z&sort_desc=id&limit=10' \
https://api.connectycube.com/users/v2`
	docsV1PerPage = `curl -X GET \
-H "CB-Token: <TOKEN>" \
-d "per_page=7" \
https://api.connectycube.com/users`
	docsV1Filter = `curl -X GET \
-H "CB-Token: <TOKEN>" \
-d 'filter[]=number+id+gt+51946' \
https://api.connectycube.com/users`
	docsV1OrderFullName = `curl -X GET \
-H "CB-Token: <TOKEN>" \
-d 'order=desc+string+full_name' \
https://api.connectycube.com/users`
	docsV1OrderLogin = `curl -X GET \
-H "CB-Token: <TOKEN>" \
-d 'order=asc+string+login' \
https://api.connectycube.com/users`
	docsByFullName = `curl -X GET \
-H "CB-Token: <TOKEN>" \
-d 'full_name=Gabrielle%20Corcoran' \
https://api.connectycube.com/users/by_full_name`
	docsByFacebookID = `curl -X GET \
-H "CB-Token: <TOKEN>" \
-d 'facebook_id=95610574' \
https://api.connectycube.com/users/by_facebook_id`
	docsByTwitterID = `curl -X GET \
-H "CB-Token: <TOKEN>" \
-d 'twitter_id=83510562734' \
https://api.connectycube.com/users/by_twitter_id`
	docsByEmail = `curl -X GET \
-H "CB-Token: <TOKEN>" \
-d 'email=dacia_k@domain.com' \
https://api.connectycube.com/users/by_email`
	docsByTags = `curl -X GET \
-H "CB-Token: <TOKEN>" \
-d 'tags=accountant' \
https://api.connectycube.com/users/by_tags`
	docsByExternal = `curl -X GET \
-H "CB-Token: <TOKEN>" \
https://api.connectycube.com/users/external/52691165`
	docsDeleteExternal = `curl -X DELETE \
-H "CB-Token: <TOKEN>" \
https://api.connectycube.com/users/external/52691165`
)

func TestTheDocsUsersAPIExamplesWorkAsWritten(t *testing.T) {
	t.Parallel()
	srv := &server{dir: t.TempDir()}
	srv.start(t, func(p *testcaddy.Ports) string {
		srv.backend = p.Port("backend")
		return strings.Replace(srv.caddyfile("development"), "\t\t\tstage development\n",
			"\t\t\tstage development\n\t\t\tpublic_user_fields email phone facebook_id twitter_id external_id\n", 1)
	})
	c := newClient(t, srv)
	sfx := uniqueSuffix(t)
	ids := map[string]string{}
	signUp := func(name string, fields map[string]any) {
		t.Helper()
		fields["login"], fields["password"] = name+sfx, "petU4or!xx"
		u := decodeUser(t, c.postJSON("/users", map[string]any{"user": fields}, "CB-AuthKey", devAuthKey).want(t, 201))
		ids[name] = strconv.FormatInt(u.ID, 10)
	}
	// The docs' own users, in the order of their IDs there.
	signUp("dacia", map[string]any{"full_name": "Dacia Kail", "email": "dacia_k@domain.com", "facebook_id": "91234409",
		"twitter_id": "83510562734", "external_user_id": 52691165, "phone": "+6110797757"})
	signUp("ppavalli", map[string]any{"full_name": "Pallavi Purushottam", "tag_list": "accountant"})
	signUp("gabby", map[string]any{"full_name": "Gabrielle Corcoran", "facebook_id": "95610574", "tag_list": []string{"vip", "accountant"}})
	signUp("smithguest18", map[string]any{"full_name": "David Smith", "phone": "5464579797975"})
	session := func(login string) string {
		t.Helper()
		return decodeSession(t, c.postJSON("/session", map[string]any{"application_id": 1, "auth_key": devAuthKey,
			"user": map[string]any{"login": login + sfx, "password": "petU4or!xx"}}).want(t, 201)).Token
	}
	session("smithguest18") // David's last_request_at is now
	token := session("dacia")
	// Each example names the docs' IDs; here they are these users'.
	names := []string{"<TOKEN>", token, "52671", ids["smithguest18"], "51943", ids["ppavalli"], "51946", ids["gabby"]}
	curl := func(what, example string, want int) map[string]any {
		t.Helper()
		st, body := docsCurl(t, srv, example, names...)
		return docsJSON(t, what, st, body, want)
	}
	loginsOf := func(items []any, wrapped bool) string {
		var out []string
		for _, it := range items {
			u := it.(map[string]any)
			if wrapped {
				u = u["user"].(map[string]any)
			}
			out = append(out, strings.TrimSuffix(fmt.Sprint(u["login"]), sfx))
		}
		return strings.Join(out, ",")
	}

	v2 := curl("users/v2, the docs' whole example", docsUsersV2Full, 200)
	if v2["total_entries"] != float64(1) || v2["limit"] != float64(10) || v2["skip"] != float64(0) ||
		loginsOf(v2["items"].([]any), false) != "smithguest18" {
		t.Fatalf("users/v2: %v", v2)
	}
	if item := v2["items"].([]any)[0].(map[string]any); item["last_request_at"] == nil || item["phone"] != "5464579797975" {
		t.Fatalf("users/v2 item: %v", item)
	}

	v1 := curl("v1 per_page", docsV1PerPage, 200)
	if v1["current_page"] != float64(1) || v1["per_page"] != float64(7) || v1["total_entries"].(float64) < 4 {
		t.Fatalf("v1 list: %v", v1)
	}
	if got := loginsOf(curl("v1 filter", docsV1Filter, 200)["items"].([]any), true); got != "smithguest18" {
		t.Fatalf("v1 filter id gt gabby: %q", got)
	}
	if got := loginsOf(curl("v1 order by full_name", docsV1OrderFullName, 200)["items"].([]any), true); !strings.HasPrefix(got, "ppavalli,gabby,smithguest18,dacia") {
		t.Fatalf("v1 order desc full_name: %q", got)
	}
	if got := loginsOf(curl("v1 order by login", docsV1OrderLogin, 200)["items"].([]any), true); !strings.HasPrefix(got, "dacia,gabby,ppavalli,smithguest18") {
		t.Fatalf("v1 order asc login: %q", got)
	}

	byName := curl("by_full_name", docsByFullName, 200)
	if byName["total_entries"] != float64(1) || loginsOf(byName["items"].([]any), true) != "gabby" {
		t.Fatalf("by_full_name: %v", byName)
	}
	byTags := curl("by_tags", docsByTags, 200)
	if got := loginsOf(byTags["items"].([]any), true); got != "ppavalli,gabby" {
		t.Fatalf("by_tags accountant: %q", got)
	}
	if tags := byTags["items"].([]any)[1].(map[string]any)["user"].(map[string]any)["user_tags"]; tags != "vip,accountant" {
		t.Fatalf("user_tags answered as %v, want the docs' \"vip,accountant\"", tags)
	}
	for what, example := range map[string]string{"by_facebook_id": docsByFacebookID, "by_twitter_id": docsByTwitterID,
		"by_email": docsByEmail, "users/external": docsByExternal} {
		u := curl(what, example, 200)["user"].(map[string]any)
		want := "dacia"
		if what == "by_facebook_id" {
			want = "gabby"
		}
		if got := strings.TrimSuffix(fmt.Sprint(u["login"]), sfx); got != want {
			t.Fatalf("%s found %q, want %q", what, got, want)
		}
		if what == "users/external" && u["external_user_id"] != float64(52691165) {
			t.Fatalf("users/external: %v", u)
		}
	}

	// Users delete only themselves: David may not delete Dacia by her
	// external ID; Dacia may.
	if st, body := docsCurl(t, srv, docsDeleteExternal, "<TOKEN>", session("smithguest18")); st != 403 {
		t.Fatalf("another user deleting dacia by external id: %d %s", st, body)
	}
	if st, body := docsCurl(t, srv, docsDeleteExternal, names...); st != 200 {
		t.Fatalf("dacia deleting herself by external id: %d %s", st, body)
	}
	if st, body := docsCurl(t, srv, docsByExternal, "<TOKEN>", session("gabby")); st != 404 {
		t.Fatalf("after the deletion, users/external: %d %s", st, body)
	}
}
