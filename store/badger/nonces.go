package badger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
)

// UseNonce records that the key was used by the app and returns
// store.ErrNonceUsed if it was used before within ttl. The record expires
// after ttl; its exact end is kept in the value, since Badger's TTL only
// counts whole seconds.
func (s *Store) UseNonce(ctx context.Context, appID int64, nonce string, ttl time.Duration) error {
	const op = "using nonce"
	if ttl <= 0 {
		return fmt.Errorf("%s: ttl %v is not positive", op, ttl)
	}
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	k := nonceKey(appID, nonce)
	err := s.write(func(txn *badger.Txn) error {
		now := time.Now()
		var until time.Time
		err := getValue(txn, k, func(v []byte) error {
			until = decodeNonce(v)
			return nil
		})
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
		case err != nil:
			return err
		case now.Before(until):
			return store.ErrNonceUsed
		}
		until = now.Add(ttl)
		e := badger.NewEntry(k, encodeNonce(until))
		e.ExpiresAt = badgerExpiry(until)
		return txn.SetEntry(e)
	})
	return wrap(op, err)
}
