package testpg

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m.Run)) }

func TestTheServerIsTheThrowawayClusterNotTheMachinesOwn(t *testing.T) {
	dsn := DSN(t)
	if probe.cluster == nil {
		t.Skipf("%s names a database without %s: nothing to compare", EnvDSN, EnvCluster)
	}
	var dir string
	withConn(t, dsn, func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, "SHOW data_directory").Scan(&dir)
	}, "SHOW data_directory")
	want, _ := filepath.EvalSymlinks(probe.cluster.data())
	if got, _ := filepath.EvalSymlinks(dir); got != want {
		t.Fatalf("the server's data directory is %s, want the throwaway cluster's %s", dir, want)
	}
	if port := QueryInt(t, dsn, "SELECT current_setting('port')::int"); port == 5432 {
		t.Fatalf("the throwaway cluster listens on 5432, the machine's own server's port")
	}
}

func TestRestartRestartsTheServerAndStopStopsItUntilStart(t *testing.T) {
	Restartable(t)
	dsn := DSN(t)
	started := func() int64 {
		return QueryInt(t, dsn, "SELECT (extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint")
	}
	before := started()
	Restart(t)
	if after := started(); after <= before {
		t.Fatalf("the server's start time is %d after Restart, want later than %d", after, before)
	}

	Stop(t)
	if err := ping(dsn); err == nil {
		t.Fatal("the server answers after Stop")
	}
	Start(t)
	if err := ping(dsn); err != nil {
		t.Fatalf("the server does not answer after Start: %v", err)
	}
}
