package e2e

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/internal/testcaddy"
	"github.com/cubeauth/cubeauth/internal/testpg"
)

// The fleet tests run several Caddy processes with cubeauth on one
// PostgreSQL database (a fresh schema per test on a throwaway cluster; see
// internal/testpg), as the sidecars of a backend's replicas would.

// fleet is a set of nodes sharing one database.
type fleet struct {
	nodes []*server
	// dsn reaches the fleet's schema, for checks straight in the database.
	dsn string
	// appName is the fleet's application_name: the listener connections
	// are "<appName> listener".
	appName string
}

// startFleet starts n nodes on a fresh schema. The storage line takes the
// connection string from a placeholder, as a deployment would.
func startFleet(t *testing.T, n int) *fleet {
	t.Helper()
	return startFleetWith(t, n, func(cf string) string { return cf })
}

// startFleetWith is startFleet with each node's Caddyfile passed through edit.
func startFleetWith(t *testing.T, n int, edit func(caddyfile string) string) *fleet {
	t.Helper()
	f := &fleet{appName: "cubeauth_fleet_" + uniqueSuffix(t)}
	f.dsn = testpg.WithParam(testpg.Schema(t), "application_name", f.appName)
	for range n {
		s := &server{dir: t.TempDir()}
		s.start(t, func(p *testcaddy.Ports) string {
			s.backend = p.Port("backend")
			return edit(f.caddyfile(t, s, "development"))
		}, testcaddy.WithEnv("DATABASE_URL="+f.dsn))
		f.nodes = append(f.nodes, s)
	}
	return f
}

// caddyfile is the e2e config with PostgreSQL storage instead of Badger.
func (f *fleet) caddyfile(t *testing.T, s *server, devStage string) string {
	t.Helper()
	badger := "storage badger " + s.dir + "/data"
	cf := s.caddyfile(devStage)
	if !strings.Contains(cf, badger) {
		t.Fatalf("the e2e Caddyfile has no line %q to replace", badger)
	}
	return strings.Replace(cf, badger, "storage postgres {env.DATABASE_URL} {\n\t\t\tmax_conns 4\n\t\t}", 1)
}

// clients returns a client per node.
func (f *fleet) clients(t *testing.T) []*client {
	var cs []*client
	for _, s := range f.nodes {
		cs = append(cs, newClient(t, s))
	}
	return cs
}

// listeners counts the fleet's listener connections that wait for
// notifications (idle, done with LISTEN and the first log position).
func (f *fleet) listeners(t *testing.T) int64 {
	return testpg.QueryInt(t, f.dsn, `SELECT count(*) FROM pg_stat_activity
		WHERE application_name = $1 AND state = 'idle' AND query NOT LIKE 'LISTEN%'`, f.appName+" listener")
}

// waitForListeners waits until every node listens again (after the
// database restarted) and has told its caches to start over, failing the
// test after timeout.
func (f *fleet) waitForListeners(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for f.listeners(t) != int64(len(f.nodes)) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d nodes listen %v after the restart", f.listeners(t), len(f.nodes), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The reset follows the listener's first query by microseconds.
	time.Sleep(50 * time.Millisecond)
}

// tokenStatus is the status a node answers for a token on the proxied path.
func tokenStatus(c *client, token string) int {
	c.t.Helper()
	return c.do(http.MethodGet, whoamiPath, nil, "CB-Token", token).Status
}

