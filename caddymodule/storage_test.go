package caddymodule

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/internal/testpg"
	"github.com/cubeauth/cubeauth/store"
)

// TestMain lets testpg start a private PostgreSQL cluster for this package
// when CUBEAUTH_TEST_POSTGRES names none, and remove it afterwards.
func TestMain(m *testing.M) { os.Exit(testpg.Main(m.Run)) }

func TestStorageOptionsThatDoNotApplyAreRefused(t *testing.T) {
	for _, input := range []string{
		"cubeauth {\n storage badger /data {\n max_conns 3\n }\n}",
		"cubeauth {\n storage badger /data /other\n}",
		"cubeauth {\n storage postgres\n}",
		"cubeauth {\n storage postgres postgres://db {\n max_conns 0\n }\n}",
		"cubeauth {\n storage postgres postgres://db {\n pool 3\n }\n}",
		"cubeauth {\n storage redis localhost\n}",
		"cubeauth {\n storage\n}",
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err == nil {
			t.Errorf("accepted %q", input)
		}
	}
}

// provisionedPostgres is a provisioned PostgreSQL driver for dsn.
func provisionedPostgres(t *testing.T, dsn string) *PostgresStorage {
	t.Helper()
	p := &PostgresStorage{DSN: dsn, MaxConns: 2}
	if err := p.Provision(caddyContext(t)); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAnUnreachablePostgresFailsWithoutShowingThePassword(t *testing.T) {
	const password = "pa55word"
	// Port 1 refuses connections.
	p := provisionedPostgres(t, "postgres://u:"+password+"@127.0.0.1:1/db?connect_timeout=1")
	if name := p.StoreName(); strings.Contains(name, password) || name != "postgres:u@127.0.0.1:1/db" {
		t.Errorf("store name %q: want postgres:u@127.0.0.1:1/db, no password", name)
	}
	st, err := p.OpenStore(zap.NewNop())
	if err == nil {
		_ = st.Close()
		t.Fatal("opening a store on a closed port succeeded")
	}
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("got %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), password) {
		t.Fatalf("the error shows the password: %v", err)
	}
}

func TestAMalformedConnectionStringFailsAtProvisionWithoutShowingIt(t *testing.T) {
	p := &PostgresStorage{DSN: "postgres://u:pa55word@[::1/db"}
	err := p.Provision(caddyContext(t))
	if err == nil || strings.Contains(err.Error(), "pa55word") {
		t.Fatalf("got %v: want an error that does not show the string", err)
	}
}

func TestHandlersOverOnePostgresDatabaseShareOneEngine(t *testing.T) {
	dsn := testpg.Schema(t)
	t.Setenv("CUBEAUTH_POOL_TEST_DSN", dsn)
	raw, _ := json.Marshal(map[string]any{"driver": "postgres", "dsn": "{env.CUBEAUTH_POOL_TEST_DSN}", "max_conns": 2})
	a := &Handler{StorageRaw: raw, HashInProcess: true}
	b := &Handler{StorageRaw: raw, HashInProcess: true}
	startHandlers(t, a, b)
	if a.engine != b.engine || a.service.Store() != b.service.Store() {
		t.Fatal("two handlers over one database opened two stores")
	}
	if name := a.engine.Name(); strings.Contains(name, "search_path") || !strings.HasPrefix(name, "postgres:") {
		t.Fatalf("the store's name %q shows the connection string", name)
	}
}

func TestHandlersShareOneHasherPerProcessWhateverTheirStores(t *testing.T) {
	a := &Handler{StorageRaw: badgerAt(t.TempDir()), HashInProcess: true, HashConcurrency: 1}
	b := &Handler{StorageRaw: badgerAt(t.TempDir()), HashInProcess: true, HashConcurrency: 1}
	startHandlers(t, a, b)
	reload := &Handler{StorageRaw: badgerAt(t.TempDir()), HashInProcess: true, HashConcurrency: 1}
	startHandlers(t, reload)
	if a.opts.Hasher != b.opts.Hasher || a.opts.Hasher != reload.opts.Hasher {
		t.Fatal("handlers with the same hashing settings have their own hashers: hash_concurrency would multiply")
	}
	if a.engine == b.engine {
		t.Fatal("two directories share one engine")
	}
}
