package badger

import (
	"context"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
)

func TestSessionEncodingRoundTrips(t *testing.T) {
	now := time.Now().UTC()
	for _, sess := range []store.Session{
		{},
		{ID: 1, AppID: 2, UserID: 3, Nonce: "nonce", Timestamp: -5, CreatedAt: now, UpdatedAt: now.Add(time.Nanosecond),
			ExpiresAt: now.Add(time.Hour), MaxExpiresAt: now.Add(24 * time.Hour)},
		{ID: 1 << 62, AppID: 1 << 40, CreatedAt: time.Unix(0, 0).UTC(), Nonce: string(make([]byte, 300))},
	} {
		var got store.Session
		if err := decodeSession(encodeSession(&sess), &got); err != nil {
			t.Fatalf("decoding %+v: %v", sess, err)
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

func TestCorruptSessionIsAnError(t *testing.T) {
	b := encodeSession(&store.Session{ID: 1, Nonce: "abc"})
	var sess store.Session
	for _, bad := range [][]byte{nil, {9}, b[:len(b)-1], append(b, 0)} {
		if err := decodeSession(bad, &sess); err == nil {
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
