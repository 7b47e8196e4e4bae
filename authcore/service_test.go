package authcore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
	badgerstore "github.com/cubeauth/cubeauth/store/badger"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// countingStore counts the writes that sliding expiry makes.
type countingStore struct {
	store.Store
	touches, loginLookups atomic.Int64
}

func (c *countingStore) GetUserByLogin(ctx context.Context, appID int64, login string) (store.User, error) {
	c.loginLookups.Add(1)
	return c.Store.GetUserByLogin(ctx, appID, login)
}

func (c *countingStore) TouchSession(ctx context.Context, h store.TokenHash, at time.Time) error {
	c.touches.Add(1)
	return c.Store.TouchSession(ctx, h, at)
}

const (
	testAppKey    = "6f1c2b8e-0d4a-4c55-9a57-2a3c4f1e9b10"
	testAppSecret = "secret"
)

type fixture struct {
	svc   *Service
	st    *countingStore
	clock *clock
}

func newFixture(t *testing.T, configure ...func(*Options)) *fixture {
	t.Helper()
	bs, err := badgerstore.Open(badgerstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bs.Close() })
	f := &fixture{st: &countingStore{Store: bs}, clock: &clock{now: time.Now()}}
	opts := Options{Now: f.clock.Now, Hasher: NewHasher(testParams, 2, time.Second)}
	for _, c := range configure {
		c(&opts)
	}
	f.svc = New(f.st, opts)
	t.Cleanup(f.svc.Close)
	ctx := context.Background()
	for _, a := range []store.App{
		{ID: 1, AuthKey: testAppKey, AuthSecret: testAppSecret, Stage: store.StageDevelopment},
		{ID: 2, AuthKey: testAppKey + "-prod", Stage: store.StageProduction},
	} {
		if err := f.svc.ApplyConfigApp(ctx, a, []string{FieldAuthKey, FieldAuthSecret, FieldStage}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) login(t *testing.T, app int64, login, password, ip string) (SessionResult, error) {
	t.Helper()
	key := testAppKey
	if app == 2 {
		key += "-prod"
	}
	return f.svc.CreateSession(context.Background(), SessionRequest{ClientIP: ip, Params: Params{
		"application_id": fmt.Sprint(app), "auth_key": key, "user[login]": login, "user[password]": password,
	}})
}

func (f *fixture) mustLogin(t *testing.T, login string) SessionResult {
	t.Helper()
	res, err := f.login(t, 1, login, "supersecret", "192.0.2.1")
	if err != nil {
		t.Fatalf("login %s: %v", login, err)
	}
	return res
}

func TestSessionsExpireAtTheSecondTheirIdleTimeRunsOut(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	token := f.mustLogin(t, "alice").Token
	f.clock.Advance(time.Hour) // used after an hour: expiry slides to 3h
	if _, err := f.svc.Authenticate(ctx, token); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2*time.Hour - time.Second)
	if _, err := f.svc.Authenticate(ctx, token); err != nil {
		t.Fatalf("one second before the slid expiry: %v", err)
	}
	f.clock.Advance(2 * time.Hour)
	if _, err := f.svc.Authenticate(ctx, token); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("after 2h idle: err = %v, want ErrSessionNotFound", err)
	}
}

func TestSessionsEndAtTheirAbsoluteLifetimeHoweverActive(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.SessionTTL = time.Hour; o.SessionMaxAge = 3 * time.Hour })
	ctx := context.Background()
	token := f.mustLogin(t, "bob").Token
	for i := 0; i < 5; i++ {
		f.clock.Advance(30 * time.Minute)
		if _, err := f.svc.Authenticate(ctx, token); err != nil {
			t.Fatalf("at %v: %v", time.Duration(i+1)*30*time.Minute, err)
		}
	}
	f.clock.Advance(30 * time.Minute) // 3h after creation
	if _, err := f.svc.Authenticate(ctx, token); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("at the absolute lifetime: err = %v, want ErrSessionNotFound", err)
	}
}

