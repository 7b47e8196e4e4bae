package caddymodule

import (
	"fmt"
	"path/filepath"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/store"
	badgerstore "github.com/cubeauth/cubeauth/store/badger"
)

func init() {
	caddy.RegisterModule(BadgerStorage{})
}

// BadgerStorage keeps cubeauth's data in an embedded Badger database: the
// default, for one sidecar. Badger allows one opener per directory, so
// every handler over one directory shares one open database, also across
// config reloads.
type BadgerStorage struct {
	// Path is the data directory. Placeholders are replaced.
	// Default: Caddy's data directory + "/cubeauth".
	Path string `json:"path,omitempty"`
	storageOptions

	dir string
}

// CaddyModule returns the Caddy module information.
func (BadgerStorage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "cubeauth.storage.badger",
		New: func() caddy.Module { return new(BadgerStorage) },
	}
}

// Provision resolves the data directory. It opens nothing.
func (b *BadgerStorage) Provision(caddy.Context) error {
	dir := caddy.NewReplacer().ReplaceKnown(b.Path, "")
	if dir == "" {
		dir = filepath.Join(caddy.AppDataDir(), "cubeauth")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("storage badger: path: %w", err)
	}
	b.dir = abs
	if b.OfflineGraceDuration < 0 {
		return fmt.Errorf("storage badger: offline_grace must not be negative")
	}
	return nil
}

// StoreID is the absolute data directory.
func (b *BadgerStorage) StoreID() string { return "badger:" + b.dir }

// StoreName is the same as StoreID: a directory holds no secret.
func (b *BadgerStorage) StoreName() string { return b.StoreID() }

// OpenStore opens the database, creating the directory if missing.
func (b *BadgerStorage) OpenStore(logger *zap.Logger) (store.Store, error) {
	logger = logger.Named("badger")
	st, err := badgerstore.Open(badgerstore.Options{Dir: b.dir, Logger: badgerLogger{logger.Sugar()}})
	if err != nil {
		return nil, fmt.Errorf("opening badger store at %s: %w", b.dir, err)
	}
	logger.Info("opened store", zap.String("path", b.dir))
	return st, nil
}

// UnmarshalCaddyfile reads the storage line after the driver name:
//
//	storage badger [<dir>] {
//		offline_grace <duration>   # cached sessions while the store fails, default 5m
//	}
func (b *BadgerStorage) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the driver name
	if d.NextArg() {
		b.Path = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch option := d.Val(); option {
		case "offline_grace":
			if err := parseDuration(d, &b.OfflineGraceDuration); err != nil {
				return err
			}
		default:
			return d.Errf("unknown storage badger option %q", option)
		}
	}
	return nil
}

// badgerLogger sends Badger's messages to Caddy's log; its chatty info and
// debug lines go to debug.
type badgerLogger struct{ *zap.SugaredLogger }

func (l badgerLogger) Errorf(f string, a ...any)   { l.SugaredLogger.Errorf(f, a...) }
func (l badgerLogger) Warningf(f string, a ...any) { l.SugaredLogger.Warnf(f, a...) }
func (l badgerLogger) Infof(f string, a ...any)    { l.SugaredLogger.Debugf(f, a...) }
func (l badgerLogger) Debugf(f string, a ...any)   { l.SugaredLogger.Debugf(f, a...) }

// Interface guards
var (
	_ Storage               = (*BadgerStorage)(nil)
	_ caddy.Provisioner     = (*BadgerStorage)(nil)
	_ caddyfile.Unmarshaler = (*BadgerStorage)(nil)
)
