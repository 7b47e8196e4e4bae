package badger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
)

// A session is one record under its token hash plus two index entries (by
// app and by user) that list it by ID. The record's TTL is its current
// deadline, min(ExpiresAt, MaxExpiresAt); the index entries' TTL is
// MaxExpiresAt, which TouchSession never moves, so touching rewrites only the
// record. An index entry may briefly outlive its record; readers skip it.
//
// The record carries the bound user's login (store.Session.Login), so that
// GetSession is one read: putSession copies it from the user record in the
// writing transaction, and UpdateUser rewrites it when the login changes.

// sessionLoginChunk bounds the session records one transaction rewrites when
// a user's login changes, far below Badger's per-transaction limit
// (ErrTxnTooBig, some 20,000 session records with our memtable size): a user
// may have any number of sessions.
const sessionLoginChunk = 512

// CreateSession stores a new session, assigning sess.ID and sess.Login. It
// returns store.ErrNotFound when sess.UserID names no user of the app.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	const op = "creating session"
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	id, err := s.sessionIDs.Next()
	if err != nil {
		return wrap(op+": assigning id", err)
	}
	created := *sess
	created.ID = int64(id) + 1 // sequences start at 0; session IDs at 1
	err = s.write(func(txn *badger.Txn) error {
		return putSession(txn, &created)
	})
	if err != nil {
		return wrap(op, err)
	}
	sess.ID, sess.Login = created.ID, created.Login
	return nil
}

// GetSession returns the unexpired session with this token hash, or
// store.ErrNotFound. It is the hot path: one point read and a binary decode.
func (s *Store) GetSession(ctx context.Context, h store.TokenHash) (store.Session, error) {
	const op = "getting session"
	if err := s.enter(ctx); err != nil {
		return store.Session{}, wrap(op, err)
	}
	defer s.leave()
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	sess, err := getSession(txn, h, time.Now())
	if err != nil {
		return store.Session{}, wrap(op, err)
	}
	return sess, nil
}

// UpdateSession replaces an existing, unexpired session (keeping its ID and
// app) and tells subscribers. It returns store.ErrNotFound when the session,
// or the user it is to be bound to, is gone.
func (s *Store) UpdateSession(ctx context.Context, sess store.Session) error {
	const op = "updating session"
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	err := s.write(func(txn *badger.Txn) error {
		old, err := getSession(txn, sess.TokenHash, time.Now())
		if err != nil {
			return err
		}
		sess.ID, sess.AppID = old.ID, old.AppID
		if old.UserID != sess.UserID {
			if err := txn.Delete(userSessionKey(old.AppID, old.UserID, old.ID)); err != nil {
				return err
			}
		}
		return putSession(txn, &sess)
	})
	if err != nil {
		return wrap(op, err)
	}
	s.subscribers.Publish(store.Event{
		Kind: store.EventSessionChanged, AppID: sess.AppID, UserID: sess.UserID, TokenHash: sess.TokenHash,
	})
	return nil
}

// TouchSession moves a session's idle expiry to expiresAt (at most its
// MaxExpiresAt). It neither syncs nor tells subscribers: a lost extension
// only shortens a session. It returns store.ErrNotFound when the session is
// gone or expired.
func (s *Store) TouchSession(ctx context.Context, h store.TokenHash, expiresAt time.Time) error {
	const op = "touching session"
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	// A concurrent delete makes this transaction conflict and, on retry,
	// find nothing: a touch never revives a session.
	err := s.update(func(txn *badger.Txn) error {
		sess, err := getSession(txn, h, time.Now())
		if err != nil {
			return err
		}
		sess.ExpiresAt = expiresAt
		if sess.MaxExpiresAt.Before(expiresAt) {
			sess.ExpiresAt = sess.MaxExpiresAt
		}
		return txn.SetEntry(sessionEntry(&sess))
	})
	return wrap(op, err)
}

