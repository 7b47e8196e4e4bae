// Package postgres is cubeauth's shared store for fleets: a store.Store kept
// in PostgreSQL, so that any number of cubeauth nodes (sidecars of one
// backend's replicas, or several edge proxies) serve the same apps, users
// and sessions.
//
// Open applies the embedded schema migrations (under an advisory lock, so
// that nodes starting together do not race), opens a connection pool, and
// starts two goroutines per Store: a listener on a dedicated connection that
// delivers other nodes' changes to Subscribe callbacks, and a sweeper that
// deletes expired sessions, guests, nonces and old events in batches.
//
// # Cross-node events
//
// Every change that caches elsewhere must hear of (session deleted or
// rebound, user changed or deleted, a user's sessions ended, app changed or
// deleted) writes a row to the cubeauth_events table and calls pg_notify in
// the same transaction, so a change and its announcement commit together.
// The listener wakes up on a notification from another node and reads the
// new rows; it also reads them every ReconcileInterval, so a notification
// that was lost (the queue overflowed, the connection dropped between
// commit and delivery) costs at most that interval, not a stale cache. Reads
// start at the oldest transaction that was still running at the previous
// read (pg_snapshot_xmin), so a row whose transaction commits late is never
// skipped, and rows are delivered once by ID. When the listener loses its
// connection it reconnects with backoff and emits store.EventReset, because
// it cannot know what it missed: caches start over.
//
// # Failures
//
// Every error that means the database cannot serve right now (connection
// refused or lost, timeouts, the server shutting down, too many clients)
// matches store.ErrUnavailable; the pool reconnects by itself when the
// database is back. Errors never carry the connection string or password.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cubeauth/cubeauth/store"
)

// Defaults for zero Options fields.
const (
	DefaultMaxConns          = 10
	DefaultConnectTimeout    = 5 * time.Second
	DefaultQueryTimeout      = 5 * time.Second
	DefaultReconcileInterval = 5 * time.Second
	DefaultCleanupInterval   = time.Minute
	DefaultCleanupBatch      = 1000
	DefaultEventRetention    = time.Hour
)

