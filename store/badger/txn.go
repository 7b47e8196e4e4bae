package badger

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// maxAttempts bounds how often a read-write transaction is retried after
// badger.ErrConflict (a key it read was changed by a concurrent commit).
// Each retry re-reads, so a uniqueness check sees the winner and stops.
const maxAttempts = 16

// update runs fn in a read-write transaction and commits it, retrying on
// conflicts with a short random backoff. fn must reset any state it
// captures, since it may run more than once. The change is committed but
// not yet fsynced: use write for that.
func (s *Store) update(fn func(txn *badger.Txn) error) error {
	for attempt := 1; ; attempt++ {
		err := s.db.Update(fn)
		if !errors.Is(err, badger.ErrConflict) || attempt == maxAttempts {
			return err
		}
		// Up to 50µs, 100µs, ... so colliding writers spread out.
		time.Sleep(time.Duration(rand.Int64N(int64(attempt) * int64(50*time.Microsecond))))
	}
}

// write is update followed by a group fsync: it returns after the change is
// durable. When fn fails nothing is written and nothing is synced.
func (s *Store) write(fn func(txn *badger.Txn) error) error {
	if err := s.update(fn); err != nil {
		return err
	}
	return s.syncer.wait()
}

// iteratePrefix calls fn with the key and value of every live record whose
// key starts with prefix, in key order. Both slices are only valid during
// the call.
func iteratePrefix(txn *badger.Txn, prefix []byte, fn func(k, v []byte) error) error {
	return iterateFrom(txn, prefix, prefix, fn)
}

// iterateFrom is iteratePrefix starting at the first key at or after from.
func iterateFrom(txn *badger.Txn, prefix, from []byte, fn func(k, v []byte) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(from); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		err := item.Value(func(v []byte) error { return fn(item.Key(), v) })
		if err != nil {
			return err
		}
	}
	return nil
}

// prefixKeys returns copies of up to limit keys that start with prefix
// (limit <= 0: all). Collecting first lets callers delete them afterwards,
// outside the iterator.
func prefixKeys(txn *badger.Txn, prefix []byte, limit int) [][]byte {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.PrefetchValues = false
	it := txn.NewIterator(opts)
	defer it.Close()
	var keys [][]byte
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		if limit > 0 && len(keys) == limit {
			break
		}
		keys = append(keys, it.Item().KeyCopy(nil))
	}
	return keys
}

// getValue calls fn with the value stored at k, or returns
// badger.ErrKeyNotFound.
func getValue(txn *badger.Txn, k []byte, fn func(v []byte) error) error {
	item, err := txn.Get(k)
	if err != nil {
		return err
	}
	return item.Value(fn)
}
