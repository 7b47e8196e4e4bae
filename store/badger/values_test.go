package badger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
)

func TestSessionEncodingRoundTrips(t *testing.T) {
	now := time.Now().UTC()
	for _, sess := range []store.Session{
		{},
		{ID: 1, AppID: 2, UserID: 3, Login: "alice", Nonce: "nonce", Timestamp: -5, CreatedAt: now,
			UpdatedAt: now.Add(time.Nanosecond), ExpiresAt: now.Add(time.Hour), MaxExpiresAt: now.Add(24 * time.Hour)},
		{ID: 1 << 62, AppID: 1 << 40, UserID: 9, Login: string(make([]byte, 200)), CreatedAt: time.Unix(0, 0).UTC(),
			Nonce: string(make([]byte, 300))},
	} {
		var got store.Session
		hasLogin, err := decodeSession(encodeSession(&sess), &got)
		if err != nil {
			t.Fatalf("decoding %+v: %v", sess, err)
		}
		if !hasLogin {
			t.Fatalf("decoding %+v: the current format reported as having no login", sess)
		}
		for _, pair := range [][2]time.Time{
			{got.CreatedAt, sess.CreatedAt}, {got.UpdatedAt, sess.UpdatedAt},
			{got.ExpiresAt, sess.ExpiresAt}, {got.MaxExpiresAt, sess.MaxExpiresAt},
		} {
			if !pair[0].Equal(pair[1]) || pair[0].IsZero() != pair[1].IsZero() {
				t.Fatalf("time %v decoded as %v", pair[1], pair[0])
			}
		}
		got.CreatedAt, got.UpdatedAt, got.ExpiresAt, got.MaxExpiresAt = sess.CreatedAt, sess.UpdatedAt, sess.ExpiresAt, sess.MaxExpiresAt
		if got != sess {
			t.Fatalf("decoded %+v, want %+v", got, sess)
		}
	}
}

// formatOneSession is a session record as versions before the login was
// kept wrote it (format 1), built by hand: the current encoder cannot write
// it any more.
func formatOneSession(s *store.Session) []byte {
	b := []byte{1}
	for _, v := range []int64{s.ID, s.AppID, s.UserID, s.Timestamp} {
		b = binary.AppendVarint(b, v)
	}
	for _, t := range []time.Time{s.CreatedAt, s.UpdatedAt, s.ExpiresAt, s.MaxExpiresAt} {
		b = binary.AppendVarint(b, t.Unix())
		b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	}
	b = binary.AppendUvarint(b, uint64(len(s.Nonce)))
	return append(b, s.Nonce...)
}

