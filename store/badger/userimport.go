package badger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
)

// ImportUsers creates a batch of users in one transaction: every index that
// CreateUser writes (claimIndexes, putUser) is written, and a collision with
// a stored user, or between two users of the batch, stores none of them.
// IDs taken from the sequence for a failed batch are not reused, as with a
// failed CreateUser.
func (s *Store) ImportUsers(ctx context.Context, appID int64, users []store.User) error {
	const op = "importing users"
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	batch := make([]store.User, len(users))
	for i, u := range users {
		id, err := s.userIDs.Next()
		if err != nil {
			return wrap(op+": assigning id", err)
		}
		u.ID, u.AppID = int64(id)+1, appID // sequences start at 0; user IDs at 1
		batch[i] = u
	}
	err := s.write(func(txn *badger.Txn) error {
		now := time.Now()
		for i := range batch {
			// Within one transaction claimIndexes reads the keys earlier
			// users of the batch set, so duplicates in the batch collide.
			if err := claimIndexes(txn, &batch[i], now); err != nil {
				return &store.ImportError{Index: i, Err: err}
			}
			if err := putUser(txn, &batch[i]); err != nil {
				return &store.ImportError{Index: i, Err: err}
			}
		}
		return nil
	})
	if err != nil {
		return wrap(op, err)
	}
	for i := range users {
		users[i].ID, users[i].AppID = batch[i].ID, appID
	}
	return nil
}

// errPageFull stops ScanUsers' iteration.
var errPageFull = errors.New("page full")

// ScanUsers returns up to limit users of the app with IDs above afterID, in
// ID order, seeking straight to the first (user keys sort by ID).
func (s *Store) ScanUsers(ctx context.Context, appID, afterID int64, limit int) ([]store.User, error) {
	const op = "scanning users"
	if err := s.enter(ctx); err != nil {
		return nil, wrap(op, err)
	}
	defer s.leave()
	var users []store.User
	err := s.db.View(func(txn *badger.Txn) error {
		now := time.Now()
		users = users[:0]
		err := iterateFrom(txn, usersKeyPrefix(appID), userKey(appID, afterID+1), func(_, v []byte) error {
			var u store.User
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("decoding user: %w", err)
			}
			if !userExpired(&u, now) {
				users = append(users, u)
			}
			if len(users) == limit {
				return errPageFull
			}
			return ctx.Err()
		})
		if errors.Is(err, errPageFull) {
			return nil
		}
		return err
	})
	return users, wrap(op, err)
}
