package badger

import (
	"context"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
)

func TestDeleteAppRemovesMoreRecordsThanOneChunk(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	if err := s.PutApp(ctx, store.App{ID: 7}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// Written directly: the chunking is what is tested, not the API.
	err := s.update(func(txn *badger.Txn) error {
		for i := range deleteChunk * 2 {
			sess := store.Session{ID: int64(i + 1), AppID: 7, ExpiresAt: now.Add(time.Hour), MaxExpiresAt: now.Add(time.Hour)}
			sess.TokenHash[0], sess.TokenHash[1] = byte(i), byte(i>>8)
			if err := putSession(txn, &sess); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApp(ctx, 7); err != nil {
		t.Fatalf("DeleteApp: %v", err)
	}
	err = s.db.View(func(txn *badger.Txn) error {
		for _, prefix := range []string{prefixAppSessions, prefixUserSessions, prefixSession, prefixApp} {
			if keys := prefixKeys(txn, []byte(prefix), 0); len(keys) != 0 {
				t.Errorf("%d keys with prefix %q left after DeleteApp", len(keys), prefix)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
