// Package badger is cubeauth's embedded default store: a store.Store kept in
// a Badger v4 database in one directory.
//
// Badger allows one opener per directory, also inside one process, so a
// caller that may open the same directory twice (Caddy provisions a new
// config before it cleans up the old one) must share one *Store, for example
// through a caddy.UsagePool keyed by the absolute path.
//
// Every method that changes data (but TouchSession) returns after the change
// is fsynced; concurrent writers share one fsync. Expiring records (sessions,
// guest users, nonces) carry Badger TTLs so they vanish without a sweep, and
// a background goroutine runs value-log GC to reclaim the disk.
package badger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/cubeauth/cubeauth/store"
)

// DefaultGCInterval is how often value-log GC runs when Options.GCInterval
// is zero.
const DefaultGCInterval = 10 * time.Minute

// idLease is how many IDs a sequence reserves per database write. Unused IDs
// of a lease are lost on a crash (not on Close), leaving harmless gaps.
const idLease = 100

// Options configure Open.
type Options struct {
	// Dir is the data directory; it is created if missing. Required.
	Dir string
	// Logger receives Badger's log lines. Nil logs only errors, to stderr.
	Logger badger.Logger
	// GCInterval is how often value-log GC runs. Default: 10 minutes.
	GCInterval time.Duration
	// MinFreeSpace is the free disk space, in bytes, below which writes
	// are refused with store.ErrUnavailable. Default: DefaultMinFreeSpace.
	// Negative disables the check.
	MinFreeSpace int64
}

// Store is a store.Store backed by Badger. It is safe for concurrent use.
// Create it with Open and release it with Close.
type Store struct {
	db *badger.DB

	// ops counts running operations and closed refuses new ones, so that
	// Close never closes db under a running operation (Badger may panic or
	// fault when it does). Unlike a lock, this lets a subscriber call the
	// store from inside an event without deadlocking a concurrent Close.
	ops       atomic.Int64
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	userIDs    *badger.Sequence
	sessionIDs *badger.Sequence

	// counters serialises writes to abuse-limit counters. A wrong-password
	// flood against one login makes every adder read-modify-write the same
	// key; under optimistic retries alone they can exhaust maxAttempts and
	// fail, and a limiter that fails is a 503 for the legitimate user too.
	// Counter transactions are short and never fsync, so one lock is cheap.
	counters sync.Mutex

	syncer      *groupSync
	subscribers store.Subscribers
	space       *spaceGuard

	stopGC chan struct{}
	gcDone chan struct{}
}

// Open opens (or creates) the store in opts.Dir and starts its background
// goroutines. Close releases it.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("opening badger store: no directory given")
	}
	if opts.GCInterval <= 0 {
		opts.GCInterval = DefaultGCInterval
	}
	db, err := badger.Open(badgerOptions(opts))
	if err != nil {
		return nil, wrap("opening badger store in "+opts.Dir, err)
	}
	s := &Store{
		db:     db,
		stopGC: make(chan struct{}),
		gcDone: make(chan struct{}),
	}
	if s.userIDs, err = db.GetSequence([]byte(keyUserSequence), idLease); err == nil {
		s.sessionIDs, err = db.GetSequence([]byte(keySessionSequence), idLease)
	}
	if err != nil {
		if s.userIDs != nil {
			_ = s.userIDs.Release()
		}
		_ = db.Close()
		return nil, wrap("opening badger store: reading id sequences", err)
	}
	s.syncer = newGroupSync(db.Sync)
	switch {
	case opts.MinFreeSpace == 0:
		s.space = &spaceGuard{dir: opts.Dir, min: DefaultMinFreeSpace}
	case opts.MinFreeSpace > 0:
		s.space = &spaceGuard{dir: opts.Dir, min: uint64(opts.MinFreeSpace)}
	}
	if err := s.buildQueryIndex(); err != nil {
		s.syncer.close()
		_ = errors.Join(s.userIDs.Release(), s.sessionIDs.Release(), db.Close())
		return nil, wrap("opening badger store: building the query indexes", err)
	}
	go s.collectGarbage(opts.GCInterval)
	return s, nil
}

// badgerOptions tunes Badger for many small values (users, sessions) on a
// small machine; Badger's defaults (5 x 64 MB memtables, a 256 MB block
// cache, Snappy) are sized for a database server.
func badgerOptions(opts Options) badger.Options {
	o := badger.DefaultOptions(opts.Dir).
		// Durability comes from one group fsync per batch of writers (sync.go),
		// not from an fsync inside every commit.
		WithSyncWrites(false).
		// Two 16 MB memtables: one filling while one flushes. Every session
		// write is a few hundred bytes, so 16 MB holds tens of thousands.
		WithNumMemtables(2).
		WithMemTableSize(16 << 20).
		// No block cache: without compression or encryption Badger reads
		// blocks straight from the mmapped tables (the OS page cache does the
		// caching), and a 16 MB cache made GetSession slower here (2.7 µs
		// against 2.1 µs) besides costing the memory.
		WithBlockCacheSize(0).
		// Values are small JSON and binary records: compression saves little
		// and costs CPU on every read.
		WithCompression(options.None).
		// 64 MB value-log files let GC rewrite and drop a file in small steps
		// instead of 1 GB ones.
		WithValueLogFileSize(64 << 20).
		// Two compactors (Badger's minimum) suit a 2-core machine.
		WithNumCompactors(2).
		// Badger's expvar metrics are not exported anywhere; skip their cost.
		WithMetricsEnabled(false)
	if opts.Logger != nil {
		return o.WithLogger(opts.Logger)
	}
	return o.WithLoggingLevel(badger.ERROR)
}

// enter starts an operation: it fails when ctx is done or the store is
// closed, and otherwise counts the operation until the caller's s.leave.
func (s *Store) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Count first, then look: Close sets closed first, then waits for the
	// count, so one of the two always sees the other.
	s.ops.Add(1)
	if s.closed.Load() {
		s.ops.Add(-1)
		return errClosed
	}
	return nil
}

// leave ends an operation started by enter.
func (s *Store) leave() { s.ops.Add(-1) }

// Close refuses new operations, waits for running ones, stops the
// background goroutines, returns unused IDs and closes the database. Later
// calls wait for the first to finish and return its result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		for s.ops.Load() > 0 {
			time.Sleep(time.Millisecond)
		}
		close(s.stopGC)
		<-s.gcDone
		s.syncer.close()
		err := errors.Join(s.userIDs.Release(), s.sessionIDs.Release(), s.db.Close())
		if err != nil {
			s.closeErr = fmt.Errorf("closing badger store: %w", err)
		}
	})
	return s.closeErr
}

// Interface guard.
var _ store.Store = (*Store)(nil)
