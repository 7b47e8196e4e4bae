package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"

	"github.com/cubeauth/cubeauth/store"
	pgstore "github.com/cubeauth/cubeauth/store/postgres"
)

// acquirePostgres opens a PostgreSQL store, or shares the one already open
// with the same connection string and options (a reload that changes them
// opens a second pool while the old config drains). The pool key is a hash,
// so that the connection string, which may hold a password, is kept nowhere
// but in the config.
func acquirePostgres(ctx caddy.Context, cfg *StorageConfig, repl *caddy.Replacer) (store.Store, string, error) {
	dsn := repl.ReplaceKnown(cfg.DSN, "")
	if dsn == "" {
		return nil, "", errors.New("storage postgres: the connection string is empty (is the placeholder's variable set?)")
	}
	if cfg.MaxConns < 0 || cfg.ConnectTimeout < 0 || cfg.QueryTimeout < 0 || cfg.ReconcileInterval < 0 {
		return nil, "", errors.New("storage postgres: max_conns and timeouts must not be negative")
	}
	opts := pgstore.Options{
		DSN:               dsn,
		MaxConns:          int32(min(cfg.MaxConns, 1<<20)),
		ConnectTimeout:    time.Duration(cfg.ConnectTimeout),
		QueryTimeout:      time.Duration(cfg.QueryTimeout),
		ReconcileInterval: time.Duration(cfg.ReconcileInterval),
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d\x00%d\x00%d",
		dsn, opts.MaxConns, opts.ConnectTimeout, opts.QueryTimeout, opts.ReconcileInterval))
	key := "postgres:" + hex.EncodeToString(sum[:12])
	logger := ctx.Logger().Named("postgres")
	val, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		opts.Logger = slog.New(zapslog.NewHandler(logger.Core()))
		st, err := pgstore.Open(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("storage postgres: %w", err)
		}
		logger.Info("opened store", zap.String("database", st.Location()))
		return pooledStore{st}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return val.(pooledStore).Store, key, nil
}
