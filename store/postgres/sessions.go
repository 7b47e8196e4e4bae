package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubeauth/cubeauth/store"
)

const sessionColumns = `id, token_hash, app_id, user_id, nonce, ts, created_at, updated_at, expires_at, max_expires_at, ` +
	sessionLogin

// sessionLogin is the login of a session's user, empty for an app session,
// read in the same query as the session: one probe of the users' (app_id,
// id) index per session row, as a nested-loop left join would make. It is a
// subquery rather than a join so that the session columns and conditions,
// whose names users share, need no qualifying.
const sessionLogin = `coalesce((SELECT u.login FROM cubeauth_users u
	WHERE u.app_id = cubeauth_sessions.app_id AND u.id = cubeauth_sessions.user_id), '')`

// sessionLive is the condition of a session that has not expired, judged by
// the database's clock so that every node agrees.
const sessionLive = `expires_at > now() AND max_expires_at > now()`

// scanSession reads one row of sessionColumns.
func scanSession(row pgx.Row) (store.Session, error) {
	var sess store.Session
	var hash []byte
	var userID *int64
	err := row.Scan(&sess.ID, &hash, &sess.AppID, &userID, &sess.Nonce, &sess.Timestamp,
		&sess.CreatedAt, &sess.UpdatedAt, &sess.ExpiresAt, &sess.MaxExpiresAt, &sess.Login)
	if err != nil {
		return store.Session{}, err
	}
	if len(hash) != len(sess.TokenHash) {
		return store.Session{}, fmt.Errorf("session %d has a token hash of %d bytes", sess.ID, len(hash))
	}
	copy(sess.TokenHash[:], hash)
	if userID != nil {
		sess.UserID = *userID
	}
	sess.CreatedAt, sess.UpdatedAt = sess.CreatedAt.UTC(), sess.UpdatedAt.UTC()
	sess.ExpiresAt, sess.MaxExpiresAt = sess.ExpiresAt.UTC(), sess.MaxExpiresAt.UTC()
	return sess, nil
}

// nullUser stores "no user" (an app session) as NULL, which the foreign key
// to users skips.
func nullUser(userID int64) any {
	if userID == 0 {
		return nil
	}
	return userID
}

// CreateSession stores a new session, assigning sess.ID and sess.Login. It
// returns store.ErrNotFound when its app or user does not exist.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	const op = "creating session"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	var id int64
	var login string
	err = s.pool.QueryRow(ctx, `INSERT INTO cubeauth_sessions (token_hash, app_id, user_id, nonce, ts,
			created_at, updated_at, expires_at, max_expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id, `+sessionLogin,
		sess.TokenHash[:], sess.AppID, nullUser(sess.UserID), sess.Nonce, sess.Timestamp,
		sess.CreatedAt, sess.UpdatedAt, sess.ExpiresAt, sess.MaxExpiresAt).Scan(&id, &login)
	if isForeignKeyViolation(err) {
		return wrap(op, fmt.Errorf("app %d or user %d: %w", sess.AppID, sess.UserID, store.ErrNotFound))
	}
	if err != nil {
		return s.fail(op, err)
	}
	sess.ID, sess.Login = id, login
	return nil
}

