package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// The user query benchmarks, shared by the drivers: each loads BenchUser(i)
// for i in [0, n) into app 1 by its own fast path and calls
// BenchmarkUserQueries.

// BenchEpoch is the creation time of BenchUser(0); user i was created i
// seconds later.
var BenchEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// BenchUser is the i-th user of the benchmarks' app 1: every 100th shares
// a tag (t0..), a full name per 1000 (Name 0..), a phone and login of its
// own.
func BenchUser(i int) store.User {
	created := BenchEpoch.Add(time.Duration(i) * time.Second)
	return store.User{
		AppID:        1,
		Login:        fmt.Sprintf("user%07d", i),
		Email:        fmt.Sprintf("user%07d@example.test", i),
		FullName:     fmt.Sprintf("Name %d Person", i%1000),
		Phone:        fmt.Sprintf("+1555%07d", i),
		Tags:         fmt.Sprintf("t%d,all", i%10000),
		ExternalID:   fmt.Sprint(1_000_000_000 + i),
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		CreatedAt:    created,
		UpdatedAt:    created,
	}
}

// BenchmarkUserQueries runs the documented kinds of users/v2 query
// against a store holding BenchUser(0..n-1), each with the page size and
// total the HTTP layer asks for.
func BenchmarkUserQueries(b *testing.B, s store.Store, n int) {
	mid := n / 2
	for _, bc := range []struct {
		name  string
		q     store.UserQuery
		total int
	}{
		{"login=eq", store.UserQuery{Where: []store.UserCondition{store.WhereText(store.FieldLogin, store.OpEq, fmt.Sprintf("USER%07d", mid))}}, 1},
		{"phone=eq", store.UserQuery{Where: []store.UserCondition{store.WhereText(store.FieldPhone, store.OpEq, BenchUser(mid).Phone)}}, 1},
		{"id[in]=100", store.UserQuery{Where: []store.UserCondition{store.WhereID(store.OpIn, benchIDs(mid, 100)...)}}, 100},
		{"external_id[in]=10", store.UserQuery{Where: []store.UserCondition{store.WhereText(store.FieldExternalID, store.OpIn, benchExternalIDs(mid, 10)...)}}, 10},
		{"user_tags=eq(100 users)", store.UserQuery{Where: []store.UserCondition{store.WhereText(store.FieldTags, store.OpEq, "t42")}}, n / 10000},
		{"full_name[start_with](5 of 1000)", store.UserQuery{Where: []store.UserCondition{store.WhereText(store.FieldFullName, store.OpPrefix, "name 999 ")}, Limit: 5}, n / 1000},
		{"user_tags+created_at[gt]+sort_desc", store.UserQuery{Where: []store.UserCondition{
			store.WhereText(store.FieldTags, store.OpEq, "t7"),
			store.WhereTime(store.FieldCreatedAt, store.OpGt, BenchEpoch.Add(time.Duration(mid)*time.Second)),
		}, SortBy: store.FieldCreatedAt, Descending: true, Limit: 10}, (n - mid) / 10000},
		{"every user, a page of 10 (the v1 list)", store.UserQuery{Offset: mid, Limit: 10}, n},
	} {
		bc.q.AppID = 1
		if bc.q.Limit == 0 {
			bc.q.Limit = 100
		}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				_, total, err := s.ListUsers(b.Context(), bc.q)
				if err != nil {
					b.Fatal(err)
				}
				if total < bc.total-1 || total > bc.total+1 {
					b.Fatalf("total %d, want about %d", total, bc.total)
				}
			}
		})
	}
}

// benchIDs are count IDs from around the user at i (IDs start at 1).
func benchIDs(i, count int) []int64 {
	ids := make([]int64, count)
	for k := range ids {
		ids[k] = int64(i + k*7 + 1)
	}
	return ids
}

func benchExternalIDs(i, count int) []string {
	out := make([]string, count)
	for k := range out {
		out[k] = BenchUser(i + k*13).ExternalID
	}
	return out
}
