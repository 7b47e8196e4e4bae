package badger_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
	"github.com/cubeauth/cubeauth/store/badger"
	"github.com/cubeauth/cubeauth/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{New: func(t *testing.T) func() store.Store {
		dir := t.TempDir()
		return func() store.Store { return open(t, dir) }
	}})
}

func open(tb testing.TB, dir string) *badger.Store {
	tb.Helper()
	s, err := badger.Open(badger.Options{Dir: dir})
	if err != nil {
		tb.Fatalf("opening store: %v", err)
	}
	return s
}

func TestOpenWithoutDirectoryFails(t *testing.T) {
	if _, err := badger.Open(badger.Options{}); err == nil {
		t.Fatal("Open without a directory succeeded")
	}
}

func TestOpenTwiceInOneDirectoryFails(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	if s2, err := badger.Open(badger.Options{Dir: dir}); err == nil {
		s2.Close()
		t.Fatal("a second Open of the same directory succeeded")
	}
}

// crashEnv names the directory a child process writes to before it is
// killed; see TestAcknowledgedWritesSurviveAKilledProcess.
const crashEnv = "CUBEAUTH_BADGER_CRASH_DIR"

// TestAcknowledgedWritesSurviveAKilledProcess runs this test binary as a
// child that writes, reports success and is killed without Close; the parent
// then finds everything it was told about. (A killed process loses nothing
// already in the OS page cache; the fsync that also covers power loss is
// checked in sync_test.go.)
func TestAcknowledgedWritesSurviveAKilledProcess(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		writeAndHang(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcknowledgedWritesSurviveAKilledProcess$")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var hash store.TokenHash
	buf := make([]byte, 3+len(hash))
	n, _ := io.ReadFull(out, buf)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if n != len(buf) || string(buf[:3]) != "ok " {
		t.Fatalf("child did not report its writes: %q", buf[:n])
	}
	copy(hash[:], buf[3:])

	s := open(t, dir)
	defer s.Close()
	ctx := context.Background()
	u, err := s.GetUserByLogin(ctx, 1, "alice")
	if err != nil {
		t.Fatalf("user written before the kill: %v", err)
	}
	sess, err := s.GetSession(ctx, hash)
	if err != nil {
		t.Fatalf("session written before the kill: %v", err)
	}
	if sess.UserID != u.ID {
		t.Fatalf("session belongs to user %d, want %d", sess.UserID, u.ID)
	}
	if _, err := s.GetApp(ctx, 1); err != nil {
		t.Fatalf("app written before the kill: %v", err)
	}
}

// writeAndHang is the child's part: write, print "ok <hash>", wait to be killed.
func writeAndHang(dir string) {
	s, err := badger.Open(badger.Options{Dir: dir})
	if err != nil {
		os.Exit(2)
	}
	ctx := context.Background()
	now := time.Now()
	if err := s.PutApp(ctx, store.App{ID: 1, AuthKey: "k", Stage: store.StageDevelopment}); err != nil {
		os.Exit(3)
	}
	u := store.User{AppID: 1, Login: "alice"}
	if err := s.CreateUser(ctx, &u); err != nil {
		os.Exit(4)
	}
	sess := store.Session{AppID: 1, UserID: u.ID, ExpiresAt: now.Add(time.Hour), MaxExpiresAt: now.Add(time.Hour)}
	_, _ = rand.Read(sess.TokenHash[:])
	if err := s.CreateSession(ctx, &sess); err != nil {
		os.Exit(5)
	}
	_, _ = os.Stdout.Write(append([]byte("ok "), sess.TokenHash[:]...))
	time.Sleep(time.Minute)
	os.Exit(6)
}

func TestCanceledContextIsRefused(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.GetApp(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetApp with a canceled context: got %v, want context.Canceled", err)
	}
}

// newUser stores a user of app 1 for the benchmarks' sessions and returns
// its ID.
func newUser(b *testing.B, s *badger.Store) int64 {
	u := store.User{AppID: 1, Login: "alice", Email: "alice@example.test", FullName: "Alice Smith",
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}
	if err := s.CreateUser(context.Background(), &u); err != nil {
		b.Fatal(err)
	}
	return u.ID
}

// newSession returns a session of the user (zero: an app session).
func newSession(b *testing.B, userID int64) store.Session {
	now := time.Now()
	sess := store.Session{
		AppID: 1, UserID: userID, Nonce: "12345", Timestamp: now.Unix(),
		CreatedAt: now, UpdatedAt: now,
		ExpiresAt: now.Add(2 * time.Hour), MaxExpiresAt: now.Add(24 * time.Hour),
	}
	if _, err := rand.Read(sess.TokenHash[:]); err != nil {
		b.Fatal(err)
	}
	return sess
}

// BenchmarkGetSession measures the hot path: a session that exists, read
// from the memtable (just written) and from table files (after reopening).
func BenchmarkGetSession(b *testing.B) {
	for _, reopen := range []bool{false, true} {
		name := "memtable"
		if reopen {
			name = "tables"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			s := open(b, dir)
			ctx := context.Background()
			userID := newUser(b, s)
			hashes := make([]store.TokenHash, 10000)
			for i := range hashes {
				sess := newSession(b, userID)
				if err := s.CreateSession(ctx, &sess); err != nil {
					b.Fatal(err)
				}
				hashes[i] = sess.TokenHash
			}
			if reopen {
				s.Close() // flushes the memtable to a table file
				s = open(b, dir)
			}
			defer s.Close()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := s.GetSession(ctx, hashes[i%len(hashes)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkGetSessionMiss measures an unknown token hash.
func BenchmarkGetSessionMiss(b *testing.B) {
	s := open(b, b.TempDir())
	defer s.Close()
	ctx := context.Background()
	sess := newSession(b, newUser(b, s))
	if err := s.CreateSession(ctx, &sess); err != nil {
		b.Fatal(err)
	}
	missing := newSession(b, 0).TokenHash
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetSession(ctx, missing); !errors.Is(err, store.ErrNotFound) {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateSession measures one writer: every call waits for its own
// fsync.
func BenchmarkCreateSession(b *testing.B) {
	s := open(b, b.TempDir())
	defer s.Close()
	ctx := context.Background()
	userID := newUser(b, s)
	b.ReportAllocs()
	for b.Loop() {
		sess := newSession(b, userID)
		if err := s.CreateSession(ctx, &sess); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateSessionParallel measures concurrent writers sharing fsyncs.
func BenchmarkCreateSessionParallel(b *testing.B) {
	s := open(b, b.TempDir())
	defer s.Close()
	ctx := context.Background()
	userID := newUser(b, s)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sess := newSession(b, userID)
			if err := s.CreateSession(ctx, &sess); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestOperationsRacingCloseFinishOrFailUnavailable checks that Close never
// pulls the database from under a running operation: every call either
// completes or reports ErrUnavailable, and nothing panics.
func TestOperationsRacingCloseFinishOrFailUnavailable(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	now := time.Now()
	// A subscriber that calls back into the store must not deadlock Close.
	defer s.Subscribe(func(store.Event) { _, _ = s.ListApps(ctx) })()

	errs := make(chan error, 64)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				sess := store.Session{AppID: 1, ExpiresAt: now.Add(time.Hour), MaxExpiresAt: now.Add(time.Hour)}
				sess.TokenHash[0] = byte(i)
				var err error
				switch i % 4 {
				case 0:
					err = s.CreateSession(ctx, &sess)
				case 1:
					_, _, err = s.ListSessions(ctx, store.SessionQuery{AppID: 1})
				case 2:
					err = s.PutApp(ctx, store.App{ID: 1})
				case 3:
					_, err = s.GetSession(ctx, sess.TokenHash)
					if errors.Is(err, store.ErrNotFound) {
						err = nil
					}
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("operation racing Close: got %v, want ErrUnavailable", err)
		}
	}
}
