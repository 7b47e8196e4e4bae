package caddymodule

import (
	"regexp"
	"strconv"
	"testing"
)

func TestUsersCarryAStable24HexObjectID(t *testing.T) {
	ts := newTestServer(t)
	s := ts.session(t, userBody(1, devKey, "olga", "supersecret"))
	oid, _ := s["user"].(map[string]any)["_id"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(oid) {
		t.Fatalf("session.user._id = %q, want 24 hex digits", oid)
	}
	id := strconv.Itoa(int(s["user_id"].(float64)))
	res := ts.do("GET", "/users/"+id+".json", "", "CB-Token", s["token"].(string))
	if got := res.body["user"].(map[string]any)["_id"]; got != oid {
		t.Fatalf("GET /users/%s _id = %v, session answer had %q", id, got, oid)
	}
	other := ts.session(t, userBody(1, devKey, "pavel", "supersecret"))["user"].(map[string]any)["_id"]
	if other == oid {
		t.Fatalf("two users share _id %q", oid)
	}
}