// Options configure Open. Zero values take the defaults above.
type Options struct {
	// DSN is the connection string, as a URL
	// (postgres://user:password@host:5432/db?sslmode=require) or as
	// key=value pairs. Connection parameters such as search_path are passed
	// to the server. Required.
	DSN string
	// MaxConns bounds the pool. The listener's connection comes on top.
	// Default: 10.
	MaxConns int32
	// ConnectTimeout bounds establishing one connection. Default: 5s.
	ConnectTimeout time.Duration
	// QueryTimeout bounds every operation, so that a database that stopped
	// answering (a network partition rather than a refused connection) turns
	// into store.ErrUnavailable instead of a hung request. Default: 5s.
	QueryTimeout time.Duration
	// ReconcileInterval is how often the listener reads the event log even
	// without a notification: the longest a lost notification leaves a
	// cache stale, and how soon a silently dead listener connection is
	// noticed. Default: 5s.
	ReconcileInterval time.Duration
	// CleanupInterval is how often expired rows are deleted. Default: 1m.
	CleanupInterval time.Duration
	// CleanupBatch is how many rows one cleanup statement deletes, so that a
	// large backlog never holds locks for long. Default: 1000.
	CleanupBatch int
	// EventRetention is how long rows of the event log are kept. It must be
	// far longer than ReconcileInterval. Default: 1h.
	EventRetention time.Duration
	// Logger receives the listener's and sweeper's messages. Default: none.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = DefaultQueryTimeout
	}
	if o.ReconcileInterval <= 0 {
		o.ReconcileInterval = DefaultReconcileInterval
	}
	if o.CleanupInterval <= 0 {
		o.CleanupInterval = DefaultCleanupInterval
	}
	if o.CleanupBatch <= 0 {
		o.CleanupBatch = DefaultCleanupBatch
	}
	if o.EventRetention <= 0 {
		o.EventRetention = DefaultEventRetention
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Store is a store.Store backed by PostgreSQL. It is safe for concurrent
// use; several Stores (in one process or many) may share one database.
// Create it with Open and release it with Close.
type Store struct {
	pool *pgxpool.Pool
	opts Options
	log  *slog.Logger

	// node names this Store in the event log, so that it skips its own
	// events (it delivers them to its subscribers when they commit).
	node string
	// channel is the NOTIFY channel of this schema: stores on other schemas
	// of the same database must not wake each other up.
	channel string
	// listenerConfig makes the listener's dedicated connections.
	listenerConfig *pgx.ConnConfig
	location       string

	subscribers store.Subscribers

	closed    atomic.Bool
	closeOnce sync.Once
	// stop ends the background goroutines; done counts them.
	stop context.CancelFunc
	done sync.WaitGroup
}

// Open connects to the database in opts.DSN, applies pending migrations and
// starts the listener and the sweeper. It fails with an error matching
// store.ErrUnavailable when the database cannot be reached. ctx bounds the
// opening only. Close releases the Store.
func Open(ctx context.Context, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if opts.DSN == "" {
		return nil, errors.New("opening postgres store: no connection string given")
	}
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		// pgx redacts passwords from its parse errors only as far as it can
		// recognise them: say nothing about the string itself.
		return nil, errors.New("opening postgres store: the connection string is not a valid postgres:// URL or key=value list")
	}
	cfg.MaxConns = opts.MaxConns
	cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "cubeauth"
	}
	listenerConfig := cfg.ConnConfig.Copy()
	listenerConfig.RuntimeParams["application_name"] += " listener"

	s := &Store{
		opts:           opts,
		log:            opts.Logger,
		node:           newNodeID(),
		listenerConfig: listenerConfig,
		location:       describe(cfg.ConnConfig),
	}
	s.pool, err = pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, wrap("opening postgres store at "+s.location, err)
	}
	openCtx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout+opts.QueryTimeout)
	defer cancel()
	schema, err := migrate(openCtx, s.pool)
	if err != nil {
		s.pool.Close()
		return nil, wrap("opening postgres store at "+s.location, err)
	}
	s.channel = channelName(schema)
	conn, since, err := s.connectListener(openCtx)
	if err != nil {
		s.pool.Close()
		return nil, wrap("opening postgres store at "+s.location+": listening", err)
	}
	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.done.Add(2)
	go s.listen(bg, conn, since)
	go s.sweep(bg)
	return s, nil
}

// Location describes the database without credentials, for logs:
// "user@host:port/database".
func (s *Store) Location() string { return s.location }

func describe(c *pgx.ConnConfig) string {
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

func newNodeID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// op starts an operation: it fails when the Store is closed, and otherwise
// returns ctx bounded by the query timeout.
func (s *Store) op(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if s.closed.Load() {
		return nil, nil, errClosed
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
	return ctx, cancel, nil
}

// fail wraps an operation's error, reporting a pool closed under a running
// operation as the closed store it is.
func (s *Store) fail(op string, err error) error {
	if err != nil && s.closed.Load() && !isStoreSentinel(err) {
		return wrap(op, errClosed)
	}
	return wrap(op, err)
}

// execer is what a pool and a transaction share.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// execOne runs a statement that changes one row, and returns
// store.ErrNotFound when it changed none.
func execOne(ctx context.Context, db execer, sql string, args ...any) error {
	tag, err := db.Exec(ctx, sql, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// Close stops the listener and the sweeper and closes the pool, waiting for
// running operations. Later calls do nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.stop()
		s.done.Wait()
		s.pool.Close()
	})
	return nil
}

// Interface guard.
var _ store.Store = (*Store)(nil)

// Describe names the database a connection string points at without its
// credentials, "user@host:port/database", without connecting. It fails when
// the string does not parse, and then says nothing about the string.
func Describe(dsn string) (string, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "", errors.New("the connection string is not a valid postgres:// URL or key=value list")
	}
	return describe(cfg), nil
}
