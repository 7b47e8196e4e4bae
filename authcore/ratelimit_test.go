package authcore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

func testLimiter(c *clock, rate Rate, maxKeys int, failClosed bool) *limiter {
	l := newLimiter("test", rate, c.Now, failClosed)
	l.maxKeys = maxKeys
	return l
}

// withLimits configures a fixture with DefaultLimits changed by change.
func withLimits(change func(*Limits)) func(*Options) {
	return func(o *Options) {
		l := DefaultLimits
		change(&l)
		o.Limits = &l
	}
}

func TestAFloodOfJunkKeysNeitherFlushesABlockedVictimNorGrowsTheLimiter(t *testing.T) {
	c := &clock{now: time.Unix(1_700_000_000, 0)}
	l := testLimiter(c, Rate{10, 15 * time.Minute}, 1000, true)
	for range 10 {
		l.add("victim")
	}
	if l.check("victim") == nil {
		t.Fatal("the victim is not blocked after 10 failures")
	}
	for i := range 20_000 {
		key := "junk" + strconv.Itoa(i)
		_ = l.check(key)
		l.add(key)
		if i%1000 == 0 {
			c.Advance(time.Second)
		}
	}
	if n := l.len(); n > 1000 {
		t.Fatalf("the limiter holds %d keys, want at most its cap of 1000", n)
	}
	var busy *BusyError
	if err := l.check("victim"); !errors.As(err, &busy) {
		t.Fatalf("after a flood of 20000 junk keys the victim is no longer blocked: %v", err)
	}
}

