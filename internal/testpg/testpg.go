// Package testpg gives tests a fresh PostgreSQL schema on a throwaway
// cluster, never on the machine's own server.
//
// ./scripts/test.sh starts one private cluster for the whole run (initdb and
// pg_ctl from Debian's postgresql packages, its own port on 127.0.0.1, its
// own directory, removed afterwards) and names it in two variables:
//
//   - CUBEAUTH_TEST_POSTGRES: the connection string, or "off" to skip the
//     tests on purpose;
//   - CUBEAUTH_TEST_POSTGRES_CLUSTER: the cluster's directory (data/,
//     socket/, postgres.log), which lets [Restartable] tests stop and start
//     that server with pg_ctl. Without it they skip.
//
// Without CUBEAUTH_TEST_POSTGRES, a package whose TestMain runs [Main]
// starts a private cluster of its own on first use and removes it when its
// tests end; elsewhere, or when the PostgreSQL binaries are missing, the
// tests skip and say why.
package testpg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables read by testpg.
const (
	// EnvDSN names the variable holding the test database's connection
	// string.
	EnvDSN = "CUBEAUTH_TEST_POSTGRES"
	// EnvCluster names the variable holding the directory of the cluster
	// EnvDSN reaches, as ./scripts/test.sh lays it out.
	EnvCluster = "CUBEAUTH_TEST_POSTGRES_CLUSTER"
)

// managed records that [Main] runs this package's tests, and the cluster it
// started for them.
var managed struct {
	sync.Mutex
	running bool
	private *cluster
}

// Main runs a package's tests (run is m.Run, or a function calling another
// harness's Main) and then stops and removes the private cluster that
// testpg started for them, if any; it returns run's exit code:
//
//	func TestMain(m *testing.M) { os.Exit(testpg.Main(m.Run)) }
func Main(run func() int) int {
	managed.Lock()
	managed.running = true
	managed.Unlock()
	code := run()
	managed.Lock()
	defer managed.Unlock()
	if managed.private != nil {
		managed.private.remove()
	}
	return code
}

var probe struct {
	once    sync.Once
	dsn     string
	cluster *cluster // nil when the database is not one testpg may restart
	why     string   // why there is no database, when dsn is empty
	failed  bool     // there should be one, but it did not work: fail, not skip
}

// DSN returns the test database's connection string, or skips the test with
// the reason there is none.
func DSN(t testing.TB) string {
	t.Helper()
	probe.once.Do(findDatabase)
	switch {
	case probe.failed:
		t.Fatal("testpg: " + probe.why)
	case probe.dsn == "":
		t.Skip("testpg: " + probe.why)
	}
	return probe.dsn
}

// findDatabase fills probe from the environment, starting a private cluster
// when there is none.
func findDatabase() {
	dsn, set := os.LookupEnv(EnvDSN)
	switch {
	case dsn == "off":
		probe.why = EnvDSN + "=off"
		return
	case !set || dsn == "":
		startPrivateCluster()
		return
	}
	if dir := os.Getenv(EnvCluster); dir != "" {
		c, err := openCluster(dir)
		if err != nil {
			probe.why, probe.failed = EnvCluster+": "+err.Error(), true
			return
		}
		probe.cluster = c
		// A test in another package may have the server stopped: wait
		// for it to finish before asking.
		release, err := flock(c.lockPath(), false)
		if err != nil {
			probe.why, probe.failed = err.Error(), true
			return
		}
		defer release()
	}
	if err := ping(dsn); err != nil {
		probe.why, probe.failed = EnvDSN+" is set but the database does not answer: "+err.Error(), true
		return
	}
	probe.dsn = dsn
}

func startPrivateCluster() {
	managed.Lock()
	defer managed.Unlock()
	if !managed.running {
		probe.why = EnvDSN + " is not set, and this package's TestMain does not call testpg.Main, " +
			"which would start a private PostgreSQL cluster (./scripts/test.sh starts one for all packages)"
		return
	}
	if _, err := binDir(""); err != nil {
		probe.why = EnvDSN + " is not set, and there is no PostgreSQL to start a private cluster with: " + err.Error()
		return
	}
	c, dsn, err := newCluster()
	if err != nil {
		probe.why, probe.failed = "starting a private PostgreSQL cluster: "+err.Error(), true
		return
	}
	managed.private, probe.cluster, probe.dsn = c, c, dsn
}

