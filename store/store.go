// Package store defines what cubeauth keeps — apps, users, sessions and
// legacy-signature nonces — as one small interface that every storage driver
// implements. No driver type appears here; drivers live in sub-packages
// (store/badger, store/postgres) and all of them pass the conformance suite in
// store/storetest.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Drivers return them (possibly wrapped) so that callers can
// decide with errors.Is without knowing the driver.
var (
	// ErrNotFound means the app, user or session does not exist (or has expired).
	ErrNotFound = errors.New("not found")
	// ErrLoginTaken means another user of the same app has this login.
	ErrLoginTaken = errors.New("login has already been taken")
	// ErrEmailTaken means another user of the same app has this email.
	ErrEmailTaken = errors.New("email has already been taken")
	// ErrNonceUsed means the nonce+timestamp pair was seen before.
	ErrNonceUsed = errors.New("nonce has already been used")
	// ErrUnavailable means the store cannot serve requests right now (closed,
	// disk full, database unreachable). Callers must fail closed on it.
	ErrUnavailable = errors.New("store unavailable")
)

// Stages of an app.
const (
	StageDevelopment = "development"
	StageProduction  = "production"
)

// Values of App.SessionWithoutUser, App.ListUsers and App.GuestSessions.
// The empty string means "follow the default".
const (
	PermissionAllow = "allow"
	PermissionDeny  = "deny"
)

// Values of App.UserFields.
const (
	VisibilityPublic  = "public"
	VisibilityPrivate = "private"
)

