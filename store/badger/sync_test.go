package badger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

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
		{"CreateApp", func() error { return s.CreateApp(ctx, &store.App{}) }, true},
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