// refusedWithin polls c until it refuses token (401) and returns how long
// that took, failing the test after limit or on any other answer than 200.
func refusedWithin(t *testing.T, c *client, token string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		r := c.do(http.MethodGet, whoamiPath, nil, "CB-Token", token)
		elapsed := time.Since(start)
		switch r.Status {
		case http.StatusUnauthorized:
			r.wantBody(t, expiredSessionBody)
			return elapsed
		case http.StatusOK:
		default:
			t.Fatalf("%s while waiting for the revocation to arrive", r)
		}
		if elapsed > limit {
			t.Fatalf("the token was still accepted %v after the logout on another node", elapsed)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestFleetAUserCreatedOnOneNodeLogsInOnAnother(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 2)
	c := f.clients(t)
	login := "fleet" + uniqueSuffix(t)
	credentials := map[string]any{"user": map[string]any{"login": login, "password": "supersecret1"}}

	created := decodeUser(t, c[0].postJSON("/users.json", credentials, "CB-AuthKey", prodAuthKey).want2xx(t))
	r := c[1].postJSON("/session.json", map[string]any{
		"application_id": prodAppID, "auth_key": prodAuthKey, "user": credentials["user"],
	}).want(t, http.StatusCreated)
	s := decodeSession(t, r)
	if s.UserID == nil || *s.UserID != created.ID {
		t.Fatalf("%s: want user %d, created on the other node", r, created.ID)
	}
	for i, cl := range c {
		if got := cl.backend(http.MethodGet, "CB-Token", s.Token); got.UserID != strconv.FormatInt(created.ID, 10) || got.Login != login {
			t.Fatalf("node %d forwards the token as %+v, want user %d %q", i, got, created.ID, login)
		}
	}
}

func TestFleetConcurrentFirstSessionsForOneLoginCreateExactlyOneUser(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 3)
	c := f.clients(t)
	login := "race" + uniqueSuffix(t)
	const perNode = 4
	var wg sync.WaitGroup
	replies := make([]reply, len(c)*perNode)
	start := make(chan struct{})
	for i := range replies {
		wg.Go(func() {
			<-start
			replies[i] = c[i%len(c)].postJSON("/session.json", map[string]any{
				"application_id": devAppID, "auth_key": devAuthKey,
				"user": map[string]any{"login": login, "password": "supersecret1"},
			})
		})
	}
	close(start)
	wg.Wait()
	var ids []int64
	for _, r := range replies {
		s := decodeSession(t, r.want(t, http.StatusCreated))
		if s.UserID == nil {
			t.Fatalf("%s: want a user session", r)
		}
		ids = append(ids, *s.UserID)
	}
	if distinct := slices.Compact(slices.Sorted(slices.Values(ids))); len(distinct) != 1 {
		t.Fatalf("%d concurrent first sessions on %d nodes got users %v, want one user", len(ids), len(c), ids)
	}
	if n := testpg.QueryInt(t, f.dsn, `SELECT count(*) FROM cubeauth_users WHERE lower(login) = lower($1)`, login); n != 1 {
		t.Fatalf("the database holds %d users with login %q, want 1", n, login)
	}
}

// revocations is how many logouts TestFleetALogoutOnOneNodeIsRefusedOnTheOthersWithinASecond
// measures; CUBEAUTH_FLEET_REVOCATIONS raises it for a measurement run.
func revocations(t *testing.T) int {
	if v := os.Getenv("CUBEAUTH_FLEET_REVOCATIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CUBEAUTH_FLEET_REVOCATIONS=%q is not a positive integer", v)
		}
		return n
	}
	return 20
}

func TestFleetALogoutOnOneNodeIsRefusedOnTheOthersWithinASecond(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 3)
	c := f.clients(t)
	suffix := uniqueSuffix(t)
	n := revocations(t)
	var lags []time.Duration
	for i := range n {
		s := devLogin(t, c[i%3], fmt.Sprintf("logout%s-%d", suffix, i), "supersecret1")
		for _, cl := range c { // every node has the session in its cache
			cl.backend(http.MethodGet, "CB-Token", s.Token)
		}
		c[i%3].do(http.MethodDelete, "/session.json", nil, "CB-Token", s.Token).want2xx(t)
		for _, other := range []*client{c[(i+1)%3], c[(i+2)%3]} {
			lags = append(lags, refusedWithin(t, other, s.Token, time.Second))
		}
	}
	slices.Sort(lags)
	t.Logf("%d logouts, refused on the other nodes after: p50 %v, p99 %v, max %v",
		n, lags[len(lags)/2], lags[min(len(lags)-1, len(lags)*99/100)], lags[len(lags)-1])
}

