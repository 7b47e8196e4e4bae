package caddymodule

import (
	"fmt"
	"path/filepath"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/store"
	badgerstore "github.com/cubeauth/cubeauth/store/badger"
)

// stores holds every open store, keyed by driver and location. Badger
// allows one opener per directory, and Caddy provisions a new config before
// it cleans up the old one, so both configs must share one open database.
var stores = caddy.NewUsagePool()

// pooledStore lets the pool close a store when its last user is gone.
type pooledStore struct {
	store.Store
}

// Destruct closes the store.
func (p pooledStore) Destruct() error { return p.Close() }

// acquireStore opens the configured store, or shares the one already open
// at that location. The returned key releases it.
func acquireStore(ctx caddy.Context, cfg *StorageConfig, repl *caddy.Replacer) (store.Store, string, error) {
	if cfg == nil {
		cfg = &StorageConfig{}
	}
	switch cfg.Driver {
	case "", "badger":
		dir := repl.ReplaceKnown(cfg.Path, "")
		if dir == "" {
			dir = filepath.Join(caddy.AppDataDir(), "cubeauth")
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, "", fmt.Errorf("storage path: %w", err)
		}
		key := "badger:" + abs
		logger := ctx.Logger().Named("badger")
		val, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
			st, err := badgerstore.Open(badgerstore.Options{Dir: abs, Logger: badgerLogger{logger.Sugar()}})
			if err != nil {
				return nil, fmt.Errorf("opening badger store at %s: %w", abs, err)
			}
			logger.Info("opened store", zap.String("path", abs))
			return pooledStore{st}, nil
		})
		if err != nil {
			return nil, "", err
		}
		return val.(pooledStore).Store, key, nil
	case "postgres":
		return acquirePostgres(ctx, cfg, repl)
	}
	return nil, "", fmt.Errorf("unknown storage driver %q", cfg.Driver)
}

func releaseStore(key string) error {
	_, err := stores.Delete(key)
	return err
}

// badgerLogger sends Badger's messages to Caddy's log; its chatty info and
// debug lines go to debug.
type badgerLogger struct{ *zap.SugaredLogger }

func (l badgerLogger) Errorf(f string, a ...any)   { l.SugaredLogger.Errorf(f, a...) }
func (l badgerLogger) Warningf(f string, a ...any) { l.SugaredLogger.Warnf(f, a...) }
func (l badgerLogger) Infof(f string, a ...any)    { l.SugaredLogger.Debugf(f, a...) }
func (l badgerLogger) Debugf(f string, a ...any)   { l.SugaredLogger.Debugf(f, a...) }
