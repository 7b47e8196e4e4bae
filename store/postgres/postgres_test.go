package postgres

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/internal/testpg"
	"github.com/cubeauth/cubeauth/store"
	"github.com/cubeauth/cubeauth/store/storetest"
)

// The tests run on a throwaway cluster, each in a fresh schema: the one
// CUBEAUTH_TEST_POSTGRES names (./scripts/test.sh starts it), or else one
// that testpg starts for this package; see internal/testpg.

func TestMain(m *testing.M) { os.Exit(testpg.Main(m.Run)) }

// openStore opens a Store on dsn, closed when the test ends.
func openStore(t *testing.T, dsn string, configure ...func(*Options)) *Store {
	t.Helper()
	opts := Options{DSN: dsn, MaxConns: 4}
	for _, c := range configure {
		c(&opts)
	}
	s, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{New: func(t *testing.T) func() store.Store {
		dsn := testpg.Schema(t)
		return func() store.Store {
			s, err := Open(t.Context(), Options{DSN: dsn, MaxConns: 4})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return s
		}
	}})
}

// events collects what a subscriber receives.
type events struct {
	mu  sync.Mutex
	got []store.Event
	new chan struct{}
}

func subscribe(t *testing.T, s *Store) *events {
	e := &events{new: make(chan struct{}, 1)}
	t.Cleanup(s.Subscribe(func(ev store.Event) {
		e.mu.Lock()
		e.got = append(e.got, ev)
		e.mu.Unlock()
		select {
		case e.new <- struct{}{}:
		default:
		}
	}))
	return e
}

// waitFor waits until an event matching want arrived and returns every
// event so far.
func (e *events) waitFor(t *testing.T, what string, want func(store.Event) bool) []store.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		e.mu.Lock()
		got := append([]store.Event(nil), e.got...)
		e.mu.Unlock()
		for _, ev := range got {
			if want(ev) {
				return got
			}
		}
		select {
		case <-e.new:
		case <-deadline:
			t.Fatalf("no event for %s within 10s; got %+v", what, got)
		}
	}
}

func kindIs(k store.EventKind) func(store.Event) bool {
	return func(ev store.Event) bool { return ev.Kind == k }
}

