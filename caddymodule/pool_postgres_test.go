package caddymodule

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/cubeauth/cubeauth/internal/testpg"
	"github.com/cubeauth/cubeauth/store"
)

// TestMain lets testpg start a private PostgreSQL cluster for this package
// when CUBEAUTH_TEST_POSTGRES names none, and remove it afterwards.
func TestMain(m *testing.M) { os.Exit(testpg.Main(m.Run)) }

func TestStoragePostgresParsesOnOneLineAndWithABlock(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		want        StorageConfig
	}{
		{"one line", `cubeauth {
			storage postgres {env.DATABASE_URL}
		}`, StorageConfig{Driver: "postgres", DSN: "{env.DATABASE_URL}"}},
		{"a block", `cubeauth {
			storage postgres postgres://db/cubeauth {
				max_conns 20
				connect_timeout 3s
				query_timeout 2s
				reconcile_interval 10s
				offline_grace 1m
			}
		}`, StorageConfig{Driver: "postgres", DSN: "postgres://db/cubeauth", MaxConns: 20,
			ConnectTimeout: caddy.Duration(3 * time.Second), QueryTimeout: caddy.Duration(2 * time.Second),
			ReconcileInterval: caddy.Duration(10 * time.Second), OfflineGrace: caddy.Duration(time.Minute)}},
		{"badger with a grace", `cubeauth {
			storage badger /data {
				offline_grace 30s
			}
		}`, StorageConfig{Driver: "badger", Path: "/data", OfflineGrace: caddy.Duration(30 * time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Handler
			if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input)); err != nil {
				t.Fatal(err)
			}
			if h.Storage == nil || *h.Storage != tc.want {
				t.Fatalf("got %+v, want %+v", h.Storage, tc.want)
			}
		})
	}
}

func TestStorageOptionsThatDoNotApplyAreRefused(t *testing.T) {
	for _, input := range []string{
		"cubeauth {\n storage badger /data {\n max_conns 3\n }\n}",
		"cubeauth {\n storage postgres postgres://db {\n max_conns 0\n }\n}",
		"cubeauth {\n storage postgres postgres://db {\n pool 3\n }\n}",
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err == nil {
			t.Errorf("accepted %q", input)
		}
	}
}

func TestAnUnreachablePostgresFailsWithoutShowingThePassword(t *testing.T) {
	const password = "pa55word"
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	// Port 1 refuses connections.
	_, key, err := acquirePostgres(ctx, &StorageConfig{
		Driver: "postgres", DSN: "postgres://u:" + password + "@127.0.0.1:1/db?connect_timeout=1",
	}, caddy.NewReplacer())
	if err == nil {
		_ = releaseStore(key)
		t.Fatal("opening a store on a closed port succeeded")
	}
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("got %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), password) {
		t.Fatalf("the error shows the password: %v", err)
	}
}

func TestPostgresStoresAreSharedByAKeyThatHidesTheConnectionString(t *testing.T) {
	dsn := testpg.Schema(t)
	t.Setenv("CUBEAUTH_POOL_TEST_DSN", dsn)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	cfg := &StorageConfig{Driver: "postgres", DSN: "{env.CUBEAUTH_POOL_TEST_DSN}", MaxConns: 2}
	first, key, err := acquirePostgres(ctx, cfg, caddy.NewReplacer())
	if err != nil {
		t.Fatal(err)
	}
	defer releaseStore(key)
	second, key2, err := acquirePostgres(ctx, cfg, caddy.NewReplacer())
	if err != nil {
		t.Fatal(err)
	}
	defer releaseStore(key2)
	if first != second || key != key2 {
		t.Fatalf("two acquisitions of one database opened two stores (keys %q, %q)", key, key2)
	}
	if strings.Contains(key, "127.0.0.1") || strings.Contains(key, "search_path") {
		t.Fatalf("the pool key %q shows the connection string", key)
	}
}