// GetSession returns the unexpired session with this token hash and its
// user's login, or store.ErrNotFound. It is the hot path: one query through
// a prepared statement, reading the session and the user by their indexes.
func (s *Store) GetSession(ctx context.Context, h store.TokenHash) (store.Session, error) {
	const op = "getting session"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return store.Session{}, wrap(op, err)
	}
	defer cancel()
	sess, err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM cubeauth_sessions
		WHERE token_hash = $1 AND `+sessionLive, h[:]))
	return sess, s.fail(op, err)
}

// UpdateSession replaces an existing, unexpired session (keeping its ID and
// app) and tells subscribers on every node. It returns store.ErrNotFound
// when the session, or the user it is bound to, is gone.
func (s *Store) UpdateSession(ctx context.Context, sess store.Session) error {
	const op = "updating session"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	ev := store.Event{Kind: store.EventSessionChanged, UserID: sess.UserID, TokenHash: sess.TokenHash}
	err = s.announced(ctx, &ev, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `UPDATE cubeauth_sessions SET user_id = $2, nonce = $3, ts = $4,
				created_at = $5, updated_at = $6, expires_at = $7, max_expires_at = $8
			WHERE token_hash = $1 AND `+sessionLive+` RETURNING app_id`,
			sess.TokenHash[:], nullUser(sess.UserID), sess.Nonce, sess.Timestamp,
			sess.CreatedAt, sess.UpdatedAt, sess.ExpiresAt, sess.MaxExpiresAt).Scan(&ev.AppID)
	})
	if isForeignKeyViolation(err) {
		return wrap(op, fmt.Errorf("user %d: %w", sess.UserID, store.ErrNotFound))
	}
	return s.fail(op, err)
}

// TouchSession moves a session's idle expiry to expiresAt (at most its
// MaxExpiresAt) without telling anyone. It returns store.ErrNotFound when
// the session is gone or expired: a touch never revives a session.
func (s *Store) TouchSession(ctx context.Context, h store.TokenHash, expiresAt time.Time) error {
	const op = "touching session"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	err = execOne(ctx, s.pool, `UPDATE cubeauth_sessions SET expires_at = least($2, max_expires_at)
		WHERE token_hash = $1 AND `+sessionLive, h[:], expiresAt)
	return s.fail(op, err)
}

// DeleteSession removes a session and tells subscribers; other nodes hear
// of it when a session was actually removed. Removing a missing session is
// not an error.
func (s *Store) DeleteSession(ctx context.Context, h store.TokenHash) error {
	const op = "deleting session"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	ev := store.Event{Kind: store.EventSessionDeleted, TokenHash: h}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var userID *int64
		err := tx.QueryRow(ctx, `DELETE FROM cubeauth_sessions WHERE token_hash = $1 RETURNING app_id, user_id`,
			h[:]).Scan(&ev.AppID, &userID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if userID != nil {
			ev.UserID = *userID
		}
		return s.recordEvent(ctx, tx, ev)
	})
	if err != nil {
		return s.fail(op, err)
	}
	// Told even when nothing was stored: a cache may still hold the session.
	s.subscribers.Publish(ev)
	return nil
}

// DeleteUserSessions removes every session bound to the user, tells
// subscribers on every node, and returns the sessions' token hashes.
func (s *Store) DeleteUserSessions(ctx context.Context, appID, userID int64) ([]store.TokenHash, error) {
	const op = "deleting user sessions"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer cancel()
	ev := store.Event{Kind: store.EventUserSessionsDeleted, AppID: appID, UserID: userID}
	var hashes []store.TokenHash
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM cubeauth_sessions WHERE app_id = $1 AND user_id = $2
			RETURNING token_hash`, appID, userID)
		if err != nil {
			return err
		}
		hashes, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.TokenHash, error) {
			var b []byte
			var h store.TokenHash
			if err := row.Scan(&b); err != nil {
				return h, err
			}
			copy(h[:], b)
			return h, nil
		})
		if err != nil || len(hashes) == 0 {
			return err
		}
		return s.recordEvent(ctx, tx, ev)
	})
	if err != nil {
		return nil, s.fail(op, err)
	}
	s.subscribers.Publish(ev)
	return hashes, nil
}

// ListSessions returns the unexpired sessions matching q, ordered by ID, and
// how many match in all. A Limit of zero or less means no limit.
func (s *Store) ListSessions(ctx context.Context, q store.SessionQuery) ([]store.Session, int, error) {
	const op = "listing sessions"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	defer cancel()
	filter, args := `app_id = $1 AND `+sessionLive, []any{q.AppID}
	if q.UserID != 0 {
		filter, args = `app_id = $1 AND user_id = $2 AND `+sessionLive, []any{q.AppID, q.UserID}
	}
	sessions, total, err := listPage(ctx, s.pool, "cubeauth_sessions", sessionColumns, filter, args,
		q.Offset, q.Limit, scanSession)
	if err != nil {
		return nil, 0, s.fail(op, err)
	}
	return sessions, total, nil
}