func TestFormatOneSessionDecodesWithoutALogin(t *testing.T) {
	// ID 7, app 1, user 3, timestamp 0, four times at Unix 1 s + 2 ns,
	// nonce "no": the layout older versions wrote, byte by byte.
	record := []byte{1, 14, 2, 6, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 'n', 'o'}
	at := time.Unix(1, 2).UTC()
	want := store.Session{ID: 7, AppID: 1, UserID: 3, Nonce: "no",
		CreatedAt: at, UpdatedAt: at, ExpiresAt: at, MaxExpiresAt: at}
	if got := formatOneSession(&want); !bytes.Equal(got, record) {
		t.Fatalf("formatOneSession = %v, want %v", got, record)
	}
	got := store.Session{Login: "left over"}
	hasLogin, err := decodeSession(record, &got)
	if err != nil {
		t.Fatalf("decoding a format 1 record: %v", err)
	}
	if hasLogin {
		t.Fatal("a format 1 record reported as having a login")
	}
	if got != want {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
}

// TestFormatOneSessionGetsItsLoginFromTheUser checks that sessions written
// by older versions keep working: GetSession and ListSessions take the login
// from the user record, a session whose user is gone counts as gone (as it
// did when callers read the user themselves) yet can still be deleted, and
// the next write of the session stores it in the current format.
func TestFormatOneSessionGetsItsLoginFromTheUser(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	alice := store.User{AppID: 1, Login: "alice"}
	if err := s.CreateUser(ctx, &alice); err != nil {
		t.Fatal(err)
	}
	old := func(id, userID int64, h byte) store.Session {
		sess := store.Session{ID: id, AppID: 1, UserID: userID, TokenHash: store.TokenHash{h}, Nonce: "n",
			CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour), MaxExpiresAt: now.Add(2 * time.Hour)}
		err := s.db.Update(func(txn *badger.Txn) error {
			if err := txn.Set(sessionKey(sess.TokenHash), formatOneSession(&sess)); err != nil {
				return err
			}
			if err := txn.Set(appSessionKey(1, id), sess.TokenHash[:]); err != nil {
				return err
			}
			return txn.Set(userSessionKey(1, userID, id), sess.TokenHash[:])
		})
		if err != nil {
			t.Fatal(err)
		}
		return sess
	}
	ofAlice, ofApp, ofGone := old(1, alice.ID, 1), old(2, 0, 2), old(3, alice.ID+1, 3)

	for _, tc := range []struct {
		sess  store.Session
		login string
	}{{ofAlice, "alice"}, {ofApp, ""}} {
		got, err := s.GetSession(ctx, tc.sess.TokenHash)
		if err != nil {
			t.Fatalf("GetSession of format 1 session %d: %v", tc.sess.ID, err)
		}
		if got.Login != tc.login || got.ID != tc.sess.ID || got.UserID != tc.sess.UserID {
			t.Fatalf("GetSession of format 1 session %d = %+v, want login %q", tc.sess.ID, got, tc.login)
		}
	}
	listed, _, err := s.ListSessions(ctx, store.SessionQuery{AppID: 1, UserID: alice.ID})
	if err != nil || len(listed) != 1 || listed[0].Login != "alice" {
		t.Fatalf("ListSessions of alice = %+v, %v; want one session with login alice", listed, err)
	}
	if _, err := s.GetSession(ctx, ofGone.TokenHash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSession of a format 1 session without its user: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, ofGone.TokenHash); err != nil {
		t.Fatalf("DeleteSession of a format 1 session without its user: %v", err)
	}
	err = s.db.View(func(txn *badger.Txn) error {
		for _, k := range [][]byte{sessionKey(ofGone.TokenHash), appSessionKey(1, 3), userSessionKey(1, alice.ID+1, 3)} {
			if _, err := txn.Get(k); !errors.Is(err, badger.ErrKeyNotFound) {
				return fmt.Errorf("key %x after DeleteSession: got %v, want ErrKeyNotFound", k, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A rename reaches format 1 sessions through the user record.
	alice.Login = "alice2"
	if err := s.UpdateUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSession(ctx, ofAlice.TokenHash); err != nil || got.Login != "alice2" {
		t.Fatalf("GetSession after rename = %+v, %v; want login alice2", got, err)
	}
	// A touch rewrites the record in the current format, login included.
	if err := s.TouchSession(ctx, ofAlice.TokenHash, now.Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	err = s.db.View(func(txn *badger.Txn) error {
		return getValue(txn, sessionKey(ofAlice.TokenHash), func(v []byte) error {
			var sess store.Session
			hasLogin, err := decodeSession(v, &sess)
			if err == nil && (!hasLogin || sess.Login != "alice2") {
				err = fmt.Errorf("touched record has format %d and login %q, want %d and alice2", v[0], sess.Login, sessionFormat)
			}
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCorruptSessionIsAnError(t *testing.T) {
	b := encodeSession(&store.Session{ID: 1, Nonce: "abc", Login: "alice"})
	v1 := formatOneSession(&store.Session{ID: 1, Nonce: "abc"})
	var sess store.Session
	for _, bad := range [][]byte{
		nil, {9}, {0}, b[:len(b)-1], append(b, 0),
		v1[:len(v1)-1], append(v1, 0, 0), // format 1 cut short or too long
		append([]byte{sessionFormat}, v1[1:]...), // format 2 without its login
	} {
		if _, err := decodeSession(bad, &sess); err == nil {
			t.Errorf("decoding %x succeeded", bad)
		}
	}
}

func TestBadgerExpiryRoundsUp(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want uint64
	}{
		{time.Time{}, 0},
		{time.Unix(100, 0), 100},
		{time.Unix(100, 1), 101},
		{time.Unix(-5, 0), 1},
	} {
		if got := badgerExpiry(tc.t); got != tc.want {
			t.Errorf("badgerExpiry(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

// TestExpiringRecordsCarryBadgerTTLs checks what the conformance suite
// cannot see: expiring records vanish from disk through Badger's TTL, not
// only from results through the store's own checks.
func TestExpiringRecordsCarryBadgerTTLs(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	now := time.Now()
	guest := store.User{AppID: 1, Login: "guest", Email: "guest@example.test", ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateUser(ctx, &guest); err != nil {
		t.Fatal(err)
	}
	sess := store.Session{AppID: 1, UserID: guest.ID, TokenHash: store.TokenHash{9},
		ExpiresAt: now.Add(2 * time.Hour), MaxExpiresAt: now.Add(5 * time.Hour)}
	if err := s.CreateSession(ctx, &sess); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSession(ctx, sess.TokenHash, now.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.UseNonce(ctx, 1, "n", 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  []byte
		want time.Time
	}{
		{"user", userKey(1, guest.ID), guest.ExpiresAt},
		{"login index", loginKey(1, "guest"), guest.ExpiresAt},
		{"email index", emailKey(1, "guest@example.test"), guest.ExpiresAt},
		{"touched session", sessionKey(sess.TokenHash), now.Add(3 * time.Hour)},
		{"app session index", appSessionKey(1, sess.ID), sess.MaxExpiresAt},
		{"user session index", userSessionKey(1, guest.ID, sess.ID), sess.MaxExpiresAt},
		{"nonce", nonceKey(1, "n"), now.Add(10 * time.Minute)},
	} {
		var got uint64
		err := s.db.View(func(txn *badger.Txn) error {
			item, err := txn.Get(tc.key)
			if err == nil {
				got = item.ExpiresAt()
			}
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		// The nonce's deadline is taken inside UseNonce, a moment after now.
		if want := badgerExpiry(tc.want); got < want || got > want+1 {
			t.Errorf("%s expires at %d, want %d", tc.name, got, want)
		}
	}
}
