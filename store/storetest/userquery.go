package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// queryFixture is the users the query tests look for: app 1's, by login,
// and one user of app 2 that no query of app 1 may find.
type queryFixture struct {
	ids  map[string]int64
	base time.Time // the first user's creation time, whole seconds
}

func (f queryFixture) id(logins ...string) []int64 {
	out := make([]int64, 0, len(logins))
	for _, l := range logins {
		out = append(out, f.ids[l])
	}
	return out
}

// makeQueryFixture creates five users a second apart, each field of each
// kind differing between them.
func makeQueryFixture(t *testing.T, s store.Store) queryFixture {
	t.Helper()
	mustPutApp(t, s, newApp(1))
	mustPutApp(t, s, newApp(2))
	f := queryFixture{ids: map[string]int64{}, base: now().Truncate(time.Second).Add(-10 * time.Hour)}
	for i, spec := range []struct {
		login, name, phone, tags, ext string
		requested                     bool
	}{
		{"anna", "Anna Apple", "+111", "vip, Accountant", "E-1", true},
		{"bob", "Bob Stone", "+222", "accountant", "", false},
		{"carol", "carol apple", "", "", "e-3", true},
		{"dave", "Dave Applebaum", "+444", "vip", "", false},
		{"erin", "", "+555", "driver,vip", "77", true},
	} {
		u := newUser(1, spec.login, spec.login+"@x.test")
		u.FullName, u.Phone, u.Tags, u.ExternalID = spec.name, spec.phone, spec.tags, spec.ext
		u.FacebookID, u.TwitterID = "", ""
		if spec.login == "bob" {
			u.FacebookID, u.TwitterID = "FB-7", "tw-7"
		}
		u.CreatedAt = f.base.Add(time.Duration(i) * time.Second).Add(300 * time.Millisecond)
		u.UpdatedAt = u.CreatedAt.Add(time.Duration(10-i) * time.Minute)
		u.LastRequestAt = time.Time{}
		if spec.requested {
			u.LastRequestAt = u.CreatedAt.Add(time.Duration(i) * time.Hour)
		}
		f.ids[spec.login] = mustCreateUser(t, s, u).ID
	}
	other := newUser(2, "anna", "anna@x.test")
	other.Tags = "vip"
	f.ids["other"] = mustCreateUser(t, s, other).ID
	return f
}