func TestAChangeOnOneNodeReachesTheOthersOnce(t *testing.T) {
	dsn := testpg.Schema(t)
	often := func(o *Options) { o.ReconcileInterval = 100 * time.Millisecond }
	a, b := openStore(t, dsn, often), openStore(t, dsn, often)
	onA, onB := subscribe(t, a), subscribe(t, b)
	ctx := t.Context()

	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := a.PutApp(ctx, store.App{ID: 1, AuthKey: "k", Stage: store.StageDevelopment, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	u := store.User{AppID: 1, Login: "alice", CreatedAt: now, UpdatedAt: now}
	if err := a.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	sess := store.Session{TokenHash: store.TokenHash{1, 2, 3}, AppID: 1, UserID: u.ID, CreatedAt: now,
		UpdatedAt: now, ExpiresAt: now.Add(time.Hour), MaxExpiresAt: now.Add(time.Hour)}
	if err := a.CreateSession(ctx, &sess); err != nil {
		t.Fatal(err)
	}
	sess.UserID = 0
	if err := a.UpdateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteSession(ctx, sess.TokenHash); err != nil {
		t.Fatal(err)
	}
	u.FullName = "Alice"
	if err := a.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	sess2 := sess
	sess2.TokenHash, sess2.UserID = store.TokenHash{4, 5, 6}, u.ID
	if err := a.CreateSession(ctx, &sess2); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteUserSessions(ctx, 1, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteUser(ctx, 1, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteApp(ctx, 1); err != nil {
		t.Fatal(err)
	}

	want := []store.Event{
		{Kind: store.EventAppChanged, AppID: 1},
		{Kind: store.EventSessionChanged, AppID: 1, TokenHash: sess.TokenHash},
		{Kind: store.EventSessionDeleted, AppID: 1, TokenHash: sess.TokenHash},
		{Kind: store.EventUserChanged, AppID: 1, UserID: u.ID},
		{Kind: store.EventUserSessionsDeleted, AppID: 1, UserID: u.ID},
		{Kind: store.EventUserDeleted, AppID: 1, UserID: u.ID},
		{Kind: store.EventAppDeleted, AppID: 1},
	}
	onB.waitFor(t, "DeleteApp on B", kindIs(store.EventAppDeleted))
	// Later reads of the log must not deliver them again.
	time.Sleep(500 * time.Millisecond)
	onB.mu.Lock()
	gotB := append([]store.Event(nil), onB.got...)
	onB.mu.Unlock()
	onA.mu.Lock()
	gotA := append([]store.Event(nil), onA.got...)
	onA.mu.Unlock()
	for name, got := range map[string][]store.Event{"the writing node": gotA, "the other node": gotB} {
		if len(got) != len(want) {
			t.Fatalf("%s received %d events, want %d:\n got %+v\nwant %+v", name, len(got), len(want), got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: event %d is %+v, want %+v", name, i, got[i], want[i])
			}
		}
	}
}

func TestAnEventWithoutNotificationIsFoundByTheNextRead(t *testing.T) {
	dsn := testpg.Schema(t)
	s := openStore(t, dsn, func(o *Options) { o.ReconcileInterval = 200 * time.Millisecond })
	got := subscribe(t, s)
	// Another node's row whose notification was lost.
	testpg.Exec(t, dsn, `INSERT INTO cubeauth_events (node, kind, app_id, user_id) VALUES ('elsewhere', 'user_deleted', 7, 8)`)
	got.waitFor(t, "the logged user deletion", func(ev store.Event) bool {
		return ev.Kind == store.EventUserDeleted && ev.AppID == 7 && ev.UserID == 8
	})
}

func TestAnEventOfATransactionThatCommitsLateIsNotSkipped(t *testing.T) {
	dsn := testpg.Schema(t)
	s := openStore(t, dsn, func(o *Options) { o.ReconcileInterval = 100 * time.Millisecond })
	got := subscribe(t, s)
	writer := openStore(t, dsn)
	ctx := t.Context()

	// A slow transaction takes its ID (and its event row) first; a fast
	// one commits an event after it; the listener reads in between.
	slow, err := writer.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(ctx)
	if _, err := slow.Exec(ctx, `INSERT INTO cubeauth_events (node, kind, app_id) VALUES ('slow', 'app_changed', 1)`); err != nil {
		t.Fatal(err)
	}
	testpg.Exec(t, dsn, `INSERT INTO cubeauth_events (node, kind, app_id) VALUES ('fast', 'app_changed', 2)`)
	got.waitFor(t, "the fast transaction's event", func(ev store.Event) bool { return ev.AppID == 2 })
	time.Sleep(300 * time.Millisecond) // a few more reads while slow is open
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, "the slow transaction's event", func(ev store.Event) bool { return ev.AppID == 1 })
}

func TestTheListenerReconnectsAndResetsCaches(t *testing.T) {
	dsn := testpg.WithParam(testpg.Schema(t), "application_name", "cubeauth_reconnect_test")
	a := openStore(t, dsn)
	b := openStore(t, dsn)
	got := subscribe(t, b)

	testpg.Exec(t, dsn, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'cubeauth_reconnect_test listener' AND datname = current_database()`)
	got.waitFor(t, "EventReset after the listener lost its connection", kindIs(store.EventReset))

	// Both pools lost nothing; B hears of A's changes again.
	now := time.Now()
	if err := a.PutApp(t.Context(), store.App{ID: 3, AuthKey: "k", Stage: store.StageDevelopment, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, "an app change after reconnecting", func(ev store.Event) bool {
		return ev.Kind == store.EventAppChanged && ev.AppID == 3
	})
}

func TestLostPoolConnectionsAreUnavailableThenRecover(t *testing.T) {
	dsn := testpg.WithParam(testpg.Schema(t), "application_name", "cubeauth_pool_test")
	s := openStore(t, dsn)
	ctx := t.Context()
	if _, err := s.ListApps(ctx); err != nil {
		t.Fatal(err)
	}
	testpg.Exec(t, dsn, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'cubeauth_pool_test' AND pid <> pg_backend_pid()`)
	// The pool may hand out a dead connection once; any error must then be
	// ErrUnavailable, and the pool must recover by itself.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.ListApps(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("ListApps on a lost connection: got %v, want ErrUnavailable", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pool did not recover: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNodesStartingTogetherMigrateOnce(t *testing.T) {
	dsn := testpg.Schema(t)
	const nodes = 4
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			s, err := Open(t.Context(), Options{DSN: dsn, MaxConns: 2})
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	all, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if n := testpg.QueryInt(t, dsn, `SELECT count(*) FROM cubeauth_schema_migrations`); n != int64(len(all)) {
		t.Fatalf("%d migrations recorded, want %d", n, len(all))
	}
}

func TestAnUnreachableDatabaseIsUnavailableAndNoErrorShowsThePassword(t *testing.T) {
	const password = "s3cret-Pa55word"
	for _, dsn := range []string{
		"postgres://cubeauth:" + password + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=1",
		"host=127.0.0.1 port=1 user=cubeauth password=" + password + " dbname=db sslmode=disable",
	} {
		_, err := Open(t.Context(), Options{DSN: dsn, ConnectTimeout: time.Second})
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Open of a closed port: got %v, want ErrUnavailable", err)
		}
		if err != nil && strings.Contains(err.Error(), password) {
			t.Errorf("the error shows the password: %v", err)
		}
	}
	for _, dsn := range []string{
		"postgres://cubeauth:" + password + "@127.0.0.1:notaport/db",
		"host=127.0.0.1 password=" + password + " sslmode=bogus",
	} {
		_, err := Open(t.Context(), Options{DSN: dsn})
		if err == nil {
			t.Fatalf("Open of an invalid connection string succeeded")
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

func TestCleanupDeletesExpiredRowsInBatches(t *testing.T) {
	dsn := testpg.Schema(t)
	s := openStore(t, dsn, func(o *Options) {
		o.CleanupBatch = 2
		o.CleanupInterval = time.Hour // only the explicit call below
		o.EventRetention = time.Minute
	})
	ctx := t.Context()
	now := time.Now()
	if err := s.PutApp(ctx, store.App{ID: 1, AuthKey: "k", Stage: store.StageDevelopment, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	live := store.Session{TokenHash: store.TokenHash{9}, AppID: 1, CreatedAt: now, UpdatedAt: now,
		ExpiresAt: now.Add(time.Hour), MaxExpiresAt: now.Add(time.Hour)}
	if err := s.CreateSession(ctx, &live); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		sess := store.Session{TokenHash: store.TokenHash{byte(i + 10)}, AppID: 1, CreatedAt: now, UpdatedAt: now,
			ExpiresAt: now.Add(-time.Second), MaxExpiresAt: now.Add(time.Hour)}
		if err := s.CreateSession(ctx, &sess); err != nil {
			t.Fatal(err)
		}
		guest := store.User{AppID: 1, Login: "guest" + string(rune('a'+i)), IsGuest: true, CreatedAt: now,
			UpdatedAt: now, ExpiresAt: now.Add(-time.Second)}
		if err := s.CreateUser(ctx, &guest); err != nil {
			t.Fatal(err)
		}
		if err := s.UseNonce(ctx, 1, "n"+string(rune('a'+i)), time.Microsecond); err != nil {
			t.Fatal(err)
		}
	}
	testpg.Exec(t, dsn, `INSERT INTO cubeauth_events (node, kind, app_id, created_at)
		SELECT 'old', 'app_changed', 1, now() - interval '2 minutes' FROM generate_series(1, 5)`)
	time.Sleep(10 * time.Millisecond)

	if n := s.cleanup(ctx); n != 20 {
		t.Fatalf("cleanup deleted %d rows, want 20 (5 each of sessions, guests, nonces, events)", n)
	}
	for table, want := range map[string]int64{
		"cubeauth_sessions": 1, "cubeauth_users": 0, "cubeauth_nonces": 0,
		// The PutApp event is recent and stays.
		"cubeauth_events": 1,
	} {
		if n := testpg.QueryInt(t, dsn, `SELECT count(*) FROM `+table); n != want {
			t.Errorf("%s has %d rows after cleanup, want %d", table, n, want)
		}
	}
}
