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

// CreateUser stores a new user, assigning u.ID. It returns
// store.ErrLoginTaken or store.ErrEmailTaken when another user of the app
// holds the login or email; the check and the insert are one transaction,
// retried when a concurrent one changes what it read.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	const op = "creating user"
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	id, err := s.userIDs.Next()
	if err != nil {
		return wrap(op+": assigning id", err)
	}
	user := *u
	user.ID = int64(id) + 1 // sequences start at 0; user IDs at 1
	err = s.write(func(txn *badger.Txn) error {
		now := time.Now()
		if err := claimIndexes(txn, &user, now); err != nil {
			return err
		}
		return putUser(txn, &user)
	})
	if err != nil {
		return wrap(op, err)
	}
	u.ID = user.ID
	return nil
}

// GetUser returns a user by ID, or store.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, appID, userID int64) (store.User, error) {
	const op = "getting user"
	if err := s.enter(ctx); err != nil {
		return store.User{}, wrap(op, err)
	}
	defer s.leave()
	var u store.User
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		u, err = getUser(txn, appID, userID, time.Now())
		return err
	})
	return u, wrap(op, err)
}

// GetUserByLogin returns a user by login (case-insensitive), or
// store.ErrNotFound.
func (s *Store) GetUserByLogin(ctx context.Context, appID int64, login string) (store.User, error) {
	return s.getUserByIndex(ctx, "getting user by login", appID, login, loginKey)
}

// GetUserByEmail returns a user by email (case-insensitive), or
// store.ErrNotFound.
func (s *Store) GetUserByEmail(ctx context.Context, appID int64, email string) (store.User, error) {
	return s.getUserByIndex(ctx, "getting user by email", appID, email, emailKey)
}

func (s *Store) getUserByIndex(ctx context.Context, op string, appID int64, value string,
	indexKey func(int64, string) []byte,
) (store.User, error) {
	if err := s.enter(ctx); err != nil {
		return store.User{}, wrap(op, err)
	}
	defer s.leave()
	if value == "" {
		return store.User{}, wrap(op, store.ErrNotFound)
	}
	var u store.User
	err := s.db.View(func(txn *badger.Txn) error {
		userID, err := indexedUserID(txn, indexKey(appID, value))
		if err != nil {
			return err
		}
		u, err = getUser(txn, appID, userID, time.Now())
		return err
	})
	return u, wrap(op, err)
}

// UpdateUser replaces an existing user, keeping login and email unique
// (store.ErrLoginTaken, store.ErrEmailTaken), and tells subscribers. It
// returns store.ErrNotFound when the user is gone.
//
// A new login is written into the user's session records too: those of the
// first sessionLoginChunk sessions in the same transaction as the user, so
// that for most users no reader sees the new login in one place and the old
// in another, and any others in further transactions before UpdateUser
// returns (refreshSessionLogins). Caches learn of the change from the event,
// which comes after all of them.
func (s *Store) UpdateUser(ctx context.Context, u store.User) error {
	const op = "updating user"
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	renamed := false
	err := s.write(func(txn *badger.Txn) error {
		now := time.Now()
		old, err := getUser(txn, u.AppID, u.ID, now)
		if err != nil {
			return err
		}
		if err := claimIndexes(txn, &u, now); err != nil {
			return err
		}
		// Free the old login and email; when only their case changed,
		// putUser sets the same keys again within this transaction.
		if err := deleteIndexes(txn, &old); err != nil {
			return err
		}
		if err := putUser(txn, &u); err != nil {
			return err
		}
		renamed = old.Login != u.Login
		if !renamed {
			return nil
		}
		_, _, _, err = setSessionLogins(txn, &u, 0, sessionLoginChunk, now)
		return err
	})
	if err != nil {
		return wrap(op, err)
	}
	if renamed {
		// The user is updated either way, so subscribers hear of it even
		// when this fails.
		err = s.refreshSessionLogins(u.AppID, u.ID)
	}
	s.subscribers.Publish(store.Event{Kind: store.EventUserChanged, AppID: u.AppID, UserID: u.ID})
	return wrap(op+": updating the login of its sessions", err)
}

// DeleteUser removes a user with all its sessions and tells subscribers. It
// returns store.ErrNotFound when there was no such user (its sessions, if
// any are left, are still removed).
//
// A user may have more sessions than one transaction can delete
// (ErrTxnTooBig), so they go deleteChunk at a time, before the user: the
// user goes in the transaction of the last chunk, the first to find less
// than a whole chunk left. GetSession trusts a session record without
// reading its user, so the order matters when a delete fails or a crash cuts
// it short: that leaves the user in place with fewer sessions, to be deleted
// again, never sessions that outlive their user.
func (s *Store) DeleteUser(ctx context.Context, appID, userID int64) error {
	const op = "deleting user"
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	var existed bool
	hashes, err := s.deleteUserSessionsInChunks(appID, userID, func(txn *badger.Txn) error {
		var err error
		existed, err = deleteUserRecord(txn, appID, userID)
		if err != nil {
			return err
		}
		if err := deleteUserResets(txn, appID, userID); err != nil {
			return err
		}
		return deleteUserIdentities(txn, appID, userID)
	})
	if err != nil {
		return wrap(op, err)
	}
	var lateErr error
	if existed {
		// A CreateSession or UpdateSession that read the user before it was
		// deleted, and committed after the last chunk's snapshot was taken,
		// left a session that the deletion did not see (Badger detects
		// conflicts on keys read, not on keys added to a scanned range): look
		// again now that the user is gone. Later writers read the missing
		// user and fail, or conflict.
		_, lateErr = s.deleteUserSessionsInChunks(appID, userID, nil)
	}
	// One sync for all the transactions: it covers every commit before it.
	if err := s.syncer.wait(); err != nil {
		return wrap(op, err)
	}
	if !existed && len(hashes) == 0 {
		return wrap(op, store.ErrNotFound)
	}
	// The user is gone either way, so subscribers hear of it even when the
	// second look failed.
	s.subscribers.Publish(store.Event{Kind: store.EventUserDeleted, AppID: appID, UserID: userID})
	if lateErr != nil {
		return wrap(op+": removing sessions created meanwhile", lateErr)
	}
	if !existed {
		return wrap(op, store.ErrNotFound)
	}
	return nil
}