func ping(dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// exclusive holds the tests that took the lock exclusively.
var exclusive sync.Map // testing.TB -> true

// Restartable prepares a test that stops or restarts the server with
// [Restart], [Stop] and [Start]; call it first. It skips the test unless the
// database is a throwaway cluster testpg knows (see [EnvCluster]), makes the
// test the only one on the cluster (in this process and in every other test
// process using it, waiting for running ones to finish) and, when the test
// ends, makes sure the server runs again.
func Restartable(t testing.TB) {
	t.Helper()
	DSN(t)
	if probe.cluster == nil {
		t.Skip("testpg: " + EnvDSN + " names a database without " + EnvCluster + ": cannot restart it")
	}
	lock(t, probe.cluster.lockPath(), true)
	exclusive.Store(t, true)
	t.Cleanup(func() {
		exclusive.Delete(t)
		ensureRunning(t)
	})
}

// Schema creates a fresh schema, drops it when the test ends, and returns
// a connection string whose search_path is that schema. The test holds the
// cluster's lock shared until it ends, so that no other test restarts the
// server under it.
func Schema(t testing.TB) string {
	t.Helper()
	base := DSN(t)
	if _, ok := exclusive.Load(t); !ok && probe.cluster != nil {
		lock(t, probe.cluster.lockPath(), false)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "cubeauth_test_" + hex.EncodeToString(b)
	Exec(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("testpg: dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("testpg: dropping schema %s: %v", schema, err)
		}
	})
	return WithParam(base, "search_path", schema)
}

// WithParam returns dsn with a connection parameter set, in the URL or the
// key=value form.
func WithParam(dsn, key, value string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set(key, value)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " " + key + "=" + value
}

// Exec runs sql on the database dsn names, failing the test on error.
func Exec(t testing.TB, dsn, sql string, args ...any) {
	t.Helper()
	withConn(t, dsn, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, sql, args...)
		return err
	}, sql)
}

// QueryInt runs a query returning one integer on the database dsn names.
func QueryInt(t testing.TB, dsn, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	withConn(t, dsn, func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, sql, args...).Scan(&n)
	}, sql)
	return n
}

// withConn runs fn on a fresh connection to dsn, failing the test when
// connecting or fn fails.
func withConn(t testing.TB, dsn string, fn func(context.Context, *pgx.Conn) error, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("testpg: %v", err)
	}
	defer conn.Close(ctx)
	if err := fn(ctx, conn); err != nil {
		t.Fatalf("testpg: %s: %v", sql, err)
	}
}

// Restart restarts the server with pg_ctl and returns when it accepts
// connections again. The test must have called [Restartable].
func Restart(t testing.TB) {
	t.Helper()
	pgctl(t, "restart", (*cluster).restart)
	ensureRunning(t)
}

// Stop stops the server; [Start] (or the end of the test) starts it again.
// The test must have called [Restartable].
func Stop(t testing.TB) {
	t.Helper()
	pgctl(t, "stop", (*cluster).stop)
}

// Start starts the server after [Stop] and returns when it accepts
// connections.
func Start(t testing.TB) {
	t.Helper()
	pgctl(t, "start", (*cluster).start)
	ensureRunning(t)
}

// pgctl runs action on the cluster of a test that called Restartable.
func pgctl(t testing.TB, name string, action func(*cluster) error) {
	t.Helper()
	if _, ok := exclusive.Load(t); !ok {
		t.Fatalf("testpg: %s needs Restartable first", name)
	}
	if err := action(probe.cluster); err != nil {
		t.Fatalf("testpg: %v", err)
	}
}

// ensureRunning starts the cluster if it is down and waits until it
// accepts connections.
func ensureRunning(t testing.TB) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := ping(probe.dsn)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("testpg: PostgreSQL is not running after the test: %v", err)
			return
		}
		if err := probe.cluster.start(); err != nil {
			t.Logf("testpg: starting PostgreSQL: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
