package badger

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
)

// TestRenamingAUserWithMoreSessionsThanOneTransactionHolds checks that
// UpdateUser rewrites the login of every session of a user in chunks: more
// sessions than one Badger transaction can rewrite (ErrTxnTooBig) all get
// the new login, and keep their deadlines.
func TestRenamingAUserWithMoreSessionsThanOneTransactionHolds(t *testing.T) {
	// Long nonces make the records big, so that a few thousand of them are
	// more than one transaction can hold.
	const n = 4000
	nonce := strings.Repeat("n", 1000)
	s := openTest(t, Options{})
	ctx := t.Context()
	u := store.User{AppID: 1, Login: "busy"}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	// Each session its own deadline, to show that each keeps its own.
	expiry := func(id int) time.Time { return now.Add(time.Hour + time.Duration(id)*time.Second) }
	// Written directly, a thousand per transaction: through CreateSession
	// each would wait for its own fsync.
	for first := 1; first <= n; first += 1000 {
		err := s.update(func(txn *badger.Txn) error {
			for id := first; id < first+1000 && id <= n; id++ {
				sess := store.Session{ID: int64(id), AppID: 1, UserID: u.ID, Nonce: nonce, CreatedAt: now, UpdatedAt: now,
					ExpiresAt: expiry(id), MaxExpiresAt: now.Add(48 * time.Hour)}
				binary.BigEndian.PutUint64(sess.TokenHash[:], uint64(id))
				if err := putSession(txn, &sess); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	// Without chunks the rename could not be written at all.
	err := s.db.Update(func(txn *badger.Txn) error {
		renamed := u
		renamed.Login = "busy.unchunked"
		_, _, _, err := setSessionLogins(txn, &renamed, 0, 0, time.Now())
		return err
	})
	if !errors.Is(err, badger.ErrTxnTooBig) {
		t.Fatalf("rewriting %d sessions in one transaction: got %v, want ErrTxnTooBig (the test needs more sessions)", n, err)
	}

	u.Login = "busy.new"
	if err := s.UpdateUser(ctx, u); err != nil {
		t.Fatalf("UpdateUser of a user with %d sessions: %v", n, err)
	}
	sessions, total, err := s.ListSessions(ctx, store.SessionQuery{AppID: 1, UserID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	if total != n || len(sessions) != n {
		t.Fatalf("ListSessions after the rename: %d sessions, total %d, want %d", len(sessions), total, n)
	}
	for _, sess := range sessions {
		if sess.Login != "busy.new" {
			t.Fatalf("session %d has login %q after the rename, want busy.new", sess.ID, sess.Login)
		}
		if want := expiry(int(sess.ID)); !sess.ExpiresAt.Equal(want) || sess.Nonce != nonce {
			t.Fatalf("session %d expires at %v after the rename, want %v with its nonce", sess.ID, sess.ExpiresAt, want)
		}
	}
	// The records keep their Badger TTLs too.
	err = s.db.View(func(txn *badger.Txn) error {
		for _, id := range []int{1, sessionLoginChunk + 1, n} {
			var h store.TokenHash
			binary.BigEndian.PutUint64(h[:], uint64(id))
			item, err := txn.Get(sessionKey(h))
			if err != nil {
				return err
			}
			if got, want := item.ExpiresAt(), badgerExpiry(expiry(id)); got != want {
				t.Errorf("session %d's record expires at %d after the rename, want %d", id, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