// deleteUserRecord removes a user with its login and email entries, and
// reports whether there was one. An expired guest may still be on disk for
// up to a second: it is deleted like any other user.
func deleteUserRecord(txn *badger.Txn, appID, userID int64) (bool, error) {
	old, err := getUser(txn, appID, userID, time.Time{})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	if err := deleteIndexes(txn, &old); err != nil {
		return false, err
	}
	return true, txn.Delete(userKey(appID, userID))
}

// getUser reads a user, or returns store.ErrNotFound also when the user
// expired at now (a zero now ignores expiry). Badger's TTL hides expired
// users too, but only to the second.
func getUser(txn *badger.Txn, appID, userID int64, now time.Time) (store.User, error) {
	var u store.User
	if err := getJSON(txn, userKey(appID, userID), &u); err != nil {
		return store.User{}, err
	}
	if !now.IsZero() && userExpired(&u, now) {
		return store.User{}, store.ErrNotFound
	}
	return u, nil
}

func userExpired(u *store.User, now time.Time) bool {
	return !u.ExpiresAt.IsZero() && !now.Before(u.ExpiresAt)
}

// indexedUserID returns the user ID a login or email index entry points to,
// or store.ErrNotFound.
func indexedUserID(txn *badger.Txn, k []byte) (int64, error) {
	var id int64
	err := getValue(txn, k, func(v []byte) error {
		id = decodeID(v)
		return nil
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, store.ErrNotFound
	}
	return id, err
}

// claimIndexes checks that u's login and email are free or already u's.
// Reading the index keys puts them into the transaction's read set, so a
// concurrent claim of the same login makes one of the commits conflict.
func claimIndexes(txn *badger.Txn, u *store.User, now time.Time) error {
	for _, ix := range userIndexes(u) {
		free, err := indexFree(txn, ix.key, u, now)
		if err != nil {
			return err
		}
		if !free {
			return ix.taken
		}
	}
	return nil
}

// indexFree reports whether the index entry at k is missing, is u's own, or
// points to a user that is gone (an expired guest whose index entry Badger
// has not hidden yet).
func indexFree(txn *badger.Txn, k []byte, u *store.User, now time.Time) (bool, error) {
	holder, err := indexedUserID(txn, k)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if holder == u.ID {
		return true, nil
	}
	_, err = getUser(txn, u.AppID, holder, now)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	return false, err
}

// putUser writes u and its index entries (unique and query ones). A guest's records carry its
// expiry as their TTL.
func putUser(txn *badger.Txn, u *store.User) error {
	value, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("encoding user: %w", err)
	}
	expiresAt := badgerExpiry(u.ExpiresAt)
	id := encodeID(u.ID)
	entries := []*badger.Entry{badger.NewEntry(userKey(u.AppID, u.ID), value)}
	for _, ix := range userIndexes(u) {
		entries = append(entries, badger.NewEntry(ix.key, id))
	}
	for _, k := range queryEntries(u) {
		entries = append(entries, badger.NewEntry(k, nil))
	}
	for _, e := range entries {
		e.ExpiresAt = expiresAt
		if err := txn.SetEntry(e); err != nil {
			return err
		}
	}
	return nil
}

// deleteIndexes removes u's query entries, and its login and email entries
// where they still point to u (after a guest expired, another user may hold
// them).
func deleteIndexes(txn *badger.Txn, u *store.User) error {
	if err := deleteQueryEntries(txn, u); err != nil {
		return err
	}
	for _, ix := range userIndexes(u) {
		holder, err := indexedUserID(txn, ix.key)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		case holder == u.ID:
			if err := txn.Delete(ix.key); err != nil {
				return err
			}
		}
	}
	return nil
}

// userIndex is one of a user's unique index entries.
type userIndex struct {
	key []byte
	// taken is what claiming the entry fails with while another user holds it.
	taken error
}

// userIndexes returns the index entries of u's login and email, for those
// that are set, login first.
func userIndexes(u *store.User) []userIndex {
	var ix []userIndex
	if u.Login != "" {
		ix = append(ix, userIndex{key: loginKey(u.AppID, u.Login), taken: store.ErrLoginTaken})
	}
	if u.Email != "" {
		ix = append(ix, userIndex{key: emailKey(u.AppID, u.Email), taken: store.ErrEmailTaken})
	}
	return ix
}