func TestCheckingStoresNothing(t *testing.T) {
	c := &clock{now: time.Unix(1_700_000_000, 0)}
	l := testLimiter(c, Rate{1, time.Minute}, 1000, true)
	for i := range 500 {
		if err := l.check("unknown" + strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	l.add("blocked")
	for range 100 {
		_ = l.check("blocked")
	}
	if n := l.len(); n != 1 {
		t.Fatalf("the limiter holds %d keys after checks of unknown keys, want only the 1 that had an event", n)
	}
}

func TestAFullLimiterEvictsTheEntryThatExpiresFirst(t *testing.T) {
	c := &clock{now: time.Unix(1_700_000_000, 0).Truncate(time.Minute)}
	l := testLimiter(c, Rate{5, time.Minute}, 3, true)
	l.add("old")
	c.Advance(time.Minute)
	l.add("newer")
	l.add("newest")
	l.add("old") // its last event is now the newest: "newer" expires first
	l.add("another")
	if _, ok := l.entries["newer"]; ok {
		t.Fatalf("the entry expiring soonest was kept: %v", keysOf(l))
	}
	for _, k := range []string{"old", "newest", "another"} {
		if _, ok := l.entries[k]; !ok {
			t.Fatalf("%s was evicted, want the soonest to expire: %v", k, keysOf(l))
		}
	}
}

func keysOf(l *limiter) []string {
	var keys []string
	for k := range l.entries {
		keys = append(keys, k)
	}
	return keys
}

func TestWhenEveryKeyIsBlockedFailureLimitsRefuseNewKeysAndVolumeLimitsPassThem(t *testing.T) {
	for _, failClosed := range []bool{true, false} {
		t.Run(fmt.Sprint("fail_closed=", failClosed), func(t *testing.T) {
			c := &clock{now: time.Unix(1_700_000_000, 0)}
			l := testLimiter(c, Rate{1, time.Minute}, 2, failClosed)
			l.add("a")
			l.add("b")
			err := l.check("c")
			if failClosed != (err != nil) {
				t.Fatalf("a new key while every key is blocked: %v", err)
			}
			l.add("c")
			if l.len() != 2 || l.entries["a"] == nil || l.entries["b"] == nil {
				t.Fatalf("a blocked key was evicted for a new one: %v", keysOf(l))
			}
			c.Advance(2 * time.Minute) // the blocks lift
			if err := l.check("c"); err != nil {
				t.Fatalf("once blocks lift: %v", err)
			}
			l.add("c")
			if l.entries["c"] == nil || l.len() > 2 {
				t.Fatalf("a new key once blocks lifted: %v", keysOf(l))
			}
		})
	}
}

func TestIPv6ClientsCountByTheirPrefix(t *testing.T) {
	ls := newLimiters(DefaultLimits, time.Now, nil)
	per128 := newLimiters(Limits{IPv6Prefix: 128}, time.Now, nil)
	tests := []struct{ ip, want, want128 string }{
		{"192.0.2.7", "192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64", "2001:db8:1:2:aaaa::1/128"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64", "2001:db8:1:2:ffff:ffff:ffff:ffff/128"},
		{"fe80::1%eth0", "fe80::/64", "fe80::1/128"},
		{"not an ip", "not an ip", "not an ip"},
	}
	for _, tt := range tests {
		if got := ls.clientKey(tt.ip); got != tt.want {
			t.Errorf("clientKey(%q) = %q, want %q", tt.ip, got, tt.want)
		}
		if got := per128.clientKey(tt.ip); got != tt.want128 {
			t.Errorf("with /128: clientKey(%q) = %q, want %q", tt.ip, got, tt.want128)
		}
	}
}

func TestAnIPv6ClientRotatingInsideItsPrefixIsOneClient(t *testing.T) {
	f := newFixture(t, withLimits(func(l *Limits) { l.SessionsPerIP = Rate{3, time.Minute} }))
	ctx := context.Background()
	session := func(ip string) error {
		_, err := f.svc.CreateSession(ctx, SessionRequest{ClientIP: ip, Params: Params{"application_id": "1", "auth_key": testAppKey}})
		return err
	}
	for i := range 3 {
		if err := session(fmt.Sprintf("2001:db8::%x", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	var busy *BusyError
	if err := session("2001:db8::ffff"); !errors.As(err, &busy) || busy.Limit != LimitSessionsPerIP {
		t.Fatalf("a 4th address in the same /64: %v, want sessions_per_ip", err)
	}
	if err := session("2001:db8:0:1::1"); err != nil {
		t.Fatalf("another /64: %v", err)
	}
}

func TestFailuresByLoginAndByEmailCountAgainstOneAccount(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	login, email, password := "hannah", "hannah@example.com", "supersecret"
	if _, err := f.svc.CreateUser(ctx, CreateUserRequest{AppID: 1, ClientIP: "192.0.2.1",
		Input: UserInput{Login: &login, Email: &email, Password: &password}}); err != nil {
		t.Fatal(err)
	}
	attempt := func(field, value, password string) error {
		_, err := f.svc.CreateSession(ctx, SessionRequest{ClientIP: "198.51.100.7", Params: Params{
			"application_id": "1", "auth_key": testAppKey, "user[" + field + "]": value, "user[password]": password,
		}})
		return err
	}
	for i := range 10 {
		field, value := "login", login
		if i%2 == 1 {
			field, value = "email", email
		}
		if err := attempt(field, value, "wrongpassword"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	var busy *BusyError
	for _, field := range []string{"login", "email"} {
		value := map[string]string{"login": login, "email": email}[field]
		if err := attempt(field, value, password); !errors.As(err, &busy) || busy.Limit != LimitFailuresPerAccountIP {
			t.Fatalf("by %s after 5 failures by login and 5 by email: %v, want failures_per_account_ip", field, err)
		}
	}
}

func TestPOSTLoginHasAVolumeLimitPerIP(t *testing.T) {
	f := newFixture(t, withLimits(func(l *Limits) { l.LoginsPerIP = Rate{2, time.Minute} }))
	ctx := context.Background()
	f.mustLogin(t, "ivan")
	app, err := f.svc.CreateSession(ctx, SessionRequest{ClientIP: "192.0.2.1", Params: Params{"application_id": "1", "auth_key": testAppKey}})
	if err != nil {
		t.Fatal(err)
	}
	login := func() error {
		_, err := f.svc.Login(ctx, LoginRequest{Token: app.Token, ClientIP: "192.0.2.1",
			Params: Params{"login": "ivan", "password": "supersecret"}})
		return err
	}
	for i := range 2 {
		if err := login(); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	var busy *BusyError
	if err := login(); !errors.As(err, &busy) || busy.Limit != LimitLoginsPerIP {
		t.Fatalf("3rd POST /login in a minute: %v, want logins_per_ip", err)
	}
}

// BenchmarkLimiterAtTheCap is a failure limiter holding maxLimiterKeys
// keys: checks of held and unknown keys, and events for new keys, each of
// which evicts one.
//
//	go test ./authcore/ -run '^$' -bench LimiterAtTheCap -benchmem
func BenchmarkLimiterAtTheCap(b *testing.B) {
	c := &clock{now: time.Unix(1_700_000_000, 0)}
	l := newLimiter("bench", Rate{10, 15 * time.Minute}, c.Now, true)
	for i := range maxLimiterKeys {
		l.add("held" + strconv.Itoa(i))
	}
	b.Run("op=check_held", func(b *testing.B) {
		i := 0
		for b.Loop() {
			_ = l.check("held" + strconv.Itoa(i%maxLimiterKeys))
			i++
		}
	})
	b.Run("op=check_unknown", func(b *testing.B) {
		i := 0
		for b.Loop() {
			_ = l.check("unknown" + strconv.Itoa(i))
			i++
		}
	})
	b.Run("op=add_new_evicting", func(b *testing.B) {
		i := 0
		for b.Loop() {
			l.add("new" + strconv.Itoa(i))
			i++
		}
		if l.len() > maxLimiterKeys {
			b.Fatalf("%d keys", l.len())
		}
	})
}

func TestConcurrentTakesNeverPassMoreThanTheRate(t *testing.T) {
	c := &clock{now: time.Unix(1_700_000_000, 0)}
	l := newLimiter("race", Rate{5, time.Hour}, c.Now, false)
	var passed atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if l.take("one key") == nil {
				passed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := passed.Load(); got != 5 {
		t.Fatalf("%d of 200 concurrent takes passed a 5/1h limit", got)
	}
}

// wrongLogins tries a wrong password for login on each service in turn, n
// times, and fails unless each is refused as a wrong password.
func wrongLogins(t *testing.T, svcs []*Service, login string, n int) {
	t.Helper()
	for i := range n {
		_, err := svcs[i%len(svcs)].CreateSession(context.Background(), SessionRequest{ClientIP: "198.51.100.7", Params: Params{
			"application_id": "1", "auth_key": testAppKey, "user[login]": login, "user[password]": "wrongpassword",
		}})
		if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("wrong password %d on service %d: %v, want bad credentials", i+1, i%len(svcs), err)
		}
	}
}

func wantFailureLimit(t *testing.T, svc *Service, login string) {
	t.Helper()
	_, err := svc.CreateSession(context.Background(), SessionRequest{ClientIP: "198.51.100.7", Params: Params{
		"application_id": "1", "auth_key": testAppKey, "user[login]": login, "user[password]": "supersecret",
	}})
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Limit != LimitFailuresPerAccountIP {
		t.Fatalf("the right password after the budget of wrong ones: %v, want failures_per_account_ip", err)
	}
}

func TestServicesOnOneStoreShareOneFailureBudgetAndANewServiceRemembersIt(t *testing.T) {
	f := newFixture(t)
	f.mustLogin(t, "judy")
	nodes := []*Service{f.svc}
	for range 2 {
		s := New(f.st, f.svc.Options())
		t.Cleanup(s.Close)
		nodes = append(nodes, s)
	}
	wrongLogins(t, nodes, "judy", DefaultLimits.FailuresPerAccountIP.Count)
	for _, s := range nodes {
		wantFailureLimit(t, s, "judy")
	}
	reloaded := New(f.st, f.svc.Options()) // a reload: empty local limiters
	t.Cleanup(reloaded.Close)
	wantFailureLimit(t, reloaded, "judy")
}

// failingCounters is a store whose shared counters are unreachable.
type failingCounters struct {
	*countingStore
	calls atomic.Int64
}

func (f *failingCounters) AddLimitCount(context.Context, string, time.Time, time.Duration, int64) (int64, int64, error) {
	f.calls.Add(1)
	return 0, 0, store.ErrUnavailable
}

func (f *failingCounters) LimitCount(context.Context, string, time.Time, time.Duration) (int64, int64, error) {
	f.calls.Add(1)
	return 0, 0, store.ErrUnavailable
}

func (f *failingCounters) DeleteLimitCounts(context.Context, string) error {
	f.calls.Add(1)
	return store.ErrUnavailable
}

// reports records what ReportSharedCounters hears.
type reports struct {
	mu   sync.Mutex
	errs []error
}

func (r *reports) ReportError(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

func TestWhenTheSharedCountersFailEachServiceStillLimitsOnItsOwnAndSaysSoOnce(t *testing.T) {
	f := newFixture(t)
	f.mustLogin(t, "kim")
	broken := &failingCounters{countingStore: f.st}
	heard := &reports{}
	opts := f.svc.Options()
	limits := *opts.Limits
	limits.ReportSharedCounters = heard
	opts.Limits = &limits
	s := New(broken, opts)
	t.Cleanup(s.Close)
	wrongLogins(t, []*Service{s}, "kim", DefaultLimits.FailuresPerAccountIP.Count)
	wantFailureLimit(t, s, "kim")
	if len(heard.errs) != 1 || heard.errs[0] == nil {
		t.Fatalf("reports = %v, want one error", heard.errs)
	}
	if n := broken.calls.Load(); n != 1 {
		t.Fatalf("the broken counters were asked %d times within the retry interval, want 1", n)
	}
	f.clock.Advance(counterRetry)
	wrongLoginsAfter := func() {
		_, _ = s.CreateSession(context.Background(), SessionRequest{ClientIP: "203.0.113.9", Params: Params{
			"application_id": "1", "auth_key": testAppKey, "user[login]": "kim", "user[password]": "wrongpassword",
		}})
	}
	wrongLoginsAfter()
	if n := broken.calls.Load(); n < 2 {
		t.Fatalf("the counters were not asked again after the retry interval (%d calls)", n)
	}
	if len(heard.errs) != 1 {
		t.Fatalf("reports = %v, want still one: the outage goes on", heard.errs)
	}
}
