package badger

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
)

// Signing keys are kept as
//
//	k/<alg>/<slot>    signing key, JSON, expiring with the key
//
// so that (alg, slot) is unique and expired keys vanish without a sweep.
const prefixSigningKey = "k/"

func signingKeyKey(alg string, slot int64) []byte {
	k := append([]byte(prefixSigningKey), alg...)
	k = append(k, '/')
	return binary.BigEndian.AppendUint64(k, uint64(slot))
}

// AddSigningKey stores k unless its (alg, slot) holds a key, and returns the
// stored key. Concurrent adders read the same key in their transactions:
// one commits, the others conflict, retry and find its key.
func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey) (store.SigningKey, error) {
	const op = "adding signing key"
	if err := s.enterWrite(ctx); err != nil {
		return store.SigningKey{}, wrap(op, err)
	}
	defer s.leave()
	var stored store.SigningKey
	err := s.write(func(txn *badger.Txn) error {
		key := signingKeyKey(k.Alg, k.Slot)
		err := getValue(txn, key, func(v []byte) error { return json.Unmarshal(v, &stored) })
		if err == nil && time.Now().Before(stored.ExpiresAt) {
			return nil
		}
		if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		v, err := json.Marshal(k)
		if err != nil {
			return err
		}
		stored = k
		e := badger.NewEntry(key, v)
		e.ExpiresAt = sessionExpiry(k.ExpiresAt)
		return txn.SetEntry(e)
	})
	if err != nil {
		return store.SigningKey{}, wrap(op, err)
	}
	return stored, nil
}

// ListSigningKeys returns the unexpired keys ordered by alg, then slot.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	const op = "listing signing keys"
	if err := s.enter(ctx); err != nil {
		return nil, wrap(op, err)
	}
	defer s.leave()
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	now := time.Now()
	var keys []store.SigningKey
	err := iteratePrefix(txn, []byte(prefixSigningKey), func(_, v []byte) error {
		var k store.SigningKey
		if err := json.Unmarshal(v, &k); err != nil {
			return err
		}
		if now.Before(k.ExpiresAt) {
			keys = append(keys, k)
		}
		return nil
	})
	return keys, wrap(op, err)
}
