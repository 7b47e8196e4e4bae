package authcore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// SessionRequest is a POST /session: the body's parameters, flattened, and
// who sent it.
type SessionRequest struct {
	Params   Params
	ClientIP string
	// Providers returns the app's outside identity providers (Firebase, a
	// custom identity provider); nil when none is configured anywhere.
	Providers ProviderLookup
}

// SessionResult is a created or looked-up session. Token is set only when
// the session was just created: stored sessions know only its hash.
type SessionResult struct {
	Token   string
	Session store.Session
	// User is nil for an app session.
	User *store.User
	// UserCreated is true when the user was created by this request (a
	// development-stage first login, or a guest).
	UserCreated bool
	// Stage is the app's stage when CreateSession made the session; other
	// lookups leave it empty.
	Stage string
}

// CreateSession creates an app session, or a user session for a login or
// email with password, a Firebase ID token or a custom identity provider's
// token (creating the user when the app allows it), or a guest session;
// legacy signed requests are verified when they carry a signature.
func (s *Service) CreateSession(ctx context.Context, req SessionRequest) (SessionResult, error) {
	p := req.Params
	ip := s.limits.clientKey(req.ClientIP)
	if err := s.limits.sessionsIP.take(ip); err != nil {
		return SessionResult{}, err
	}
	appID, err := parseAppID(p["application_id"])
	if err != nil {
		return SessionResult{}, err
	}
	if p["auth_key"] == "" {
		return SessionResult{}, invalid("auth_key", "cannot be blank")
	}
	app, err := s.authorizeApp(ctx, appID, p["auth_key"])
	if err != nil {
		return SessionResult{}, err
	}
	if err := s.limits.sessionsApp.take(strconv.FormatInt(app.ID, 10)); err != nil {
		return SessionResult{}, err
	}
	now := s.now()
	if err := s.checkSignature(ctx, app, p, now); err != nil {
		return SessionResult{}, err
	}
	var providers AppProviders
	if req.Providers != nil {
		providers = req.Providers(app.ID)
	}
	res := SessionResult{Stage: app.Stage}
	creds := p.Sub("user")
	switch {
	case p["provider"] != "":
		u, created, err := s.signInWithFirebase(ctx, app, providers.Firebase, p, ip, AllowsSessionWithoutUser(app))
		if err != nil {
			return res, err
		}
		res.User, res.UserCreated = &u, created
	case creds["guest"] != "" && creds["guest"] != "0" && creds["guest"] != "false":
		if !AllowsGuestSessions(app) {
			return res, ErrGuestsDenied
		}
		if err := s.limits.beforeSignup(ip, app.ID); err != nil {
			return res, err
		}
		u, err := s.createGuest(ctx, app, creds["full_name"], now)
		if err != nil {
			return res, err
		}
		res.User, res.UserCreated = &u, true
	case providers.IdentityProvider != nil && creds["login"] != "":
		// The app's logins are its identity provider's tokens; the SDKs
		// send a dummy password beside them, which is ignored.
		u, created, err := s.signInWithIdentityProvider(ctx, app, providers.IdentityProvider, creds["login"], ip, AllowsSessionWithoutUser(app))
		if err != nil {
			return res, err
		}
		res.User, res.UserCreated = &u, created
	case creds != nil:
		u, created, err := s.signIn(ctx, app, credentialsFrom(creds), ip, AllowsSessionWithoutUser(app))
		if err != nil {
			return res, err
		}
		res.User, res.UserCreated = &u, created
	}
	sess := store.Session{AppID: app.ID, Nonce: p["nonce"], CreatedAt: now, UpdatedAt: now}
	sess.Timestamp, _ = strconv.ParseInt(p["timestamp"], 10, 64)
	if sess.Timestamp == 0 {
		sess.Timestamp = now.Unix()
	}
	sess.MaxExpiresAt = now.Add(s.opts.SessionMaxAge)
	if res.User != nil {
		sess.UserID = res.User.ID
		if !res.User.ExpiresAt.IsZero() {
			sess.MaxExpiresAt = res.User.ExpiresAt
		}
	}
	sess.ExpiresAt = now.Add(s.opts.SessionTTL)
	if sess.ExpiresAt.After(sess.MaxExpiresAt) {
		sess.ExpiresAt = sess.MaxExpiresAt
	}
	if sess.UserID != 0 && res.User.IsGuest {
		// A guest session lasts as long as its user, as ConnectyCube's does.
		sess.ExpiresAt = sess.MaxExpiresAt
	}
	var token string
	token, sess.TokenHash = newToken()
	if err := s.store.CreateSession(ctx, &sess); err != nil {
		return res, storeErr(err, ErrUnavailable)
	}
	s.misses.forget(sess.TokenHash)
	if sess.UserID != 0 {
		s.touchUser(ctx, sess.AppID, sess.UserID, now)
	}
	res.Token, res.Session = token, sess
	return res, nil
}