// DeleteSession removes a session and tells subscribers. Removing a missing
// session is not an error.
func (s *Store) DeleteSession(ctx context.Context, h store.TokenHash) error {
	const op = "deleting session"
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	var old store.Session
	err := s.write(func(txn *badger.Txn) error {
		// Expired sessions too, so that their index entries go.
		var err error
		old, err = getSession(txn, h, time.Time{})
		if errors.Is(err, store.ErrNotFound) {
			old = store.Session{}
			return nil
		}
		if err != nil {
			return err
		}
		return deleteSession(txn, &old)
	})
	if err != nil {
		return wrap(op, err)
	}
	// Told even when nothing was stored: a cache may still hold the session.
	s.subscribers.Publish(store.Event{
		Kind: store.EventSessionDeleted, AppID: old.AppID, UserID: old.UserID, TokenHash: h,
	})
	return nil
}

// DeleteUserSessions removes every session bound to the user, tells
// subscribers, and returns the sessions' token hashes. A user may have more
// sessions than one transaction can delete: they go in chunks, and a failure
// may leave some of them.
func (s *Store) DeleteUserSessions(ctx context.Context, appID, userID int64) ([]store.TokenHash, error) {
	const op = "deleting user sessions"
	if err := s.enterWrite(ctx); err != nil {
		return nil, wrap(op, err)
	}
	defer s.leave()
	hashes, err := s.deleteUserSessionsInChunks(appID, userID, nil)
	if err == nil {
		err = s.syncer.wait()
	}
	if err != nil {
		return nil, wrap(op, err)
	}
	s.subscribers.Publish(store.Event{Kind: store.EventUserSessionsDeleted, AppID: appID, UserID: userID})
	return hashes, nil
}

// ListSessions returns the unexpired sessions matching q, ordered by ID, and
// how many match in all. A Limit of zero or less means no limit.
func (s *Store) ListSessions(ctx context.Context, q store.SessionQuery) ([]store.Session, int, error) {
	const op = "listing sessions"
	if err := s.enter(ctx); err != nil {
		return nil, 0, wrap(op, err)
	}
	defer s.leave()
	prefix := key(prefixAppSessions, []int64{q.AppID}, "")
	if q.UserID != 0 {
		prefix = key(prefixUserSessions, []int64{q.AppID, q.UserID}, "")
	}
	var sessions []store.Session
	total := 0
	err := s.db.View(func(txn *badger.Txn) error {
		now := time.Now()
		return iteratePrefix(txn, prefix, func(_, v []byte) error {
			h, ok := tokenHash(v)
			if !ok {
				return nil
			}
			sess, err := getSession(txn, h, now)
			if errors.Is(err, store.ErrNotFound) {
				return nil // expired, or an index entry outliving its record
			}
			if err != nil {
				return err
			}
			if total >= q.Offset && (q.Limit <= 0 || len(sessions) < q.Limit) {
				sessions = append(sessions, sess)
			}
			total++
			return nil
		})
	})
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	return sessions, total, nil
}

// getSession reads a session, or returns store.ErrNotFound also when it
// expired at now (a zero now ignores expiry).
//
// A record written before sessions carried the login (format 1) gets it from
// the user record in the same transaction. Without that user the session
// counts as gone, as it did when callers read the user themselves; only with
// a zero now (deleting) is it returned, without a login.
func getSession(txn *badger.Txn, h store.TokenHash, now time.Time) (store.Session, error) {
	var sess store.Session
	var hasLogin bool
	err := getValue(txn, sessionKey(h), func(v []byte) error {
		var err error
		hasLogin, err = decodeSession(v, &sess)
		return err
	})
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		return store.Session{}, store.ErrNotFound
	case err != nil:
		return store.Session{}, err
	}
	sess.TokenHash = h
	if !now.IsZero() && sess.Expired(now) {
		return store.Session{}, store.ErrNotFound
	}
	if !hasLogin && sess.UserID != 0 {
		u, err := getUser(txn, sess.AppID, sess.UserID, now)
		switch {
		case err == nil:
			sess.Login = u.Login
		case errors.Is(err, store.ErrNotFound) && now.IsZero():
		default:
			return store.Session{}, err
		}
	}
	return sess, nil
}

