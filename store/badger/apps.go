package badger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
)

// deleteChunk bounds the records deleted per transaction when an app goes,
// and the sessions (three keys each) when a user's sessions go, far below
// Badger's per-transaction limit (ErrTxnTooBig from 26,214 keys, 8,738 sessions,
// with our memtable size).
const deleteChunk = 512

// GetApp returns the app with this ID, or store.ErrNotFound.
func (s *Store) GetApp(ctx context.Context, id int64) (store.App, error) {
	const op = "getting app"
	if err := s.enter(ctx); err != nil {
		return store.App{}, wrap(op, err)
	}
	defer s.leave()
	var app store.App
	err := s.db.View(func(txn *badger.Txn) error {
		return getJSON(txn, appKey(id), &app)
	})
	return app, wrap(op, err)
}

// ListApps returns every app, ordered by ID.
func (s *Store) ListApps(ctx context.Context) ([]store.App, error) {
	const op = "listing apps"
	if err := s.enter(ctx); err != nil {
		return nil, wrap(op, err)
	}
	defer s.leave()
	var apps []store.App
	err := s.db.View(func(txn *badger.Txn) error {
		return iteratePrefix(txn, []byte(prefixApp), func(_, v []byte) error {
			var app store.App
			if err := json.Unmarshal(v, &app); err != nil {
				return fmt.Errorf("decoding app: %w", err)
			}
			apps = append(apps, app)
			return nil
		})
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return apps, nil
}

// PutApp creates or replaces an app and tells subscribers.
func (s *Store) PutApp(ctx context.Context, app store.App) error {
	const op = "putting app"
	if app.ID <= 0 {
		return fmt.Errorf("%s: app id %d is not positive", op, app.ID)
	}
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	err := s.write(func(txn *badger.Txn) error {
		return putApp(txn, app)
	})
	if err != nil {
		return wrap(op, err)
	}
	s.subscribers.Publish(store.Event{Kind: store.EventAppChanged, AppID: app.ID})
	return nil
}

// CreateApp stores a new app with one more than the highest app ID (1 when
// there are none), assigning a.ID, and tells subscribers. The highest
// existing key and the new key are read in the inserting transaction, so a
// concurrent creator or PutApp of either makes one commit conflict, and the
// retry picks the next ID.
func (s *Store) CreateApp(ctx context.Context, a *store.App) error {
	const op = "creating app"
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	app := *a
	err := s.write(func(txn *badger.Txn) error {
		last := lastAppID(txn)
		if last == math.MaxInt64 {
			return errors.New("no app id is left above the highest")
		}
		app.ID = last + 1
		// The key is free; reading it anyway puts it into the read set, so
		// that a concurrent creator of the same ID conflicts on commit.
		switch _, err := txn.Get(appKey(app.ID)); {
		case err == nil:
			return fmt.Errorf("app %d exists above the highest app id", app.ID)
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		return putApp(txn, app)
	})
	if err != nil {
		return wrap(op, err)
	}
	a.ID = app.ID
	s.subscribers.Publish(store.Event{Kind: store.EventAppChanged, AppID: app.ID})
	return nil
}

// putApp writes app at its ID.
func putApp(txn *badger.Txn, app store.App) error {
	value, err := json.Marshal(app)
	if err != nil {
		return fmt.Errorf("encoding app: %w", err)
	}
	return txn.Set(appKey(app.ID), value)
}

// lastAppID returns the highest app ID, or 0 when there are no apps.
// Reading the last key puts it into an update transaction's read set.
func lastAppID(txn *badger.Txn) int64 {
	opts := badger.DefaultIteratorOptions
	opts.Reverse = true
	opts.PrefetchValues = false
	opts.Prefix = []byte(prefixApp)
	it := txn.NewIterator(opts)
	defer it.Close()
	// Reverse iteration starts at the last key <= the seek key: the prefix
	// followed by eight 0xff bytes (-1 as uint64).
	it.Seek(appKey(-1))
	if !it.ValidForPrefix(opts.Prefix) {
		return 0
	}
	return lastID(it.Item().Key())
}

// DeleteApp removes an app with its users, sessions and nonces, and tells
// subscribers. It returns store.ErrNotFound when there was no app record
// (records of the app found anyway are still removed).
//
// The records go in chunks before the app itself, so a delete interrupted by
// a crash leaves the app in place and can simply be repeated.
func (s *Store) DeleteApp(ctx context.Context, id int64) error {
	const op = "deleting app"
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()

	removed := 0
	for {
		n := 0
		err := s.update(func(txn *badger.Txn) error {
			var err error
			n, err = deleteAppRecords(txn, id, deleteChunk)
			return err
		})
		if err != nil {
			return wrap(op, err)
		}
		removed += n
		if n < deleteChunk {
			break
		}
	}
	existed := false
	err := s.write(func(txn *badger.Txn) error {
		// Records created since the last chunk go in the same transaction as
		// the app.
		n, err := deleteAppRecords(txn, id, 0)
		if err != nil {
			return err
		}
		removed += n
		_, err = txn.Get(appKey(id))
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			existed = false
			return nil
		case err != nil:
			return err
		}
		existed = true
		return txn.Delete(appKey(id))
	})
	if err != nil {
		return wrap(op, err)
	}
	// A second look, as DeleteUser takes: a CreateSession that read its user
	// before that user's chunk went, and committed after the transaction
	// above took its snapshot, left a session that transaction did not see
	// (Badger detects conflicts on keys read, not on keys added to a scanned
	// range), and sessions are trusted without reading their user. Later
	// writers find the user gone, or conflict.
	late := 0
	err = s.write(func(txn *badger.Txn) error {
		var err error
		late, err = deleteAppRecords(txn, id, 0)
		return err
	})
	if err != nil {
		return wrap(op+": removing sessions created meanwhile", err)
	}
	removed += late
	if !existed && removed == 0 {
		return wrap(op, store.ErrNotFound)
	}
	s.subscribers.Publish(store.Event{Kind: store.EventAppDeleted, AppID: id})
	if !existed {
		return wrap(op, store.ErrNotFound)
	}
	return nil
}

// deleteAppRecords deletes up to about limit records of the app other than
// the app itself (limit <= 0: all) and returns how many it deleted.
func deleteAppRecords(txn *badger.Txn, appID int64, limit int) (int, error) {
	var keys [][]byte
	// Sessions first: their index gives the hash of each session record.
	err := iteratePrefix(txn, key(prefixAppSessions, []int64{appID}, ""), func(k, v []byte) error {
		if limit > 0 && len(keys) >= limit {
			return errChunkFull
		}
		keys = append(keys, append([]byte(nil), k...), append([]byte(prefixSession), v...))
		return nil
	})
	if err != nil && !errors.Is(err, errChunkFull) {
		return 0, err
	}
	// Password resets: the user index names each reset record.
	if limit <= 0 || len(keys) < limit {
		for _, k := range prefixKeys(txn, key(prefixUserResets, []int64{appID}, ""), max(0, limit-len(keys))) {
			keys = append(keys, k, append([]byte(prefixReset), k[len(k)-len(store.TokenHash{}):]...))
		}
	}
	for _, prefix := range []string{prefixUserSessions, prefixUser, prefixLogin, prefixEmail, prefixQuery, prefixIdentity, prefixNonce} {
		rest := 0
		if limit > 0 {
			rest = limit - len(keys)
			if rest <= 0 {
				break
			}
		}
		keys = append(keys, prefixKeys(txn, key(prefix, []int64{appID}, ""), rest)...)
	}
	for _, k := range keys {
		if err := txn.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// errChunkFull stops an iteration once a chunk is complete.
var errChunkFull = errors.New("chunk full")

// getJSON decodes the JSON value at k into dst, or returns store.ErrNotFound.
func getJSON(txn *badger.Txn, k []byte, dst any) error {
	err := getValue(txn, k, func(v []byte) error { return json.Unmarshal(v, dst) })
	if errors.Is(err, badger.ErrKeyNotFound) {
		return store.ErrNotFound
	}
	return err
}