func TestSlidingExpiryWritesAtMostOncePerMinute(t *testing.T) {
	for _, cache := range []int{0, -1} {
		t.Run(fmt.Sprintf("cache size %d", cache), func(t *testing.T) {
			f := newFixture(t, func(o *Options) { o.CacheSize = cache })
			ctx := context.Background()
			token := f.mustLogin(t, "carol").Token
			for i := 0; i < 599; i++ { // 599 requests over 59.9 seconds
				f.clock.Advance(100 * time.Millisecond)
				if _, err := f.svc.Authenticate(ctx, token); err != nil {
					t.Fatal(err)
				}
			}
			if n := f.st.touches.Load(); n != 0 {
				t.Fatalf("%d writes within the first minute, want 0", n)
			}
			f.clock.Advance(time.Second)
			for i := 0; i < 100; i++ {
				if _, err := f.svc.Authenticate(ctx, token); err != nil {
					t.Fatal(err)
				}
			}
			if n := f.st.touches.Load(); n != 1 {
				t.Fatalf("%d writes after a minute, want 1", n)
			}
		})
	}
}

func TestARevocationThroughAnotherServiceReachesTheCache(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	token := f.mustLogin(t, "dave").Token
	if _, err := f.svc.Authenticate(ctx, token); err != nil { // now cached
		t.Fatal(err)
	}
	other := New(f.st, Options{Now: f.clock.Now, Hasher: NewHasher(testParams, 1, time.Second)})
	defer other.Close()
	if err := other.DeleteSession(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, token); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("after revocation elsewhere: err = %v", err)
	}
}

func TestConcurrentFirstSessionsCreateExactlyOneUser(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	ids := make([]int64, 24)
	errs := make([]error, len(ids))
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := f.login(t, 1, "erin", "supersecret", fmt.Sprintf("192.0.2.%d", i))
			errs[i] = err
			if err == nil {
				ids[i] = res.User.ID
			}
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil {
			t.Fatalf("login %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("logins made users %d and %d", ids[0], ids[i])
		}
	}
	users, total, err := f.st.ListUsers(context.Background(), store.UserQuery{AppID: 1, Where: []store.UserCondition{store.WhereText(store.FieldLogin, store.OpEq, "erin")}})
	if err != nil || total != 1 || len(users) != 1 {
		t.Fatalf("users named erin: %d (%v)", total, err)
	}
}