func parseAppID(raw string) (int64, error) {
	if raw == "" {
		return 0, invalid("application_id", "cannot be blank")
	}
	id, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil || id <= 0 {
		return 0, invalid("application_id", "must be a positive integer")
	}
	return id, nil
}

// checkSignature verifies a legacy signed request: the signature first (so
// that nobody can burn another client's nonces), then the timestamp, then
// the nonce+timestamp pair, which is accepted once.
func (s *Service) checkSignature(ctx context.Context, app store.App, p Params, now time.Time) error {
	sig, signed := p["signature"]
	if !signed {
		if app.RequireSignature {
			return ErrSignatureRequired
		}
		return nil
	}
	if !VerifySignature(p, app.AuthSecret, sig) {
		return ErrBadSignature
	}
	ts, err := strconv.ParseInt(p["timestamp"], 10, 64)
	if err != nil {
		return invalid("timestamp", "must be Unix seconds")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > s.opts.SignatureSkew || d < -s.opts.SignatureSkew {
		return ErrStaleTimestamp
	}
	if p["nonce"] == "" {
		return invalid("nonce", "cannot be blank")
	}
	// The pair is remembered for twice the skew: past that its timestamp is
	// refused anyway.
	err = s.store.UseNonce(ctx, app.ID, p["nonce"]+":"+p["timestamp"], 2*s.opts.SignatureSkew)
	if errors.Is(err, store.ErrNonceUsed) {
		return ErrReplayed
	}
	return storeErr(err, ErrUnavailable)
}

func (s *Service) createGuest(ctx context.Context, app store.App, fullName string, now time.Time) (store.User, error) {
	if err := checkText("full_name", strings.TrimSpace(fullName), 0, maxFullName, textProse); err != nil {
		return store.User{}, err
	}
	var b [18]byte
	rand.Read(b[:])
	u := store.User{
		AppID:     app.ID,
		Login:     "guest_login_" + strings.ToUpper(hex.EncodeToString(b[:])),
		FullName:  fullName,
		IsGuest:   true,
		CreatedAt: now,
		UpdatedAt: now,
		ExpiresAt: now.Add(s.opts.GuestTTL),
	}
	if err := s.store.CreateUser(ctx, &u); err != nil {
		return u, storeErr(err, ErrUnavailable)
	}
	return u, nil
}

// Session returns the session of a token, with its user when bound.
func (s *Service) Session(ctx context.Context, token string) (SessionResult, error) {
	if token == "" {
		return SessionResult{}, ErrTokenRequired
	}
	if _, err := s.Authenticate(ctx, token); err != nil {
		return SessionResult{}, err
	}
	sess, err := s.store.GetSession(ctx, HashToken(token))
	if err != nil {
		return SessionResult{}, storeErr(err, ErrSessionNotFound)
	}
	res := SessionResult{Session: sess}
	if sess.UserID != 0 {
		u, err := s.store.GetUser(ctx, sess.AppID, sess.UserID)
		if err != nil {
			return res, storeErr(err, ErrSessionNotFound)
		}
		res.User = &u
	}
	return res, nil
}

// DeleteSession ends the token's session (logout of the whole session).
func (s *Service) DeleteSession(ctx context.Context, token string) error {
	id, err := s.Authenticate(ctx, token)
	if err != nil {
		return err
	}
	return s.revoke(ctx, id.TokenHash)
}

// RevokeSession ends a session by its hash (admin use).
func (s *Service) RevokeSession(ctx context.Context, h store.TokenHash) error {
	return s.revoke(ctx, h)
}

func (s *Service) revoke(ctx context.Context, h store.TokenHash) error {
	err := s.store.DeleteSession(ctx, h)
	s.sessions.remove(h) // also done by the store's event; this is belt and braces
	return storeErr(err, nil)
}

// LoginRequest is a POST /login: the token's app session becomes a session
// of the user these credentials name.
type LoginRequest struct {
	Token    string
	Params   Params
	ClientIP string
	// Providers are as in SessionRequest.
	Providers ProviderLookup
}

// Login binds a user to an existing session, keeping the token (the SDKs
// keep using it). The user must exist.
func (s *Service) Login(ctx context.Context, req LoginRequest) (store.User, error) {
	ip := s.limits.clientKey(req.ClientIP)
	if err := s.limits.loginsIP.take(ip); err != nil {
		return store.User{}, err
	}
	id, err := s.Authenticate(ctx, req.Token)
	if err != nil {
		return store.User{}, err
	}
	app, err := s.App(ctx, id.AppID)
	if err != nil {
		return store.User{}, err
	}
	var providers AppProviders
	if req.Providers != nil {
		providers = req.Providers(app.ID)
	}
	creds := req.Params.Sub("user")
	if creds == nil {
		creds = req.Params // POST /login sends the fields at the top level
	}
	// The user must exist, as for a password login.
	var u store.User
	switch {
	case req.Params["provider"] != "":
		u, _, err = s.signInWithFirebase(ctx, app, providers.Firebase, req.Params, ip, false)
	case providers.IdentityProvider != nil && creds["login"] != "":
		u, _, err = s.signInWithIdentityProvider(ctx, app, providers.IdentityProvider, creds["login"], ip, false)
	default:
		u, _, err = s.signIn(ctx, app, credentialsFrom(creds), ip, false)
	}
	if err != nil {
		return u, err
	}
	return u, s.rebind(ctx, id.TokenHash, u.ID)
}

// Logout unbinds the user from the token's session, which goes on as an
// app session.
func (s *Service) Logout(ctx context.Context, token string) error {
	id, err := s.Authenticate(ctx, token)
	if err != nil {
		return err
	}
	if err := id.RequireUser(); err != nil {
		return err
	}
	return s.rebind(ctx, id.TokenHash, 0)
}

func (s *Service) rebind(ctx context.Context, h store.TokenHash, userID int64) error {
	sess, err := s.store.GetSession(ctx, h)
	if err != nil {
		return storeErr(err, ErrSessionNotFound)
	}
	sess.UserID = userID
	sess.UpdatedAt = s.now()
	err = s.store.UpdateSession(ctx, sess)
	s.sessions.remove(h)
	if err == nil && userID != 0 {
		s.touchUser(ctx, sess.AppID, userID, sess.UpdatedAt)
	}
	return storeErr(err, ErrSessionNotFound)
}

// touchUser records that the user made a request at now: its
// last_request_at, which the store writes at most once per user per minute.
// A failed write only leaves the time older, so it does not fail the
// request.
func (s *Service) touchUser(ctx context.Context, appID, userID int64, now time.Time) {
	_ = s.store.TouchUser(ctx, appID, userID, now)
}
