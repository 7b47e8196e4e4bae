package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"

	"github.com/cubeauth/cubeauth/store"
	pgstore "github.com/cubeauth/cubeauth/store/postgres"
)

func init() {
	caddy.RegisterModule(PostgresStorage{})
}

// PostgresStorage keeps cubeauth's data in PostgreSQL, shared by a fleet of
// sidecars: each node caches validated sessions and learns of the others'
// revocations and app changes through LISTEN/NOTIFY.
type PostgresStorage struct {
	// DSN is the connection string, a postgres:// URL or key=value pairs.
	// Placeholders such as {env.DATABASE_URL} are replaced.
	DSN string `json:"dsn,omitempty"`
	// MaxConns bounds the connection pool; each node also keeps one
	// listener connection. Default: 10.
	MaxConns int `json:"max_conns,omitempty"`
	// ConnectTimeout bounds establishing a connection. Default: 5s.
	ConnectTimeout caddy.Duration `json:"connect_timeout,omitempty"`
	// QueryTimeout bounds every operation, so that an unreachable
	// database answers 503 instead of hanging. Default: 5s.
	QueryTimeout caddy.Duration `json:"query_timeout,omitempty"`
	// ReconcileInterval is how often a node reads the other nodes' changes
	// without being notified: the longest a lost notification leaves a
	// cache stale. Default: 5s.
	ReconcileInterval caddy.Duration `json:"reconcile_interval,omitempty"`
	storageOptions

	opts pgstore.Options
	name string
}

// CaddyModule returns the Caddy module information.
func (PostgresStorage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "cubeauth.storage.postgres",
		New: func() caddy.Module { return new(PostgresStorage) },
	}
}

// Provision checks the options and parses the connection string. It does
// not connect.
func (p *PostgresStorage) Provision(caddy.Context) error {
	dsn := caddy.NewReplacer().ReplaceKnown(p.DSN, "")
	if dsn == "" {
		return errors.New("storage postgres: the connection string is empty (is the placeholder's variable set?)")
	}
	if p.MaxConns < 0 || p.ConnectTimeout < 0 || p.QueryTimeout < 0 || p.ReconcileInterval < 0 || p.OfflineGraceDuration < 0 {
		return errors.New("storage postgres: max_conns and durations must not be negative")
	}
	name, err := pgstore.Describe(dsn)
	if err != nil {
		return fmt.Errorf("storage postgres: %w", err)
	}
	p.name = "postgres:" + name
	p.opts = pgstore.Options{
		DSN:               dsn,
		MaxConns:          int32(min(p.MaxConns, 1<<20)),
		ConnectTimeout:    time.Duration(p.ConnectTimeout),
		QueryTimeout:      time.Duration(p.QueryTimeout),
		ReconcileInterval: time.Duration(p.ReconcileInterval),
	}
	return nil
}

// StoreID is the connection string with the pool's options: a reload that
// changes them opens a second pool while the old config drains. It holds
// the password, so it stays in memory.
func (p *PostgresStorage) StoreID() string {
	o := p.opts
	return fmt.Sprintf("postgres:%s\x00%d\x00%d\x00%d\x00%d",
		o.DSN, o.MaxConns, o.ConnectTimeout, o.QueryTimeout, o.ReconcileInterval)
}

// StoreName is "postgres:user@host:port/database".
func (p *PostgresStorage) StoreName() string { return p.name }

// OpenStore connects, applies pending migrations and starts listening.
func (p *PostgresStorage) OpenStore(logger *zap.Logger) (store.Store, error) {
	logger = logger.Named("postgres")
	opts := p.opts
	opts.Logger = slog.New(zapslog.NewHandler(logger.Core()))
	st, err := pgstore.Open(context.Background(), opts)
	if err != nil {
		return nil, fmt.Errorf("storage postgres: %w", err)
	}
	logger.Info("opened store", zap.String("database", st.Location()))
	return st, nil
}

// UnmarshalCaddyfile reads the storage line after the driver name:
//
//	storage postgres <dsn> {
//		max_conns <n>                  # pool size, default 10
//		connect_timeout <duration>     # default 5s
//		query_timeout <duration>       # default 5s
//		reconcile_interval <duration>  # default 5s
//		offline_grace <duration>       # cached sessions while unreachable, default 5m
//	}
func (p *PostgresStorage) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the driver name
	if !d.NextArg() {
		return d.Errf("storage postgres takes a connection string: storage postgres <dsn>")
	}
	p.DSN = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch option := d.Val(); option {
		case "max_conns":
			err = parseInt(d, &p.MaxConns)
			if err == nil && p.MaxConns < 1 {
				err = d.Errf("max_conns must be at least 1")
			}
		case "connect_timeout":
			err = parseDuration(d, &p.ConnectTimeout)
		case "query_timeout":
			err = parseDuration(d, &p.QueryTimeout)
		case "reconcile_interval":
			err = parseDuration(d, &p.ReconcileInterval)
		case "offline_grace":
			err = parseDuration(d, &p.OfflineGraceDuration)
		default:
			err = d.Errf("unknown storage postgres option %q", option)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guards
var (
	_ Storage               = (*PostgresStorage)(nil)
	_ caddy.Provisioner     = (*PostgresStorage)(nil)
	_ caddyfile.Unmarshaler = (*PostgresStorage)(nil)
)
