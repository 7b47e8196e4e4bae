package caddymodule

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// users/v2's documented rules, and the queries the older endpoints read,
// refused in ConnectyCube's error shape when malformed.
func TestUsersV2FollowsTheDocumentedRules(t *testing.T) {
	ts := newTestServer(t)
	for _, login := range []string{"anna", "annabel", "boris"} {
		ts.signUp(t, 1, devKey, login, login+"@example.com", "supersecret")
	}
	tok := ts.session(t, userBody(1, devKey, "boris", "supersecret"))["token"].(string)
	get := func(query string) response { return ts.do("GET", "/users/v2.json?"+query, "", "CB-Token", tok) }

	for query, want := range map[string]string{
		"created_at[gte]=2019-11-06T09:21:41Z": "a query needs a filter on id, login",
		"login[nin][]=anna":                    "a query needs a filter on id, login",
		"login[start_with]=ann":                "start_with needs at least 4 characters",
		"id[gt]=1":                             "cannot be compared",
		"login[gt]=a&id=1":                     "cannot be compared",
		"password=x":                           "is not a supported filter",
		"login[like]=x":                        "is not a supported filter",
		"id=abc":                               "must be an integer",
		"id=1&created_at[gt]=yesterday":        "must be a date",
		"id=1&sort_asc=user_tags":              "is not a field users can be sorted by",
		"login=anna&login=boris":               "takes one value",
	} {
		expectError(t, get(query), http.StatusUnprocessableEntity, want)
	}
	// Phone is private by default: neither a filter nor a sort may probe it.
	expectError(t, get("phone=%2B1234"), http.StatusForbidden, "phone is private")
	expectError(t, get("login=anna&sort_desc=phone"), http.StatusForbidden, "phone is private")

	res := get("login[start_with]=ANNA")
	if res.status != http.StatusOK || res.body["limit"] != float64(5) || res.body["total_entries"] != float64(2) {
		t.Fatalf("start_with: %d %s; want limit 5 and 2 users", res.status, res.raw)
	}
	res = get("login[in][]=anna&login[in][]=boris&login[in][]=annabel&sort_desc=login&limit=2&offset=1")
	if res.status != http.StatusOK || res.body["skip"] != float64(1) || res.body["total_entries"] != float64(3) {
		t.Fatalf("in, sorted and paged: %d %s", res.status, res.raw)
	}
	items := res.body["items"].([]any)
	if len(items) != 2 || items[0].(map[string]any)["login"] != "annabel" || items[1].(map[string]any)["login"] != "anna" {
		t.Fatalf("login desc, skipping boris: %s", res.raw)
	}
}

func TestTheV1ListReadsFiltersAndOrderAndAnswersItsOwnShape(t *testing.T) {
	ts := newTestServer(t)
	for i := range 12 {
		ts.signUp(t, 1, devKey, fmt.Sprintf("user%02d", i), fmt.Sprintf("u%d@example.com", i), "supersecret")
	}
	tok := ts.session(t, userBody(1, devKey, "user00", "supersecret"))["token"].(string)
	res := ts.do("GET", "/users.json?page=2&order=desc+string+login", "", "CB-Token", tok)
	if res.status != http.StatusOK || res.body["current_page"] != float64(2) || res.body["per_page"] != float64(10) ||
		res.body["total_entries"] != float64(12) {
		t.Fatalf("v1 page 2: %d %s", res.status, res.raw)
	}
	items := res.body["items"].([]any)
	if len(items) != 2 || items[0].(map[string]any)["user"].(map[string]any)["login"] != "user01" {
		t.Fatalf("v1 page 2 of logins desc: %s", res.raw)
	}
	res = ts.do("GET", "/users.json?filter[]=string+login+in+user03,user05&filter[]=date+created_at+ge+2020-01-01", "", "CB-Token", tok)
	if res.status != http.StatusOK || res.body["total_entries"] != float64(2) {
		t.Fatalf("v1 in and a date: %d %s", res.status, res.raw)
	}
	res = ts.do("GET", "/users.json?filter[]=number+id+between+2,4", "", "CB-Token", tok)
	if res.status != http.StatusOK || res.body["total_entries"] != float64(3) {
		t.Fatalf("v1 between: %d %s", res.status, res.raw)
	}
	for query, want := range map[string]string{
		"filter[]=number+id":                "must be a type, a field, an operator and a value",
		"filter[]=string+custom_data+eq+x":  "custom_data is not a field users can be filtered by",
		"filter[]=string+login+like+x":      "must be a type, a field, an operator and a value",
		"order=sideways+string+login":       "must be asc|desc",
		"per_page=0":                        "is not a supported filter",
		"filter[]=number+id+between+2":      "must be a type, a field, an operator and a value",
		"filter[]=string+login+gt+b":        "text fields are not compared",
		"filter[]=date+created_at+gt+later": "must be a date",
	} {
		expectError(t, ts.do("GET", "/users.json?"+query, "", "CB-Token", tok), http.StatusUnprocessableEntity, want)
	}
}

// A list costs what it shows: paging through an app's users spends the
// session's lookup budget by the user, as naming them would.
func TestListingUsersSpendsTheLookupBudgetPerUserShown(t *testing.T) {
	ts := newTestServer(t)
	for i := range 30 {
		ts.signUp(t, 1, devKey, fmt.Sprintf("user%02d", i), fmt.Sprintf("u%d@example.com", i), "supersecret")
	}
	tok := ts.session(t, userBody(1, devKey, "user00", "supersecret"))["token"].(string)
	pages := 0
	for ; pages < 100; pages++ {
		res := ts.do("GET", "/users.json?per_page=30", "", "CB-Token", tok)
		if res.status == http.StatusTooManyRequests {
			break
		}
		if res.status != http.StatusOK {
			t.Fatalf("page %d: %d %s", pages, res.status, res.raw)
		}
	}
	// lookups_per_session is 600 a minute: 20 pages of 30.
	if pages != 20 {
		t.Fatalf("%d pages of 30 users before 429, want 20 (600 users)", pages)
	}
	if res := ts.do("GET", "/users/v2.json?id=1", "", "CB-Token", tok); res.status != http.StatusTooManyRequests ||
		!strings.Contains(res.raw, "errors") {
		t.Fatalf("after the budget, a lookup: %d %s", res.status, res.raw)
	}
}
