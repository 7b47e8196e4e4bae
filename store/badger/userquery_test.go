package badger

import (
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
)

// A store written before the query indexes existed gets them when it is
// opened: its users are found by every indexed field.
func TestOpenBuildsTheQueryIndexesOfAnOlderStore(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir})
	ctx := t.Context()
	if err := s.PutApp(ctx, store.App{ID: 1, AuthKey: "k", Stage: store.StageDevelopment}); err != nil {
		t.Fatal(err)
	}
	const n = 1234 // more than one batch
	for i := range n {
		u := store.User{AppID: 1, Login: fmt.Sprintf("user%04d", i), FullName: fmt.Sprintf("Name %d", i%7),
			Tags: "t" + fmt.Sprint(i%3), CreatedAt: time.Now(), UpdatedAt: time.Now()}
		if err := s.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
	}
	// Make it an older store: no query entries, no version mark.
	err := s.db.Update(func(txn *badger.Txn) error {
		for _, k := range append(prefixKeys(txn, []byte(prefixQuery), 0), []byte(keyQueryIndex)) {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	byName := store.UserQuery{AppID: 1, Where: []store.UserCondition{store.WhereText(store.FieldFullName, store.OpEq, "name 3")}}
	if _, total, err := s.ListUsers(ctx, byName); err != nil || total != 0 {
		t.Fatalf("before reopening: total %d, err %v; want the entries gone", total, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, Options{Dir: dir})
	for _, tc := range []struct {
		q    store.UserQuery
		want int
	}{
		{byName, (n + 3) / 7},
		{store.UserQuery{AppID: 1, Where: []store.UserCondition{store.WhereText(store.FieldTags, store.OpEq, "t1")}}, n / 3},
		{store.UserQuery{AppID: 1, Where: []store.UserCondition{store.WhereText(store.FieldLogin, store.OpPrefix, "user12")}}, 34},
		{store.UserQuery{AppID: 1, Where: []store.UserCondition{store.WhereTime(store.FieldCreatedAt, store.OpGte, time.Now().Add(-time.Hour))}}, n},
	} {
		_, total, err := s.ListUsers(ctx, tc.q)
		if err != nil || total != tc.want {
			t.Fatalf("after reopening, %+v: total %d, err %v; want %d", tc.q.Where, total, err, tc.want)
		}
	}
}
