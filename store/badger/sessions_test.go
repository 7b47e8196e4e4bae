package badger

import (
	"encoding/binary"
	"errors"
	"slices"
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
	putSessions(t, s, 1, n, func(id int) store.Session {
		return store.Session{ID: int64(id), AppID: 1, UserID: u.ID, Nonce: nonce, CreatedAt: now, UpdatedAt: now,
			ExpiresAt: expiry(id), MaxExpiresAt: now.Add(48 * time.Hour)}
	})

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
			item, err := txn.Get(sessionKey(testTokenHash(id)))
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

// TestDeletingMoreSessionsOfAUserThanOneTransactionHolds checks that
// DeleteUserSessions and DeleteUser delete a user's sessions in chunks: more
// sessions than one Badger transaction can delete (ErrTxnTooBig) all go, and
// subscribers hear of each call once.
func TestDeletingMoreSessionsOfAUserThanOneTransactionHolds(t *testing.T) {
	// Deleting a session deletes three keys (record and two index entries),
	// and a transaction holds fewer than 26,214 entries with our 16 MB memtables
	// (15% of them in 96-byte skiplist nodes): 8,737 sessions.
	const n = 9000
	s := openTest(t, Options{})
	ctx := t.Context()
	var events []store.Event
	defer s.Subscribe(func(ev store.Event) { events = append(events, ev) })()
	u := store.User{AppID: 1, Login: "busy", Email: "busy@example.test"}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	plain := func(id int) store.Session {
		return store.Session{ID: int64(id), AppID: 1, UserID: u.ID, CreatedAt: now, UpdatedAt: now,
			ExpiresAt: now.Add(time.Hour), MaxExpiresAt: now.Add(48 * time.Hour)}
	}
	putSessions(t, s, 1, n, plain)

	// Without chunks the sessions could not be deleted at all.
	err := s.db.Update(func(txn *badger.Txn) error {
		_, _, err := deleteUserSessions(txn, 1, u.ID, 0, 0)
		return err
	})
	if !errors.Is(err, badger.ErrTxnTooBig) {
		t.Fatalf("deleting %d sessions in one transaction: got %v, want ErrTxnTooBig (the test needs more sessions)", n, err)
	}

	hashes, err := s.DeleteUserSessions(ctx, 1, u.ID)
	if err != nil {
		t.Fatalf("DeleteUserSessions of a user with %d sessions: %v", n, err)
	}
	seen := make(map[store.TokenHash]bool, len(hashes))
	for _, h := range hashes {
		seen[h] = true
	}
	for id := 1; id <= n; id++ {
		if !seen[testTokenHash(id)] {
			t.Fatalf("DeleteUserSessions returned %d hashes (%d distinct), not that of session %d", len(hashes), len(seen), id)
		}
	}
	if len(hashes) != n {
		t.Fatalf("DeleteUserSessions returned %d hashes, want %d", len(hashes), n)
	}
	wantNoSessionRecords(t, s, "after DeleteUserSessions")
	if _, err := s.GetUser(ctx, 1, u.ID); err != nil {
		t.Fatalf("GetUser after DeleteUserSessions: %v", err)
	}

	putSessions(t, s, n+1, n, plain)
	if err := s.DeleteUser(ctx, 1, u.ID); err != nil {
		t.Fatalf("DeleteUser of a user with %d sessions: %v", n, err)
	}
	for _, id := range []int{n + 1, n + sessionLoginChunk + 1, 2 * n} {
		if _, err := s.GetSession(ctx, testTokenHash(id)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetSession of session %d after DeleteUser: got %v, want ErrNotFound", id, err)
		}
	}
	wantNoSessionRecords(t, s, "after DeleteUser")
	if _, err := s.GetUser(ctx, 1, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUser after DeleteUser: got %v, want ErrNotFound", err)
	}
	if _, err := s.GetUserByLogin(ctx, 1, u.Login); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUserByLogin after DeleteUser: got %v, want ErrNotFound", err)
	}
	if _, err := s.GetUserByEmail(ctx, 1, u.Email); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUserByEmail after DeleteUser: got %v, want ErrNotFound", err)
	}

	want := []store.Event{
		{Kind: store.EventUserSessionsDeleted, AppID: 1, UserID: u.ID},
		{Kind: store.EventUserDeleted, AppID: 1, UserID: u.ID},
	}
	if !slices.Equal(events, want) {
		t.Fatalf("events after the deletes: %+v, want %+v", events, want)
	}
}

// putSessions writes the sessions that newSession makes for the IDs first to
// first+n-1, with token hashes testTokenHash(id). They are written directly,
// a thousand per transaction: through CreateSession each would wait for its
// own fsync.
func putSessions(t *testing.T, s *Store, first, n int, newSession func(id int) store.Session) {
	t.Helper()
	end := first + n
	for from := first; from < end; from += 1000 {
		err := s.update(func(txn *badger.Txn) error {
			for id := from; id < from+1000 && id < end; id++ {
				sess := newSession(id)
				sess.TokenHash = testTokenHash(id)
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
}

// testTokenHash is the token hash putSessions gives session id.
func testTokenHash(id int) store.TokenHash {
	var h store.TokenHash
	binary.BigEndian.PutUint64(h[:], uint64(id))
	return h
}

// wantNoSessionRecords fails unless the store holds no session records and
// no session index entries, expired or not.
func wantNoSessionRecords(t *testing.T, s *Store, when string) {
	t.Helper()
	err := s.db.View(func(txn *badger.Txn) error {
		for _, prefix := range []string{prefixSession, prefixAppSessions, prefixUserSessions} {
			if left := prefixKeys(txn, []byte(prefix), 0); len(left) > 0 {
				t.Errorf("%s: %d keys left under %q", when, len(left), prefix)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
