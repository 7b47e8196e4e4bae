// Package testpg gives tests a fresh PostgreSQL schema on the database named
// by CUBEAUTH_TEST_POSTGRES, or skips them when there is none.
//
// Without the variable the tests try postgres://postgres@127.0.0.1:5432/test
// (the CI machine's server, trust authentication) and skip when it does not
// answer. Set CUBEAUTH_TEST_POSTGRES=off to skip them on purpose.
package testpg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the variable holding the test database's connection string.
const EnvDSN = "CUBEAUTH_TEST_POSTGRES"

// DefaultDSN is tried when EnvDSN is not set.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var probe struct {
	once sync.Once
	dsn  string
	why  string // why there is no database, when dsn is empty
}

// DSN returns the test database's connection string, or skips the test with
// the reason there is none.
func DSN(t testing.TB) string {
	t.Helper()
	probe.once.Do(func() {
		dsn, set := os.LookupEnv(EnvDSN)
		switch {
		case dsn == "off":
			probe.why = EnvDSN + "=off"
			return
		case !set || dsn == "":
			dsn = DefaultDSN
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			if set {
				probe.why = EnvDSN + " is set but the database does not answer: " + err.Error()
			} else {
				probe.why = "no PostgreSQL: set " + EnvDSN + " to a database the tests may create schemas in (" +
					DefaultDSN + " does not answer: " + err.Error() + ")"
			}
			return
		}
		_ = conn.Close(ctx)
		probe.dsn = dsn
	})
	if probe.dsn == "" {
		t.Skip("testpg: " + probe.why)
	}
	return probe.dsn
}

// exclusive holds the tests that took the lock exclusively.
var exclusive sync.Map // testing.TB -> cluster version

// Restartable prepares a test that restarts the server with Restart; call
// it first. It skips the test unless the database is a local Debian
// cluster, makes the test the only one on the database (in this process and
// in every other test process on the machine, waiting for running ones to
// finish) and, when the test ends, makes sure the server runs again.
func Restartable(t testing.TB) {
	t.Helper()
	cluster := localCluster(t)
	lock(t, true)
	exclusive.Store(t, cluster)
	t.Cleanup(func() {
		exclusive.Delete(t)
		ensureRunning(t, cluster)
	})
}

// Schema creates a fresh schema, drops it when the test ends, and returns
// a connection string whose search_path is that schema. The test holds the
// machine-wide lock shared until it ends, so that no other test restarts
// the server under it.
func Schema(t testing.TB) string {
	t.Helper()
	base := DSN(t)
	if _, ok := exclusive.Load(t); !ok {
		lock(t, false)
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

// Restart restarts the local PostgreSQL cluster (Debian's pg_ctlcluster)
// and returns when it accepts connections again. The test must have called
// Restartable.
func Restart(t testing.TB) {
	t.Helper()
	cluster := pgctl(t, "restart")
	ensureRunning(t, cluster)
}

// Stop stops the local PostgreSQL cluster; Start (or the end of the test)
// starts it again. The test must have called Restartable.
func Stop(t testing.TB) {
	t.Helper()
	pgctl(t, "stop")
}

// Start starts the local PostgreSQL cluster after Stop and returns when it
// accepts connections.
func Start(t testing.TB) {
	t.Helper()
	ensureRunning(t, pgctl(t, "start"))
}

// pgctl runs pg_ctlcluster with action on the cluster Restartable found.
func pgctl(t testing.TB, action string) string {
	t.Helper()
	cluster, ok := exclusive.Load(t)
	if !ok {
		t.Fatalf("testpg: %s needs Restartable first", action)
	}
	out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", cluster.(string), "main", action).CombinedOutput()
	if err != nil {
		t.Fatalf("testpg: pg_ctlcluster %s: %v\n%s", action, err, out)
	}
	return cluster.(string)
}

// localCluster returns the version of the only cluster in /etc/postgresql,
// or skips the test.
func localCluster(t testing.TB) string {
	t.Helper()
	DSN(t)
	if _, err := exec.LookPath("pg_ctlcluster"); err != nil {
		t.Skip("testpg: pg_ctlcluster not found: cannot restart PostgreSQL")
	}
	entries, err := os.ReadDir("/etc/postgresql")
	if err != nil || len(entries) != 1 {
		t.Skip("testpg: not exactly one cluster in /etc/postgresql: cannot restart PostgreSQL")
	}
	return entries[0].Name()
}

// ensureRunning starts the cluster if it is down and waits until it
// accepts connections.
func ensureRunning(t testing.TB, cluster string) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, probe.dsn)
		if err == nil {
			_ = conn.Close(ctx)
			cancel()
			return
		}
		cancel()
		if time.Now().After(deadline) {
			t.Errorf("testpg: PostgreSQL is not running after the test: %v", err)
			return
		}
		if out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "start").CombinedOutput(); err != nil {
			t.Logf("testpg: starting PostgreSQL: %v\n%s", err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