// putSession writes the session record and its index entries. Whatever
// sess.Login says, the record gets the login of the user it is bound to,
// read in this transaction (so a rename or delete of the user committed
// meanwhile makes this commit conflict and retry); sess.Login is set to it.
// It returns store.ErrNotFound when that user does not exist.
func putSession(txn *badger.Txn, sess *store.Session) error {
	sess.Login = ""
	if sess.UserID != 0 {
		u, err := getUser(txn, sess.AppID, sess.UserID, time.Time{})
		if err != nil {
			return fmt.Errorf("user %d: %w", sess.UserID, err)
		}
		sess.Login = u.Login
	}
	if err := txn.SetEntry(sessionEntry(sess)); err != nil {
		return err
	}
	indexExpiry := sessionExpiry(sess.MaxExpiresAt)
	for _, k := range [][]byte{
		appSessionKey(sess.AppID, sess.ID),
		userSessionKey(sess.AppID, sess.UserID, sess.ID),
	} {
		e := badger.NewEntry(k, append([]byte(nil), sess.TokenHash[:]...))
		e.ExpiresAt = indexExpiry
		if err := txn.SetEntry(e); err != nil {
			return err
		}
	}
	return nil
}

// sessionEntry is the session record with its deadline as TTL.
func sessionEntry(sess *store.Session) *badger.Entry {
	deadline := sess.ExpiresAt
	if sess.MaxExpiresAt.Before(deadline) {
		deadline = sess.MaxExpiresAt
	}
	e := badger.NewEntry(sessionKey(sess.TokenHash), encodeSession(sess))
	e.ExpiresAt = sessionExpiry(deadline)
	return e
}

// sessionExpiry is badgerExpiry for sessions, where a zero deadline means
// already expired (Session.Expired), not never.
func sessionExpiry(deadline time.Time) uint64 {
	if deadline.IsZero() {
		return 1
	}
	return badgerExpiry(deadline)
}