func TestFleetAStageSwitchOnOneNodeAppliesOnTheOthers(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 2)
	a, b := f.nodes[0], f.nodes[1]
	cb := newClient(t, b)
	suffix := uniqueSuffix(t)
	kept := devLogin(t, cb, "kept"+suffix, "supersecret1")

	// Until the admin API can do it, a reload of A's config writes the
	// app's new stage to the database.
	a.Caddy.Reload(t, f.caddyfile(t, a, "production"))
	deadline := time.Now().Add(time.Second)
	for i := 0; ; i++ {
		r := cb.postJSON("/session.json", map[string]any{
			"application_id": devAppID, "auth_key": devAuthKey,
			"user": map[string]any{"login": fmt.Sprintf("new%s-%d", suffix, i), "password": "supersecret1"},
		})
		if r.Status == http.StatusNotFound {
			r.wantBody(t, `{"errors":["User not found"]}`)
			break
		}
		r.want(t, http.StatusCreated)
		if time.Now().After(deadline) {
			t.Fatalf("node B still creates users on first login 1s after node A switched the app to production")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Sessions are not dropped by the switch.
	if got := cb.backend(http.MethodGet, "CB-Token", kept.Token); got.UserID != strconv.FormatInt(*kept.UserID, 10) {
		t.Fatalf("after the stage switch the token maps to %+v", got)
	}

	a.Caddy.Reload(t, f.caddyfile(t, a, "development"))
	deadline = time.Now().Add(time.Second)
	for i := 0; ; i++ {
		r := cb.postJSON("/session.json", map[string]any{
			"application_id": devAppID, "auth_key": devAuthKey,
			"user": map[string]any{"login": fmt.Sprintf("back%s-%d", suffix, i), "password": "supersecret1"},
		})
		if r.Status == http.StatusCreated {
			break
		}
		r.want(t, http.StatusNotFound)
		if time.Now().After(deadline) {
			t.Fatalf("node B still refuses first logins 1s after node A switched the app back to development")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFleetSurvivesAPostgresRestartAndOutage(t *testing.T) {
	t.Parallel()
	testpg.Restartable(t) // before the schema: this test has the database to itself
	f := startFleet(t, 2)
	c := f.clients(t)
	suffix := uniqueSuffix(t)
	cached := devLogin(t, c[0], "cached"+suffix, "supersecret1")
	uncached := devLogin(t, c[0], "uncached"+suffix, "supersecret1")
	for _, cl := range c {
		cl.backend(http.MethodGet, "CB-Token", cached.Token)
	}

	// A restart: the pools and listeners reconnect by themselves.
	testpg.Restart(t)
	for i, cl := range c {
		if got := tokenStatus(cl, cached.Token); got != http.StatusOK {
			t.Fatalf("node %d answers %d for a cached session right after the restart", i, got)
		}
	}
	f.waitForListeners(t, 10*time.Second)
	for _, cl := range c { // cached again after the listeners' reset
		cl.backend(http.MethodGet, "CB-Token", cached.Token)
	}
	s := recoveredLogin(t, c[1], "after"+suffix)
	c[1].backend(http.MethodGet, "CB-Token", s.Token)
	c[0].backend(http.MethodGet, "CB-Token", s.Token)
	c[1].do(http.MethodDelete, "/session.json", nil, "CB-Token", s.Token).want2xx(t)
	refusedWithin(t, c[0], s.Token, time.Second)

	// An outage: cached sessions keep working (offline grace), everything
	// that needs the database answers 503, never 401 and never forwarded.
	testpg.Stop(t)
	for i, cl := range c {
		if got := tokenStatus(cl, cached.Token); got != http.StatusOK {
			t.Fatalf("node %d answers %d for a cached session while the database is down", i, got)
		}
	}
	c[1].do(http.MethodGet, whoamiPath, nil, "CB-Token", uncached.Token).want(t, http.StatusServiceUnavailable)
	c[0].postJSON("/session.json", map[string]any{
		"application_id": devAppID, "auth_key": devAuthKey,
		"user": map[string]any{"login": "down" + suffix, "password": "supersecret1"},
	}).want(t, http.StatusServiceUnavailable)
	c[0].do(http.MethodDelete, "/session.json", nil, "CB-Token", cached.Token).want(t, http.StatusServiceUnavailable)

	// Back without restarting Caddy.
	testpg.Start(t)
	f.waitForListeners(t, 10*time.Second)
	for i, cl := range c {
		if got := tokenStatus(cl, uncached.Token); got != http.StatusOK {
			t.Fatalf("node %d answers %d for a stored session after the database came back", i, got)
		}
	}
	recoveredLogin(t, c[0], "back"+suffix)
}

// recoveredLogin logs in on c, retrying while the node still answers 503
// for a few seconds after the database came back.
func recoveredLogin(t *testing.T, c *client, login string) session {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := c.postJSON("/session.json", map[string]any{
			"application_id": devAppID, "auth_key": devAuthKey,
			"user": map[string]any{"login": login, "password": "supersecret1"},
		})
		if r.Status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return decodeSession(t, r.want(t, http.StatusCreated))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// failureBudget is the default failures_per_account_ip: wrong passwords for
// one account from one client before it is refused.
const failureBudget = 10

// wrongPasswords tries a wrong password for login on each client in turn,
// n times, and fails the test unless every try is refused as a wrong
// password (not yet as throttled).
func wrongPasswords(t *testing.T, cs []*client, login string, n int) {
	t.Helper()
	for i := range n {
		r := cs[i%len(cs)].postJSON("/session.json", map[string]any{
			"application_id": devAppID, "auth_key": devAuthKey,
			"user": map[string]any{"login": login, "password": "wrong-password"},
		})
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d of %d, on node %d: %s; want 401", i+1, n, i%len(cs), r)
		}
	}
}

// wantThrottled fails the test unless the right password for login is
// refused as throttled on every client.
func wantThrottled(t *testing.T, cs []*client, login, password string) {
	t.Helper()
	for i, c := range cs {
		r := c.postJSON("/session.json", map[string]any{
			"application_id": devAppID, "auth_key": devAuthKey,
			"user": map[string]any{"login": login, "password": password},
		})
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("node %d after the budget of wrong passwords: %s; want 429", i, r)
		}
	}
}

func TestFleetWrongPasswordsSpreadOverThreeNodesAreBlockedAfterOneNodesBudget(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 3)
	c := f.clients(t)
	login := "spread" + uniqueSuffix(t)
	devLogin(t, c[0], login, "supersecret1")
	// Round robin: each node alone sees a third of the budget.
	wrongPasswords(t, c, login, failureBudget)
	wantThrottled(t, c, login, "supersecret1")
	if n := testpg.QueryInt(t, f.dsn, `SELECT count(*) FROM cubeauth_limit_counters
		WHERE key LIKE '%`+login+`%'`); n != 0 {
		t.Fatalf("%d counters name the login in plain text", n)
	}
}

// TestFleetNodesLimitOnTheirOwnWhileTheSharedCountersFail takes the shared
// counters' table away from a running fleet (as a lost privilege or a
// botched migration would), in real PostgreSQL, while users and sessions
// keep answering: each node then blocks wrong passwords after its own
// budget, never no limit, and says so once; with the table back, the
// counters answer again.
func TestFleetNodesLimitOnTheirOwnWhileTheSharedCountersFail(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 2)
	c := f.clients(t)
	login := "fallback" + uniqueSuffix(t)
	devLogin(t, c[0], login, "supersecret1")
	testpg.Exec(t, f.dsn, `ALTER TABLE cubeauth_limit_counters RENAME TO cubeauth_limit_counters_gone`)
	for i := range c {
		wrongPasswords(t, c[i:i+1], login, failureBudget)
		wantThrottled(t, c[i:i+1], login, "supersecret1")
	}
	const down = "shared abuse-limit counters unavailable"
	for i, n := range f.nodes {
		if got := strings.Count(n.Caddy.Logs(), down); got != 1 {
			t.Fatalf("node %d logged %q %d times, want once:\n%s", i, down, got, n.Caddy.Logs())
		}
	}
	testpg.Exec(t, f.dsn, `ALTER TABLE cubeauth_limit_counters_gone RENAME TO cubeauth_limit_counters`)
	// Each node asks the counters again 5 s after they failed.
	const up = "shared abuse-limit counters answer again"
	other := "fallback2" + uniqueSuffix(t)
	devLogin(t, c[0], other, "supersecret1")
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(f.nodes[0].Caddy.Logs(), up); time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("node 0 never logged %q:\n%s", up, f.nodes[0].Caddy.Logs())
		}
		wrongPasswords(t, c[:1], other, 1)
	}
}

func TestWrongPasswordsBeforeARestartStillCountOnOneBadgerNode(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := []*client{newClient(t, s)}
	login := "restart" + uniqueSuffix(t)
	devLogin(t, c[0], login, "supersecret1")
	wrongPasswords(t, c, login, failureBudget/2)
	s.Caddy.Restart(t) // a new process: nothing of the count is left in memory
	wrongPasswords(t, c, login, failureBudget-failureBudget/2)
	wantThrottled(t, c, login, "supersecret1")
}
