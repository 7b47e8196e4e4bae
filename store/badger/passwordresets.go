package badger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
)

// Password resets are kept as
//
//	r/<token hash>                reset, binary (encodeReset)
//	ru/<app><user><token hash>    resets of a user -> nothing
//
// both expiring with the reset, so that nothing needs sweeping. The number
// of pending resets per user is small (authcore throttles requests per
// address), so a user's resets always fit in one transaction.

func resetKey(h store.TokenHash) []byte {
	return append([]byte(prefixReset), h[:]...)
}

func userResetKey(appID, userID int64, h store.TokenHash) []byte {
	return key(prefixUserResets, []int64{appID, userID}, string(h[:]))
}

func userResetsPrefix(appID, userID int64) []byte {
	return key(prefixUserResets, []int64{appID, userID}, "")
}

// encodeReset is app, user, created and expiry (Unix nanoseconds), 8
// big-endian bytes each.
func encodeReset(r *store.PasswordReset) []byte {
	b := make([]byte, 0, 32)
	b = binary.BigEndian.AppendUint64(b, uint64(r.AppID))
	b = binary.BigEndian.AppendUint64(b, uint64(r.UserID))
	b = binary.BigEndian.AppendUint64(b, uint64(r.CreatedAt.UnixNano()))
	return binary.BigEndian.AppendUint64(b, uint64(r.ExpiresAt.UnixNano()))
}

func decodeReset(h store.TokenHash, v []byte) (store.PasswordReset, error) {
	if len(v) != 32 {
		return store.PasswordReset{}, fmt.Errorf("password reset record of %d bytes", len(v))
	}
	field := func(i int) int64 { return int64(binary.BigEndian.Uint64(v[8*i:])) }
	return store.PasswordReset{
		TokenHash: h, AppID: field(0), UserID: field(1),
		CreatedAt: time.Unix(0, field(2)).UTC(), ExpiresAt: time.Unix(0, field(3)).UTC(),
	}, nil
}

// CreatePasswordReset stores a new reset. It returns store.ErrNotFound when
// the user does not exist. Reading the user in the transaction makes a
// concurrent DeleteUser conflict with it, so no reset outlives its user.
func (s *Store) CreatePasswordReset(ctx context.Context, r store.PasswordReset) error {
	const op = "creating password reset"
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	err := s.write(func(txn *badger.Txn) error {
		if _, err := getUser(txn, r.AppID, r.UserID, time.Now()); err != nil {
			return err
		}
		expiry := sessionExpiry(r.ExpiresAt)
		for _, e := range []*badger.Entry{
			badger.NewEntry(resetKey(r.TokenHash), encodeReset(&r)),
			badger.NewEntry(userResetKey(r.AppID, r.UserID, r.TokenHash), nil),
		} {
			e.ExpiresAt = expiry
			if err := txn.SetEntry(e); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap(op, err)
}

// getReset reads the unexpired reset with hash h.
func getReset(txn *badger.Txn, h store.TokenHash, now time.Time) (store.PasswordReset, error) {
	var r store.PasswordReset
	err := getValue(txn, resetKey(h), func(v []byte) error {
		var err error
		r, err = decodeReset(h, v)
		return err
	})
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		return r, store.ErrNotFound
	case err != nil:
		return r, err
	case !now.Before(r.ExpiresAt):
		return r, store.ErrNotFound
	}
	return r, nil
}

// GetPasswordReset returns the unexpired reset with this token hash, or
// store.ErrNotFound.
func (s *Store) GetPasswordReset(ctx context.Context, h store.TokenHash) (store.PasswordReset, error) {
	const op = "getting password reset"
	if err := s.enter(ctx); err != nil {
		return store.PasswordReset{}, wrap(op, err)
	}
	defer s.leave()
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	r, err := getReset(txn, h, time.Now())
	return r, wrap(op, err)
}

// TakePasswordReset deletes the unexpired reset and returns it. Concurrent
// takers conflict on the record they all read: one commits, the others
// retry, find it gone and get store.ErrNotFound.
func (s *Store) TakePasswordReset(ctx context.Context, h store.TokenHash) (store.PasswordReset, error) {
	const op = "taking password reset"
	if err := s.enterWrite(ctx); err != nil {
		return store.PasswordReset{}, wrap(op, err)
	}
	defer s.leave()
	var r store.PasswordReset
	err := s.write(func(txn *badger.Txn) error {
		var err error
		if r, err = getReset(txn, h, time.Now()); err != nil {
			return err
		}
		if err := txn.Delete(resetKey(h)); err != nil {
			return err
		}
		return txn.Delete(userResetKey(r.AppID, r.UserID, h))
	})
	if err != nil {
		return store.PasswordReset{}, wrap(op, err)
	}
	return r, nil
}

// DeletePasswordResets removes every pending reset of the user.
func (s *Store) DeletePasswordResets(ctx context.Context, appID, userID int64) error {
	const op = "deleting password resets"
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	return wrap(op, s.write(func(txn *badger.Txn) error {
		return deleteUserResets(txn, appID, userID)
	}))
}

// deleteUserResets removes the user's resets in txn.
func deleteUserResets(txn *badger.Txn, appID, userID int64) error {
	for _, k := range prefixKeys(txn, userResetsPrefix(appID, userID), 0) {
		var h store.TokenHash
		copy(h[:], k[len(k)-len(h):])
		if err := txn.Delete(resetKey(h)); err != nil {
			return err
		}
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