func testUserQueries(t *testing.T, h Harness) {
	t.Run("every field and operator selects as documented", func(t *testing.T) {
		s := openFresh(t, h)
		f := makeQueryFixture(t, s)
		at := func(i int) time.Time { return f.base.Add(time.Duration(i) * time.Second) }
		text := store.WhereText
		for _, tc := range []struct {
			name  string
			where []store.UserCondition
			want  []string
		}{
			{"id eq", []store.UserCondition{store.WhereID(store.OpEq, f.ids["bob"])}, []string{"bob"}},
			{"id in, across apps", []store.UserCondition{store.WhereID(store.OpIn, f.ids["erin"], f.ids["anna"], f.ids["other"])}, []string{"anna", "erin"}},
			{"id nin", []store.UserCondition{store.WhereID(store.OpNotIn, f.ids["bob"], f.ids["carol"])}, []string{"anna", "dave", "erin"}},
			{"id gt", []store.UserCondition{store.WhereID(store.OpGt, f.ids["carol"])}, []string{"dave", "erin"}},
			{"id lte", []store.UserCondition{store.WhereID(store.OpLte, f.ids["bob"])}, []string{"anna", "bob"}},
			{"login eq, folded", []store.UserCondition{text(store.FieldLogin, store.OpEq, "CAROL")}, []string{"carol"}},
			{"login in", []store.UserCondition{text(store.FieldLogin, store.OpIn, "dave", "nobody", "Anna")}, []string{"anna", "dave"}},
			{"login start_with", []store.UserCondition{text(store.FieldLogin, store.OpPrefix, "ER")}, []string{"erin"}},
			{"email eq", []store.UserCondition{text(store.FieldEmail, store.OpEq, "Bob@X.test")}, []string{"bob"}},
			{"full_name eq, folded", []store.UserCondition{text(store.FieldFullName, store.OpEq, "CAROL APPLE")}, []string{"carol"}},
			{"full_name start_with", []store.UserCondition{text(store.FieldFullName, store.OpPrefix, "dave app")}, []string{"dave"}},
			{"full_name start_with, several", []store.UserCondition{text(store.FieldFullName, store.OpPrefix, "ANNA")}, []string{"anna"}},
			{"full_name nin keeps users without one", []store.UserCondition{text(store.FieldFullName, store.OpNotIn, "bob stone", "anna apple")}, []string{"carol", "dave", "erin"}},
			{"phone eq", []store.UserCondition{text(store.FieldPhone, store.OpEq, "+444")}, []string{"dave"}},
			{"external_id eq, folded", []store.UserCondition{text(store.FieldExternalID, store.OpEq, "e-1")}, []string{"anna"}},
			{"external_id in", []store.UserCondition{text(store.FieldExternalID, store.OpIn, "E-3", "77")}, []string{"carol", "erin"}},
			{"facebook_id eq", []store.UserCondition{text(store.FieldFacebookID, store.OpEq, "fb-7")}, []string{"bob"}},
			{"twitter_id eq", []store.UserCondition{text(store.FieldTwitterID, store.OpEq, "TW-7")}, []string{"bob"}},
			{"a tag", []store.UserCondition{text(store.FieldTags, store.OpEq, "VIP")}, []string{"anna", "dave", "erin"}},
			{"a tag written with a space", []store.UserCondition{text(store.FieldTags, store.OpEq, "accountant")}, []string{"anna", "bob"}},
			{"any of the tags", []store.UserCondition{text(store.FieldTags, store.OpIn, "driver", "accountant")}, []string{"anna", "bob", "erin"}},
			{"a tag start_with", []store.UserCondition{text(store.FieldTags, store.OpPrefix, "driv")}, []string{"erin"}},
			{"none of the tags", []store.UserCondition{text(store.FieldTags, store.OpNotIn, "vip")}, []string{"bob", "carol"}},
			{"created_at gt is to the second", []store.UserCondition{store.WhereTime(store.FieldCreatedAt, store.OpGt, at(2))}, []string{"dave", "erin"}},
			{"created_at gte", []store.UserCondition{store.WhereTime(store.FieldCreatedAt, store.OpGte, at(2))}, []string{"carol", "dave", "erin"}},
			{"created_at lt", []store.UserCondition{store.WhereTime(store.FieldCreatedAt, store.OpLt, at(1))}, []string{"anna"}},
			{"created_at lte is to the second", []store.UserCondition{store.WhereTime(store.FieldCreatedAt, store.OpLte, at(1))}, []string{"anna", "bob"}},
			{"created_at eq is to the second", []store.UserCondition{store.WhereTime(store.FieldCreatedAt, store.OpEq, at(3))}, []string{"dave"}},
			{"updated_at lt", []store.UserCondition{store.WhereTime(store.FieldUpdatedAt, store.OpLt, at(0).Add(8*time.Minute))}, []string{"dave", "erin"}},
			{"last_request_at gte skips users that made none", []store.UserCondition{store.WhereTime(store.FieldLastRequestAt, store.OpGte, at(0))}, []string{"anna", "carol", "erin"}},
			{"last_request_at lt", []store.UserCondition{store.WhereTime(store.FieldLastRequestAt, store.OpLt, at(0).Add(3*time.Hour))}, []string{"anna", "carol"}},
			{"last_request_at nin keeps users that made none", []store.UserCondition{store.WhereTime(store.FieldLastRequestAt, store.OpNotIn, at(0))}, []string{"bob", "carol", "dave", "erin"}},
			{"all of several conditions", []store.UserCondition{
				text(store.FieldTags, store.OpEq, "vip"),
				text(store.FieldPhone, store.OpIn, "+111", "+555", "+444"),
				store.WhereID(store.OpNotIn, f.ids["dave"]),
				store.WhereTime(store.FieldCreatedAt, store.OpLt, at(4)),
			}, []string{"anna"}},
			{"no match", []store.UserCondition{text(store.FieldLogin, store.OpEq, "zed")}, nil},
		} {
			users, total, err := s.ListUsers(t.Context(), store.UserQuery{AppID: 1, Where: tc.where})
			wantErr(t, "ListUsers "+tc.name, err, nil)
			wantUserIDs(t, "ListUsers "+tc.name, users, f.id(tc.want...)...)
			if total != len(tc.want) {
				t.Fatalf("ListUsers %s: total = %d, want %d", tc.name, total, len(tc.want))
			}
		}
	})

	t.Run("results sort by any field either way, ties by ID, and page after sorting", func(t *testing.T) {
		s := openFresh(t, h)
		f := makeQueryFixture(t, s)
		for _, tc := range []struct {
			sort          store.UserField
			desc          bool
			offset, limit int
			want          []string
		}{
			{"", false, 0, 0, []string{"anna", "bob", "carol", "dave", "erin"}},
			{store.FieldID, true, 0, 0, []string{"erin", "dave", "carol", "bob", "anna"}},
			{store.FieldFullName, false, 0, 0, []string{"erin", "anna", "bob", "carol", "dave"}},
			{store.FieldFullName, true, 0, 0, []string{"dave", "carol", "bob", "anna", "erin"}},
			{store.FieldPhone, false, 0, 0, []string{"carol", "anna", "bob", "dave", "erin"}},
			{store.FieldUpdatedAt, false, 0, 0, []string{"erin", "dave", "carol", "bob", "anna"}},
			{store.FieldCreatedAt, true, 1, 2, []string{"dave", "carol"}},
			{store.FieldLastRequestAt, false, 0, 0, []string{"bob", "dave", "anna", "carol", "erin"}},
			{store.FieldLastRequestAt, true, 0, 3, []string{"erin", "carol", "anna"}},
			{store.FieldLogin, true, 3, 10, []string{"bob", "anna"}},
		} {
			what := fmt.Sprintf("ListUsers sorted by %q desc=%v offset %d limit %d", tc.sort, tc.desc, tc.offset, tc.limit)
			users, total, err := s.ListUsers(t.Context(), store.UserQuery{AppID: 1, SortBy: tc.sort, Descending: tc.desc, Offset: tc.offset, Limit: tc.limit})
			wantErr(t, what, err, nil)
			wantUserIDs(t, what, users, f.id(tc.want...)...)
			if total != 5 {
				t.Fatalf("%s: total = %d, want 5", what, total)
			}
		}
		users, total, err := s.ListUsers(t.Context(), store.UserQuery{AppID: 1, SortBy: store.FieldFullName,
			Where: []store.UserCondition{store.WhereText(store.FieldTags, store.OpEq, "vip")}, Offset: 1, Limit: 1})
		wantErr(t, "ListUsers a sorted page of a filter", err, nil)
		wantUserIDs(t, "ListUsers a sorted page of a filter", users, f.id("anna")...)
		if total != 3 {
			t.Fatalf("ListUsers a sorted page of a filter: total = %d, want 3", total)
		}
	})

	t.Run("the indexes follow updates, deletions and reopening", func(t *testing.T) {
		open := h.New(t)
		s := openWith(t, open)
		f := makeQueryFixture(t, s)
		byTag := store.UserQuery{AppID: 1, Where: []store.UserCondition{store.WhereText(store.FieldTags, store.OpEq, "vip")}}
		byName := func(name string) store.UserQuery {
			return store.UserQuery{AppID: 1, Where: []store.UserCondition{store.WhereText(store.FieldFullName, store.OpEq, name)}}
		}
		want := func(what string, q store.UserQuery, logins ...string) {
			t.Helper()
			users, total, err := s.ListUsers(t.Context(), q)
			wantErr(t, what, err, nil)
			wantUserIDs(t, what, users, f.id(logins...)...)
			if total != len(logins) {
				t.Fatalf("%s: total = %d, want %d", what, total, len(logins))
			}
		}
		anna, err := s.GetUser(t.Context(), 1, f.ids["anna"])
		wantErr(t, "GetUser", err, nil)
		anna.Tags, anna.FullName = "driver", "Anna Zed"
		wantErr(t, "UpdateUser", s.UpdateUser(t.Context(), anna), nil)
		want("by an old tag after an update", byTag, "dave", "erin")
		want("by an old name after an update", byName("anna apple"))
		want("by the new name after an update", byName("anna zed"), "anna")
		wantErr(t, "DeleteUser", s.DeleteUser(t.Context(), 1, f.ids["dave"]), nil)
		want("by tag after a deletion", byTag, "erin")

		wantErr(t, "Close", s.Close(), nil)
		s = openWith(t, open)
		want("by tag after reopening", byTag, "erin")
		want("by name after reopening", byName("anna zed"), "anna")
	})

	t.Run("TouchUser keeps last_request_at to the minute and findable", func(t *testing.T) {
		s := openFresh(t, h)
		f := makeQueryFixture(t, s)
		bob := f.ids["bob"]
		first := now()
		wantErr(t, "TouchUser", s.TouchUser(t.Context(), 1, bob, first), nil)
		wantErr(t, "TouchUser again within the minute", s.TouchUser(t.Context(), 1, bob, first.Add(30*time.Second)), nil)
		u, err := s.GetUser(t.Context(), 1, bob)
		wantErr(t, "GetUser", err, nil)
		if !u.LastRequestAt.Equal(first) {
			t.Fatalf("LastRequestAt = %v, want the first touch %v (the second came within a minute)", u.LastRequestAt, first)
		}
		later := first.Add(store.LastRequestPrecision)
		wantErr(t, "TouchUser a minute later", s.TouchUser(t.Context(), 1, bob, later), nil)
		users, _, err := s.ListUsers(t.Context(), store.UserQuery{AppID: 1, Where: []store.UserCondition{
			store.WhereTime(store.FieldLastRequestAt, store.OpGte, first.Add(time.Second))}})
		wantErr(t, "ListUsers by the new last_request_at", err, nil)
		wantUserIDs(t, "ListUsers by the new last_request_at", users, bob)
		if !users[0].LastRequestAt.Equal(later) || users[0].FullName != "Bob Stone" {
			t.Fatalf("after the touch: %+v, want LastRequestAt %v and every other field kept", users[0], later)
		}
		wantErr(t, "TouchUser of a missing user", s.TouchUser(t.Context(), 1, bob+1000, later), store.ErrNotFound)
	})

	t.Run("a malformed query is refused", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		for name, q := range map[string]store.UserQuery{
			"unknown field":     {AppID: 1, Where: []store.UserCondition{store.WhereText("password", store.OpEq, "x")}},
			"text compared":     {AppID: 1, Where: []store.UserCondition{store.WhereText(store.FieldLogin, store.OpGt, "x")}},
			"prefix of an ID":   {AppID: 1, Where: []store.UserCondition{store.WhereID(store.OpPrefix, 1)}},
			"operand mismatch":  {AppID: 1, Where: []store.UserCondition{{Field: store.FieldID, Op: store.OpEq, Text: []string{"1"}}}},
			"two operands":      {AppID: 1, Where: []store.UserCondition{store.WhereText(store.FieldLogin, store.OpEq, "a", "b")}},
			"empty in":          {AppID: 1, Where: []store.UserCondition{store.WhereID(store.OpIn)}},
			"sort by tags":      {AppID: 1, SortBy: store.FieldTags},
			"unknown operator":  {AppID: 1, Where: []store.UserCondition{store.WhereID("between", 1)}},
			"sort by a nothing": {AppID: 1, SortBy: "custom_data"},
		} {
			_, _, err := s.ListUsers(t.Context(), q)
			if !errors.Is(err, store.ErrBadQuery) {
				t.Fatalf("ListUsers with %s: err = %v, want ErrBadQuery", name, err)
			}
		}
	})
}
