package badger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Abuse-limit counters are kept as
//
//	l/<key>/<window start>    count, 8 big-endian bytes
//
// with the window start in Unix nanoseconds, 8 big-endian bytes, and a TTL
// of two windows, so that nothing needs sweeping. Counters are written
// without waiting for an fsync: a count lost to a power cut is harmless,
// and a wrong password should not cost a disk flush.
const prefixLimitCounter = "l/"

// maxLimitKey bounds a counter's key, as store.LimitCounters promises.
const maxLimitKey = 128

func limitCounterPrefix(key string) []byte {
	return append(append([]byte(prefixLimitCounter), key...), '/')
}

func limitCounterKey(key string, start time.Time) []byte {
	return binary.BigEndian.AppendUint64(limitCounterPrefix(key), uint64(start.UnixNano()))
}

func checkLimitKey(key string) error {
	if key == "" || len(key) > maxLimitKey {
		return fmt.Errorf("limit counter key of %d bytes", len(key))
	}
	return nil
}

// getLimitCount reads one window's count, 0 when it has none.
func getLimitCount(txn *badger.Txn, k []byte) (int64, error) {
	var n int64
	err := getValue(txn, k, func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("limit counter of %d bytes", len(v))
		}
		n = int64(binary.BigEndian.Uint64(v))
		return nil
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	return n, err
}

// AddLimitCount adds n to the window's count in one transaction. Adders are
// serialised by s.counters, so they never conflict with one another and no
// addition is lost.
func (s *Store) AddLimitCount(ctx context.Context, key string, start time.Time, per time.Duration, n int64) (current, previous int64, err error) {
	const op = "adding to limit counter"
	if err := checkLimitKey(key); err != nil {
		return 0, 0, wrap(op, err)
	}
	if err := s.enterWrite(ctx); err != nil {
		return 0, 0, wrap(op, err)
	}
	defer s.leave()
	k := limitCounterKey(key, start)
	s.counters.Lock()
	defer s.counters.Unlock()
	err = s.update(func(txn *badger.Txn) error {
		var err error
		if current, err = getLimitCount(txn, k); err != nil {
			return err
		}
		if previous, err = getLimitCount(txn, limitCounterKey(key, start.Add(-per))); err != nil {
			return err
		}
		current += n
		e := badger.NewEntry(k, binary.BigEndian.AppendUint64(nil, uint64(current)))
		e.ExpiresAt = badgerExpiry(start.Add(2 * per))
		return txn.SetEntry(e)
	})
	if err != nil {
		return 0, 0, wrap(op, err)
	}
	return current, previous, nil
}

// LimitCount reads the window's count and the one before it.
func (s *Store) LimitCount(ctx context.Context, key string, start time.Time, per time.Duration) (current, previous int64, err error) {
	const op = "reading limit counter"
	if err := checkLimitKey(key); err != nil {
		return 0, 0, wrap(op, err)
	}
	if err := s.enter(ctx); err != nil {
		return 0, 0, wrap(op, err)
	}
	defer s.leave()
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	if current, err = getLimitCount(txn, limitCounterKey(key, start)); err != nil {
		return 0, 0, wrap(op, err)
	}
	if previous, err = getLimitCount(txn, limitCounterKey(key, start.Add(-per))); err != nil {
		return 0, 0, wrap(op, err)
	}
	return current, previous, nil
}

// DeleteLimitCounts removes every window of key. A key with no windows
// (the usual case: a login that never failed) writes nothing.
func (s *Store) DeleteLimitCounts(ctx context.Context, key string) error {
	const op = "deleting limit counters"
	if err := checkLimitKey(key); err != nil {
		return wrap(op, err)
	}
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	s.counters.Lock()
	defer s.counters.Unlock()
	return wrap(op, s.update(func(txn *badger.Txn) error {
		for _, k := range prefixKeys(txn, limitCounterPrefix(key), 0) {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}))
}
