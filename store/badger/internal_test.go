package badger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
)

func openTest(t *testing.T, opts Options) *Store {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestGroupSyncCoalescesWaitingWriters(t *testing.T) {
	started := make(chan struct{}, 100)
	release := make(chan struct{})
	g := newGroupSync(func() error {
		started <- struct{}{}
		<-release
		return nil
	})
	defer g.close()

	const writers = 10
	var calls sync.WaitGroup
	errs := make(chan error, writers+1)
	calls.Go(func() { errs <- g.wait() })
	<-started // the first sync runs and holds
	for range writers {
		calls.Go(func() { errs <- g.wait() })
	}
	time.Sleep(100 * time.Millisecond) // let them queue behind it
	close(release)
	calls.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("wait: %v", err)
		}
	}
	if n := g.rounds.Load(); n != 2 {
		t.Fatalf("%d writers needed %d syncs, want 2 (one for the first, one shared by the rest)", writers+1, n)
	}
}

func TestGroupSyncFailureIsUnavailable(t *testing.T) {
	g := newGroupSync(func() error { return fmt.Errorf("sync: %w", syscall.EIO) })
	err := g.wait()
	g.close()
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("wait after a failed sync: got %v, want ErrUnavailable wrapping EIO", err)
	}
	if err := g.wait(); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("wait after close: got %v, want ErrUnavailable", err)
	}
}

// TestWritesWaitForASyncAndTouchDoesNot checks that every write method
// returns only after a sync, and that TouchSession does not sync.
func TestWritesWaitForASyncAndTouchDoesNot(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	now := time.Now()
	u := store.User{AppID: 1, Login: "alice", Email: "alice@example.test"}
	sess := store.Session{AppID: 1, TokenHash: store.TokenHash{1}, ExpiresAt: now.Add(time.Hour), MaxExpiresAt: now.Add(2 * time.Hour)}
	steps := []struct {
		name string
		call func() error
		sync bool
	}{
		{"PutApp", func() error { return s.PutApp(ctx, store.App{ID: 1}) }, true},
		{"CreateUser", func() error { return s.CreateUser(ctx, &u) }, true},
		{"UpdateUser", func() error { u.FullName = "Alice"; return s.UpdateUser(ctx, u) }, true},
		{"CreateSession", func() error { return s.CreateSession(ctx, &sess) }, true},
		{"TouchSession", func() error { return s.TouchSession(ctx, sess.TokenHash, now.Add(90*time.Minute)) }, false},
		{"UpdateSession", func() error { sess.UserID = u.ID; return s.UpdateSession(ctx, sess) }, true},
		{"UseNonce", func() error { return s.UseNonce(ctx, 1, "n", time.Minute) }, true},
		{"DeleteSession", func() error { return s.DeleteSession(ctx, sess.TokenHash) }, true},
		{"DeleteUserSessions", func() error { _, err := s.DeleteUserSessions(ctx, 1, u.ID); return err }, true},
		{"DeleteUser", func() error { return s.DeleteUser(ctx, 1, u.ID) }, true},
		{"DeleteApp", func() error { return s.DeleteApp(ctx, 1) }, true},
	}
	for _, step := range steps {
		before := s.syncer.rounds.Load()
		if err := step.call(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		synced := s.syncer.rounds.Load() > before
		if synced != step.sync {
			t.Errorf("%s synced: %v, want %v", step.name, synced, step.sync)
		}
	}
}

func TestWriteFailsClosedWhenSyncFails(t *testing.T) {
	s := openTest(t, Options{})
	s.syncer.close()
	s.syncer = newGroupSync(func() error { return errors.New("write /data/000001.vlog: no space left on device") })
	u := store.User{AppID: 1, Login: "alice"}
	if err := s.CreateUser(context.Background(), &u); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("CreateUser with a failing sync: got %v, want ErrUnavailable", err)
	}
	if u.ID != 0 {
		t.Fatalf("CreateUser with a failing sync assigned ID %d", u.ID)
	}
}

func TestWrapMarksUnavailableErrors(t *testing.T) {
	for _, tc := range []struct {
		err         error
		unavailable bool
	}{
		{badger.ErrDBClosed, true},
		{fmt.Errorf("DB::Get key: %q err: %s", "s/x", badger.ErrDBClosed), true},
		{badger.ErrBlockedWrites, true},
		{badger.ErrConflict, true},
		{fmt.Errorf("writing: %w", syscall.ENOSPC), true},
		{errors.New("sync err: write vlog: no space left on device"), true},
		{errors.New("open 000001.vlog: read-only file system"), true},
		{errors.New("read: input/output error"), true},
		{store.ErrNotFound, false},
		{store.ErrLoginTaken, false},
		{errors.New("decoding user: unexpected end of JSON input"), false},
	} {
		err := wrap("doing", tc.err)
		if got := errors.Is(err, store.ErrUnavailable); got != tc.unavailable {
			t.Errorf("wrap(%q) unavailable = %v, want %v", tc.err, got, tc.unavailable)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("wrap(%q) lost the original error", tc.err)
		}
	}
	if err := wrap("doing", nil); err != nil {
		t.Errorf("wrap(nil) = %v", err)
	}
}

func TestWrapHidesKeys(t *testing.T) {
	err := wrap("getting session", fmt.Errorf("DB::Get key: %q err: %s", "s/secret-hash", "boom"))
	if got, want := err.Error(), "getting session: DB::Get key: (redacted) err: boom"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
}

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

func TestGarbageCollectionStopsOnClose(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), GCInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // several GC rounds
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return: the GC goroutine did not stop")
	}
	select {
	case <-s.gcDone:
	default:
		t.Fatal("the GC goroutine is still running after Close")
	}
}

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
