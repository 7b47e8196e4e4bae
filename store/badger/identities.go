package badger

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
)

// Identity bindings are kept under one prefix:
//
//	ui/<app>\x01<provider>\x00<subject>     binding -> user ID
//	ui/<app>\x00<user><provider>\x00<subject> bindings of a user -> nothing
//
// written in the same transaction as the user. A binding whose user is
// gone (an app deleted by an older version) counts as free, as a login
// index entry of an expired guest does.
const prefixIdentity = "ui/"

func identityKey(appID int64, provider, subject string) []byte {
	return key(prefixIdentity, []int64{appID}, "\x01"+provider+"\x00"+subject)
}

func userIdentitiesPrefix(appID, userID int64) []byte {
	return append(key(prefixIdentity, []int64{appID}, "\x00"), encodeID(userID)...)
}

func userIdentityKey(appID, userID int64, provider, subject string) []byte {
	return append(userIdentitiesPrefix(appID, userID), provider+"\x00"+subject...)
}

// GetUserByIdentity returns the user bound to subject at provider, or
// store.ErrNotFound.
func (s *Store) GetUserByIdentity(ctx context.Context, appID int64, provider, subject string) (store.User, error) {
	const op = "getting user by identity"
	if err := s.enter(ctx); err != nil {
		return store.User{}, wrap(op, err)
	}
	defer s.leave()
	var u store.User
	err := s.db.View(func(txn *badger.Txn) error {
		userID, err := indexedUserID(txn, identityKey(appID, provider, subject))
		if err != nil {
			return err
		}
		u, err = getUser(txn, appID, userID, time.Now())
		return err
	})
	return u, wrap(op, err)
}

// CreateUserWithIdentity stores a new user and its binding in one
// transaction. Reading the binding key puts it in the read set, so of two
// concurrent creators one commits and the other retries, finds the binding
// taken and gets store.ErrIdentityTaken.
func (s *Store) CreateUserWithIdentity(ctx context.Context, u *store.User, provider, subject string) error {
	const op = "creating user with identity"
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	id, err := s.userIDs.Next()
	if err != nil {
		return wrap(op+": assigning id", err)
	}
	user := *u
	user.ID = int64(id) + 1
	err = s.write(func(txn *badger.Txn) error {
		now := time.Now()
		free, err := indexFree(txn, identityKey(user.AppID, provider, subject), &user, now)
		if err != nil {
			return err
		}
		if !free {
			return store.ErrIdentityTaken
		}
		if err := claimIndexes(txn, &user, now); err != nil {
			return err
		}
		if err := putUser(txn, &user); err != nil {
			return err
		}
		if err := txn.Set(identityKey(user.AppID, provider, subject), encodeID(user.ID)); err != nil {
			return err
		}
		return txn.Set(userIdentityKey(user.AppID, user.ID, provider, subject), nil)
	})
	if err != nil {
		return wrap(op, err)
	}
	u.ID = user.ID
	return nil
}

// deleteUserIdentities removes the user's bindings in txn.
func deleteUserIdentities(txn *badger.Txn, appID, userID int64) error {
	prefix := userIdentitiesPrefix(appID, userID)
	for _, k := range prefixKeys(txn, prefix, 0) {
		provider, subject, ok := bytes.Cut(k[len(prefix):], []byte{0})
		if !ok {
			return errors.New("malformed identity key")
		}
		fwd := identityKey(appID, string(provider), string(subject))
		if holder, err := indexedUserID(txn, fwd); err == nil && holder == userID {
			if err := txn.Delete(fwd); err != nil {
				return err
			}
		}
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