func TestRepeatedWrongPasswordsAreThrottledWithoutLockingTheOwnerOut(t *testing.T) {
	f := newFixture(t)
	f.mustLogin(t, "frank")
	attacker, owner := "198.51.100.7", "192.0.2.1"
	for i := 0; i < 10; i++ {
		if _, err := f.login(t, 1, "frank", "wrongpassword", attacker); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	_, err := f.login(t, 1, "frank", "supersecret", attacker)
	var busy *BusyError
	if !errors.As(err, &busy) || !busy.Throttled || busy.Limit != LimitFailuresPerAccountIP || busy.RetryAfter <= 0 {
		t.Fatalf("11th attempt from the attacker: %v, want throttled", err)
	}
	if _, err := f.login(t, 1, "frank", "supersecret", owner); err != nil {
		t.Fatalf("the owner from another IP: %v", err)
	}
	f.clock.Advance(30 * time.Minute)
	if _, err := f.login(t, 1, "frank", "supersecret", attacker); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestAnAccountTakesAtMost100FailuresAnHour(t *testing.T) {
	f := newFixture(t)
	f.mustLogin(t, "gina")
	for i := 0; i < 100; i++ {
		ip := fmt.Sprintf("203.0.113.%d", i%250)
		if _, err := f.login(t, 1, "gina", "wrongpassword", ip); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	_, err := f.login(t, 1, "gina", "supersecret", "192.0.2.99")
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Limit != LimitFailuresPerAccount {
		t.Fatalf("after 100 failures: %v, want failures_per_account", err)
	}
	f.clock.Advance(2 * time.Hour)
	if _, err := f.login(t, 1, "gina", "supersecret", "192.0.2.99"); err != nil {
		t.Fatalf("an hour later: %v", err)
	}
}

func TestVolumeLimitsCanBeTurnedOn(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		l := DefaultLimits
		l.SessionsPerApp = Rate{3, time.Minute}
		o.Limits = &l
	})
	ctx := context.Background()
	req := SessionRequest{ClientIP: "192.0.2.5", Params: Params{"application_id": "1", "auth_key": testAppKey}}
	for i := 0; i < 3; i++ {
		if _, err := f.svc.CreateSession(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	var busy *BusyError
	if _, err := f.svc.CreateSession(ctx, req); !errors.As(err, &busy) || busy.Limit != LimitSessionsPerApp {
		t.Fatalf("4th session: %v", err)
	}
}

func TestUnknownUsersCostADummyComparisonAndCount(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 100; i++ {
		if _, err := f.login(t, 2, fmt.Sprintf("nobody%d", i), "whatever1", "198.51.100.9"); !errors.Is(err, ErrUserNotFound) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	var busy *BusyError
	if _, err := f.login(t, 2, "nobody-else", "whatever1", "198.51.100.9"); !errors.As(err, &busy) || busy.Limit != LimitFailuresPerIP {
		t.Fatalf("credential stuffing from one IP: %v, want failures_per_ip", err)
	}
}

func TestRateParsing(t *testing.T) {
	tests := []struct {
		in      string
		want    Rate
		wantErr bool
	}{
		{"10/15m", Rate{10, 15 * time.Minute}, false},
		{"off", Rate{}, false},
		{"100/1h", Rate{100, time.Hour}, false},
		{"10", Rate{}, true},
		{"-1/1m", Rate{}, true},
		{"5/forever", Rate{}, true},
	}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("Rate(%q).String() = %q", tt.in, got.String())
		}
	}
}

func TestAnAppRemovedFromTheConfigIsNoLongerPinned(t *testing.T) {
	f := newFixture(t) // declares apps 1 and 2 with pinned fields
	ctx := context.Background()
	if err := f.svc.UnpinUndeclaredApps(ctx, []int64{1}); err != nil {
		t.Fatal(err)
	}
	for id, wantPinned := range map[int64]bool{1: true, 2: false} {
		a, err := f.st.GetApp(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if (len(a.Pinned) > 0) != wantPinned {
			t.Errorf("app %d pinned %v, want pinned: %v", id, a.Pinned, wantPinned)
		}
		if a.AuthKey == "" || a.Stage == "" {
			t.Errorf("app %d lost its settings: %+v", id, a)
		}
	}
}

func TestALoginRefusedForLackOfHashingTurnsDoesNotReadTheUser(t *testing.T) {
	f := newFixture(t)
	f.mustLogin(t, "frank")
	h := f.svc.hasher
	for range cap(h.turns) {
		h.turns <- struct{}{} // every turn taken
	}
	h.meanHash.Store(int64(time.Hour)) // and no wait fits
	before := f.st.loginLookups.Load()
	_, err := f.login(t, 1, "frank", "supersecret", "192.0.2.1")
	var busy *BusyError
	if !errors.As(err, &busy) {
		t.Fatalf("login while hashing is saturated: %v, want a BusyError", err)
	}
	if n := f.st.loginLookups.Load() - before; n != 0 {
		t.Fatalf("the refused login looked the user up %d times, want 0", n)
	}
	for range cap(h.turns) {
		<-h.turns
	}
	if _, err := f.login(t, 1, "frank", "supersecret", "192.0.2.1"); err != nil {
		t.Fatalf("login once turns are free: %v", err)
	}
}

// last_request_at follows a user's requests: set at login, moved when a
// request slides the session after a minute, not by every request.
func TestLastRequestAtFollowsTheUsersRequests(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	res := f.mustLogin(t, "lena")
	lastRequest := func() time.Time {
		t.Helper()
		u, err := f.st.GetUser(ctx, 1, res.User.ID)
		if err != nil {
			t.Fatal(err)
		}
		return u.LastRequestAt
	}
	loggedIn := f.clock.Now()
	if !lastRequest().Equal(loggedIn) {
		t.Fatalf("after login last_request_at = %v, want %v", lastRequest(), loggedIn)
	}
	f.clock.Advance(10 * time.Second)
	if _, err := f.svc.Authenticate(ctx, res.Token); err != nil {
		t.Fatal(err)
	}
	if !lastRequest().Equal(loggedIn) {
		t.Fatalf("a request 10 s later wrote last_request_at %v", lastRequest())
	}
	f.clock.Advance(2 * time.Minute)
	if _, err := f.svc.Authenticate(ctx, res.Token); err != nil {
		t.Fatal(err)
	}
	if want := f.clock.Now(); !lastRequest().Equal(want) {
		t.Fatalf("a request 2 min later: last_request_at = %v, want %v", lastRequest(), want)
	}
}