// App is an application that clients identify with its ID and auth key.
type App struct {
	ID      int64  `json:"id"`
	Name    string `json:"name,omitempty"`
	AuthKey string `json:"auth_key"`
	// PreviousAuthKey keeps working until PreviousAuthKeyExpiresAt, so that a
	// rotated key can be rolled out to clients without downtime.
	PreviousAuthKey          string    `json:"previous_auth_key,omitempty"`
	PreviousAuthKeyExpiresAt time.Time `json:"previous_auth_key_expires_at,omitzero"`
	// AuthSecret verifies legacy signed session creation; empty disables it.
	AuthSecret string `json:"auth_secret,omitempty"`
	// Stage is StageDevelopment or StageProduction.
	Stage string `json:"stage"`
	// SessionWithoutUser is PermissionAllow, PermissionDeny, or empty to
	// follow the stage (development allows, production denies).
	SessionWithoutUser string `json:"session_without_user,omitempty"`
	// RequireSignature refuses unsigned session creation.
	RequireSignature bool `json:"require_signature,omitempty"`
	// ListUsers is PermissionAllow, PermissionDeny, or empty to follow the
	// stage: whether app and guest sessions may list and look up users
	// (ConnectyCube's "Allow to retrieve a list of users via API").
	ListUsers string `json:"list_users,omitempty"`
	// GuestSessions is PermissionAllow, PermissionDeny, or empty to follow
	// SessionWithoutUser: whether guest sessions (each a new user) may be
	// created.
	GuestSessions string `json:"guest_sessions,omitempty"`
	// UserFields overrides which user fields other sessions see: a field
	// name mapped to VisibilityPublic or VisibilityPrivate.
	UserFields map[string]string `json:"user_fields,omitempty"`
	// MinPasswordLength is the fewest characters a new password may have;
	// zero means the default.
	MinPasswordLength int `json:"min_password_length,omitempty"`
	// Pinned lists the fields set by the server configuration, which the
	// admin API must not change.
	Pinned    []string  `json:"pinned,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// User is an end user of an app. Login and email are unique per app,
// compared case-insensitively.
type User struct {
	ID            int64     `json:"id"`
	AppID         int64     `json:"app_id"`
	Login         string    `json:"login,omitempty"`
	Email         string    `json:"email,omitempty"`
	FullName      string    `json:"full_name,omitempty"`
	Phone         string    `json:"phone,omitempty"`
	Website       string    `json:"website,omitempty"`
	CustomData    string    `json:"custom_data,omitempty"`
	Tags          string    `json:"tags,omitempty"`
	ExternalID    string    `json:"external_id,omitempty"`
	FacebookID    string    `json:"facebook_id,omitempty"`
	TwitterID     string    `json:"twitter_id,omitempty"`
	Avatar        string    `json:"avatar,omitempty"`
	Timezone      *int      `json:"timezone,omitempty"`
	PasswordHash  string    `json:"password_hash,omitempty"`
	IsGuest       bool      `json:"is_guest,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	LastRequestAt time.Time `json:"last_request_at,omitzero"`
	// ExpiresAt, when set, is when the user is deleted automatically (guests).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// TokenHash is the SHA-256 of a session token. Stores never see tokens.
type TokenHash [32]byte

// Session is a token's server-side state. UserID is zero for an app session.
type Session struct {
	ID        int64     `json:"id"`
	TokenHash TokenHash `json:"token_hash"`
	AppID     int64     `json:"app_id"`
	UserID    int64     `json:"user_id,omitempty"`
	// Login is, for a user session, the bound user's current login, so that
	// validating a token takes one read: GetSession and ListSessions fill it,
	// and drivers keep it current when the user's login changes. Callers need
	// not set it: CreateSession and UpdateSession derive it from the user
	// record and ignore what was passed. Empty for an app session.
	Login string `json:"login,omitempty"`
	// Nonce and Timestamp echo what the client sent at creation.
	Nonce     string    `json:"nonce,omitempty"`
	Timestamp int64     `json:"ts,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// ExpiresAt is the idle expiry; it slides forward as the token is used.
	ExpiresAt time.Time `json:"expires_at"`
	// MaxExpiresAt is the absolute lifetime; ExpiresAt never passes it.
	MaxExpiresAt time.Time `json:"max_expires_at"`
}

// Expired reports whether the session is no longer valid at now.
func (s *Session) Expired(now time.Time) bool {
	return !now.Before(s.ExpiresAt) || !now.Before(s.MaxExpiresAt)
}

// SessionQuery selects sessions of one app for listing.
type SessionQuery struct {
	AppID int64
	// UserID, when not zero, restricts the result to that user's sessions.
	UserID int64
	Offset int
	Limit  int
}

// Store keeps apps, users, sessions and nonces. Implementations must be safe
// for concurrent use. Every method that changes data returns only after the
// change is durable: a crash right after it returns loses nothing.
type Store interface {
	// GetApp returns the app with this ID, or ErrNotFound.
	GetApp(ctx context.Context, id int64) (App, error)
	// ListApps returns every app, ordered by ID.
	ListApps(ctx context.Context) ([]App, error)
	// PutApp creates or replaces an app.
	PutApp(ctx context.Context, app App) error
	// CreateApp stores a new app, assigning a.ID: one higher than every
	// existing app ID. Choosing the ID and inserting are atomic, so
	// concurrent creators (on any number of nodes sharing the store) get
	// distinct IDs and never replace each other's apps. Subscribers hear
	// EventAppChanged, as for PutApp.
	CreateApp(ctx context.Context, a *App) error
	// DeleteApp removes an app with all its users and sessions.
	DeleteApp(ctx context.Context, id int64) error

	// CreateUser stores a new user, assigning u.ID. It returns ErrLoginTaken
	// or ErrEmailTaken when another user of the app holds the login or email;
	// the check and the insert are atomic.
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns a user by ID, or ErrNotFound.
	GetUser(ctx context.Context, appID, userID int64) (User, error)
	// GetUserByLogin returns a user by login (case-insensitive), or ErrNotFound.
	GetUserByLogin(ctx context.Context, appID int64, login string) (User, error)
	// GetUserByEmail returns a user by email (case-insensitive), or ErrNotFound.
	GetUserByEmail(ctx context.Context, appID int64, email string) (User, error)
	// UpdateUser replaces an existing user, keeping login and email unique,
	// and tells subscribers. A new login reaches Session.Login of every
	// session of the user before UpdateUser returns.
	UpdateUser(ctx context.Context, u User) error
	// DeleteUser removes a user and all its sessions, also any that a
	// concurrent CreateSession or UpdateSession binds to it: GetSession never
	// returns a session of a deleted user.
	DeleteUser(ctx context.Context, appID, userID int64) error
	// ListUsers returns the users matching q (userquery.go), in its order,
	// and how many match in all. It returns ErrBadQuery when q.Validate
	// fails.
	ListUsers(ctx context.Context, q UserQuery) ([]User, int, error)
	// TouchUser sets the user's LastRequestAt to at when the stored one is
	// LastRequestPrecision or more older, without telling subscribers. It
	// need not be durable (a lost touch only leaves an older time), and
	// returns ErrNotFound when the user is gone.
	TouchUser(ctx context.Context, appID, userID int64, at time.Time) error

	// CreateSession stores a new session, assigning s.ID and s.Login. It
	// returns ErrNotFound when s.UserID names no user of the app.
	CreateSession(ctx context.Context, s *Session) error
	// GetSession returns the unexpired session with this token hash, or
	// ErrNotFound. A user session comes with its user's current login
	// (Session.Login), so that callers need not read the user as well.
	GetSession(ctx context.Context, h TokenHash) (Session, error)
	// UpdateSession replaces an existing session (user binding) and tells
	// subscribers. It returns ErrNotFound when the session, or the user it
	// is bound to, is gone.
	UpdateSession(ctx context.Context, s Session) error
	// TouchSession moves a session's idle expiry to expiresAt without telling
	// subscribers; it is called at most about once a minute per session, and
	// need not be durable (a lost extension only shortens a session).
	// It returns ErrNotFound when the session is gone.
	TouchSession(ctx context.Context, h TokenHash, expiresAt time.Time) error
	// DeleteSession removes a session. Removing a missing session is not an
	// error.
	DeleteSession(ctx context.Context, h TokenHash) error
	// DeleteUserSessions removes every session bound to the user and returns
	// their token hashes.
	DeleteUserSessions(ctx context.Context, appID, userID int64) ([]TokenHash, error)
	// ListSessions returns the unexpired sessions matching q, ordered by ID,
	// and how many match in all.
	ListSessions(ctx context.Context, q SessionQuery) ([]Session, int, error)

	// UseNonce records that the key was used and returns ErrNonceUsed if it
	// was used before within ttl.
	UseNonce(ctx context.Context, appID int64, key string, ttl time.Duration) error

	// PasswordResets keep pending password resets (passwordreset.go).
	PasswordResets
	// LimitCounters count abuse-limit events for the fleet (counters.go).
	LimitCounters

	// Identities bind users to outside identity providers (identities.go).
	Identities

	// SigningKeys keep the assertion signing keys (signingkeys.go).
	SigningKeys

	// ChatLogins keep which sessions logged in to chat (chatlogins.go).
	ChatLogins

	// UserImports create users in bulk (userimport.go).
	UserImports

	// Subscribe registers fn to be called for every change that other users
	// of the store must see (revocations, app changes), including changes
	// made by other processes when the driver is shared. The returned func
	// unsubscribes. fn must not block.
	Subscribe(fn func(Event)) (unsubscribe func())

	// Close releases the store.
	Close() error
}

// EventKind says what changed.
type EventKind int

// Kinds of events.
const (
	// EventSessionDeleted: the session with TokenHash ended.
	EventSessionDeleted EventKind = iota + 1
	// EventSessionChanged: the session with TokenHash was rebound (login/logout).
	EventSessionChanged
	// EventUserChanged: the user's fields (login, email, ...) changed.
	EventUserChanged
	// EventUserDeleted: the user and all its sessions are gone.
	EventUserDeleted
	// EventUserSessionsDeleted: every session of the user ended.
	EventUserSessionsDeleted
	// EventAppChanged: the app's settings changed.
	EventAppChanged
	// EventAppDeleted: the app, its users and sessions are gone.
	EventAppDeleted
	// EventReset: events may have been missed; drop every cached value.
	EventReset
)

// Event tells subscribers what changed, so that they can drop cached state.
type Event struct {
	Kind      EventKind
	AppID     int64
	UserID    int64
	TokenHash TokenHash
}
