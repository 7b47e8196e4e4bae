package authcore

import (
	"context"
	"errors"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// Session types as the identity headers name them.
const (
	SessionTypeApp  = "app"
	SessionTypeUser = "user"
)

// Identity is who a valid token speaks for.
type Identity struct {
	AppID int64
	// UserID is zero for an app session.
	UserID int64
	Login  string
	// SessionID is the session's public ID (store.Session.ID).
	SessionID int64
	// TokenHash names the session without revealing the token.
	TokenHash store.TokenHash
}

// SessionType is "user" for a user session, "app" for an app session.
func (id Identity) SessionType() string {
	if id.UserID == 0 {
		return SessionTypeApp
	}
	return SessionTypeUser
}

// Authenticate validates a token and slides its idle expiry. It answers
// from memory when it can: the store is read once per session (and again
// after a revocation event), and written at most once per touch interval.
func (s *Service) Authenticate(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, ErrTokenRequired
	}
	h := HashToken(token)
	now := s.now()
	e := s.sessions.get(h)
	if e == nil && s.misses.has(h, now) {
		return Identity{}, ErrSessionNotFound
	}
	// An entry that looks expired here may have been extended through
	// another node or instance: ask the store before refusing. While the
	// store is unreachable, cached entries serve for OfflineGrace only.
	if e == nil || now.UnixNano() >= e.expiresAt.Load() || !s.health.cacheTrusted(now, s.opts.OfflineGrace) {
		var err error
		if e, err = s.loadSession(ctx, h, now); err != nil {
			return Identity{}, err
		}
	}
	if now.UnixNano() >= e.maxExpiresAt {
		s.sessions.remove(h)
		return Identity{}, ErrSessionNotFound
	}
	if err := s.slide(ctx, h, e, now); err != nil {
		return Identity{}, err
	}
	return e.identity, nil
}

// loadSession reads a session from the store and caches it. One read: the
// store returns the user's login with the session (store.Session.Login), and
// keeps it current when the login changes; EventUserChanged drops the cached
// copy.
func (s *Service) loadSession(ctx context.Context, h store.TokenHash, now time.Time) (*cachedSession, error) {
	generation := s.sessions.generationNow(h)
	sess, err := s.store.GetSession(ctx, h)
	s.health.observe(err, now)
	if err == nil && sess.Expired(now) {
		err = store.ErrNotFound
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.misses.add(h, now)
		}
		s.sessions.drop(h)
		return nil, storeErr(err, ErrSessionNotFound)
	}
	id := Identity{AppID: sess.AppID, UserID: sess.UserID, Login: sess.Login, SessionID: sess.ID, TokenHash: h}
	e := &cachedSession{identity: id, maxExpiresAt: sess.MaxExpiresAt.UnixNano()}
	e.expiresAt.Store(sess.ExpiresAt.UnixNano())
	e.storedExpiresAt.Store(sess.ExpiresAt.UnixNano())
	s.sessions.put(h, e, generation)
	return e, nil
}

// slide moves the idle expiry to now+SessionTTL (capped by the absolute
// lifetime) in memory, and writes it to the store only when the stored
// value is more than the touch interval old. One request at a time writes.
func (s *Service) slide(ctx context.Context, h store.TokenHash, e *cachedSession, now time.Time) error {
	next := min(now.Add(s.opts.SessionTTL).UnixNano(), e.maxExpiresAt)
	if next > e.expiresAt.Load() {
		e.expiresAt.Store(next)
	}
	if time.Duration(next-e.storedExpiresAt.Load()) < s.opts.touchInterval() {
		return nil
	}
	if !e.touching.CompareAndSwap(false, true) {
		return nil
	}
	defer e.touching.Store(false)
	err := s.store.TouchSession(ctx, h, time.Unix(0, next))
	s.health.observe(err, now)
	switch {
	case err == nil:
		e.storedExpiresAt.Store(next)
		if e.identity.UserID != 0 {
			s.touchUser(ctx, e.identity.AppID, e.identity.UserID, now)
		}
	case errors.Is(err, store.ErrNotFound):
		s.sessions.remove(h)
		return ErrSessionNotFound
	}
	// A failed extension is retried on the next request; the session itself
	// was valid, so this request goes on.
	return nil
}