// deleteSession removes the session record and its index entries.
func deleteSession(txn *badger.Txn, sess *store.Session) error {
	for _, k := range [][]byte{
		sessionKey(sess.TokenHash),
		appSessionKey(sess.AppID, sess.ID),
		userSessionKey(sess.AppID, sess.UserID, sess.ID),
	} {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// deleteUserSessions removes the sessions in the user's index with IDs above
// after, at most limit of them (limit <= 0: all), and returns their token
// hashes and the ID of the last one (after when there was none).
func deleteUserSessions(txn *badger.Txn, appID, userID, after int64, limit int) (
	[]store.TokenHash, int64, error,
) {
	refs, err := userSessions(txn, appID, userID, after, limit)
	if err != nil || len(refs) == 0 {
		return nil, after, err
	}
	hashes := make([]store.TokenHash, 0, len(refs))
	for _, ref := range refs {
		sess := store.Session{TokenHash: ref.h, AppID: appID, UserID: userID, ID: ref.id}
		if err := deleteSession(txn, &sess); err != nil {
			return nil, after, err
		}
		hashes = append(hashes, ref.h)
	}
	return hashes, refs[len(refs)-1].id, nil
}

// deleteUserSessionsInChunks removes every session in the user's index,
// deleteChunk per transaction, and returns their token hashes; the caller
// syncs. final, when not nil, runs in the last transaction: one that scanned
// the index from its start and found less than a whole chunk, so that every
// session committed before it began is gone.
//
// The chunks go on from the last ID deleted, so that none skips the deleted
// keys of the others again; at the end, one more scan from the start finds
// the sessions bound to the user meanwhile with lower IDs (UpdateSession
// keeps a session's ID; CreateSession takes it before it commits).
//
// When a chunk fails after others were committed, subscribers hear that
// the user's sessions were deleted (some were) before it returns the error.
func (s *Store) deleteUserSessionsInChunks(appID, userID int64, final func(txn *badger.Txn) error) (
	[]store.TokenHash, error,
) {
	var hashes []store.TokenHash
	var after int64
	for done := false; !done; {
		var chunk []store.TokenHash
		var last int64
		err := s.update(func(txn *badger.Txn) error {
			var err error
			chunk, last, err = deleteUserSessions(txn, appID, userID, after, deleteChunk)
			done = err == nil && after == 0 && len(chunk) < deleteChunk
			if !done || final == nil {
				return err
			}
			return final(txn)
		})
		if err != nil {
			if len(hashes) > 0 {
				s.subscribers.Publish(store.Event{Kind: store.EventUserSessionsDeleted, AppID: appID, UserID: userID})
			}
			return nil, err
		}
		hashes = append(hashes, chunk...)
		after = last
		if len(chunk) < deleteChunk {
			after = 0 // at the end: look again from the start
		}
	}
	return hashes, nil
}

// userSessionRef is an entry of a user's session index.
type userSessionRef struct {
	id int64
	h  store.TokenHash
}

// userSessions returns the entries of the user's session index with session
// IDs above after, in ID order, at most limit of them (limit <= 0: all).
func userSessions(txn *badger.Txn, appID, userID, after int64, limit int) ([]userSessionRef, error) {
	var refs []userSessionRef
	prefix := key(prefixUserSessions, []int64{appID, userID}, "")
	err := iterateFrom(txn, prefix, userSessionKey(appID, userID, after+1), func(k, v []byte) error {
		if limit > 0 && len(refs) == limit {
			return errChunkFull
		}
		if h, ok := tokenHash(v); ok {
			refs = append(refs, userSessionRef{id: lastID(k), h: h})
		}
		return nil
	})
	if err != nil && !errors.Is(err, errChunkFull) {
		return nil, err
	}
	return refs, nil
}

// setSessionLogins writes u's login into the records of u's sessions with
// IDs above after that carry another one, looking at up to limit sessions,
// and keeps each record's deadline (TTL) as it is. It returns the ID of the
// last session it looked at, whether there may be more, and how many records
// it rewrote.
func setSessionLogins(txn *badger.Txn, u *store.User, after int64, limit int, now time.Time) (
	last int64, more bool, rewritten int, err error,
) {
	refs, err := userSessions(txn, u.AppID, u.ID, after, limit)
	if err != nil || len(refs) == 0 {
		return after, false, 0, err
	}
	for _, ref := range refs {
		sess, err := getSession(txn, ref.h, now)
		if errors.Is(err, store.ErrNotFound) {
			continue // expired, or an index entry outliving its record
		}
		if err != nil {
			return 0, false, 0, err
		}
		if sess.AppID != u.AppID || sess.UserID != u.ID || sess.Login == u.Login {
			continue
		}
		sess.Login = u.Login
		if err := txn.SetEntry(sessionEntry(&sess)); err != nil {
			return 0, false, 0, err
		}
		rewritten++
	}
	return refs[len(refs)-1].id, len(refs) == limit, rewritten, nil
}

// refreshSessionLogins brings the login in every session record of a user
// up to date with the user record, sessionLoginChunk sessions per
// transaction, and returns once the rewritten records are durable.
//
// UpdateUser calls it after committing a new login, for the sessions its own
// transaction did not rewrite: those past its first chunk, and those that a
// concurrent CreateSession or UpdateSession committed, with the old login,
// after UpdateUser's snapshot was taken (Badger detects conflicts on keys a
// transaction read, not on keys added to a range it scanned). Any session
// written later read the new login, or read the old one and conflicted.
func (s *Store) refreshSessionLogins(appID, userID int64) error {
	var after int64
	rewrote := false
	for more := true; more; {
		var last int64
		var n int
		err := s.update(func(txn *badger.Txn) error {
			u, err := getUser(txn, appID, userID, time.Time{})
			if errors.Is(err, store.ErrNotFound) {
				last, more, n = after, false, 0 // deleted meanwhile, with its sessions
				return nil
			}
			if err != nil {
				return err
			}
			last, more, n, err = setSessionLogins(txn, &u, after, sessionLoginChunk, time.Now())
			return err
		})
		if err != nil {
			return err
		}
		after, rewrote = last, rewrote || n > 0
	}
	if !rewrote {
		return nil
	}
	return s.syncer.wait()
}

// tokenHash converts a session index value.
func tokenHash(v []byte) (store.TokenHash, bool) {
	var h store.TokenHash
	if len(v) != len(h) {
		return h, false
	}
	copy(h[:], v)
	return h, true
}
