package operator

import (
	"time"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/store"
)

// appView is an app as operators see it: the auth key (clients carry it
// anyway) but never the auth secret, only whether one is set.
type appView struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	AuthKey       string `json:"auth_key"`
	AuthSecretSet bool   `json:"auth_secret_set"`
	// PreviousAuthKeyExpiresAt is when a rotated-out key stops working;
	// absent when no previous key works any more.
	PreviousAuthKeyExpiresAt *time.Time `json:"previous_auth_key_expires_at,omitempty"`
	Stage                    string     `json:"stage"`
	// SessionWithoutUser is "allow", "deny", or null when it follows the
	// stage; SessionWithoutUserEffective is what applies.
	SessionWithoutUser          *string `json:"session_without_user"`
	SessionWithoutUserEffective string  `json:"session_without_user_effective"`
	RequireSignature            bool    `json:"require_signature"`
	// ListUsers (whether app and guest sessions may list and look up
	// users) and GuestSessions are like SessionWithoutUser: null follows
	// the stage, respectively session_without_user.
	ListUsers              *string `json:"list_users"`
	ListUsersEffective     string  `json:"list_users_effective"`
	GuestSessions          *string `json:"guest_sessions"`
	GuestSessionsEffective string  `json:"guest_sessions_effective"`
	// UserFields is every settable user field's visibility to other
	// sessions, public or private; the app's own overrides are in
	// UserFieldOverrides.
	UserFields         map[string]string `json:"user_fields_effective"`
	UserFieldOverrides map[string]string `json:"user_fields"`
	// MinPasswordLength is the minimum that applies, in characters.
	MinPasswordLength int       `json:"min_password_length"`
	Pinned            []string  `json:"pinned"`
	Warnings          []string  `json:"warnings"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

func newAppView(a store.App, now time.Time) appView {
	v := appView{
		ID:               a.ID,
		Name:             a.Name,
		AuthKey:          a.AuthKey,
		AuthSecretSet:    a.AuthSecret != "",
		Stage:            a.Stage,
		RequireSignature: a.RequireSignature,
		Pinned:           emptyIfNil(a.Pinned),
		Warnings:         emptyIfNil(authcore.AppWarnings(a)),
		CreatedAt:        a.CreatedAt,
		UpdatedAt:        a.UpdatedAt,
	}
	v.SessionWithoutUser, v.SessionWithoutUserEffective = permissionView(a.SessionWithoutUser, authcore.AllowsSessionWithoutUser(a))
	v.ListUsers, v.ListUsersEffective = permissionView(a.ListUsers, authcore.AllowsListUsers(a))
	v.GuestSessions, v.GuestSessionsEffective = permissionView(a.GuestSessions, authcore.AllowsGuestSessions(a))
	v.UserFields = map[string]string{}
	for _, f := range authcore.UserFieldNames() {
		v.UserFields[f] = store.VisibilityPublic
		if authcore.IsPrivateUserField(a, f) {
			v.UserFields[f] = store.VisibilityPrivate
		}
	}
	v.UserFieldOverrides = a.UserFields
	if v.UserFieldOverrides == nil {
		v.UserFieldOverrides = map[string]string{}
	}
	v.MinPasswordLength = authcore.MinPasswordLength(a)
	if a.PreviousAuthKey != "" && now.Before(a.PreviousAuthKeyExpiresAt) {
		v.PreviousAuthKeyExpiresAt = &a.PreviousAuthKeyExpiresAt
	}
	return v
}

// permissionView is a permission's effective value and its explicit one
// (nil when it follows its default).
func permissionView(set string, allowed bool) (*string, string) {
	effective := store.PermissionDeny
	if allowed {
		effective = store.PermissionAllow
	}
	if set == "" {
		return nil, effective
	}
	return &set, effective
}

// userView is a user as operators see it: never the password hash.
type userView struct {
	ID            int64     `json:"id"`
	AppID         int64     `json:"app_id"`
	Login         string    `json:"login,omitempty"`
	Email         string    `json:"email,omitempty"`
	FullName      string    `json:"full_name,omitempty"`
	Phone         string    `json:"phone,omitempty"`
	ExternalID    string    `json:"external_id,omitempty"`
	IsGuest       bool      `json:"is_guest"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	LastRequestAt time.Time `json:"last_request_at,omitzero"`
	ExpiresAt     time.Time `json:"expires_at,omitzero"`
	// Sessions counts the user's active sessions (single-user answers only).
	Sessions *int `json:"sessions,omitempty"`
}

func newUserView(u store.User) userView {
	return userView{
		ID: u.ID, AppID: u.AppID, Login: u.Login, Email: u.Email, FullName: u.FullName,
		Phone: u.Phone, ExternalID: u.ExternalID, IsGuest: u.IsGuest,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, LastRequestAt: u.LastRequestAt, ExpiresAt: u.ExpiresAt,
	}
}

// sessionView is a session as operators see it: a short fingerprint of the
// token's hash names it, never the token.
type sessionView struct {
	ID          int64     `json:"id"`
	AppID       int64     `json:"app_id"`
	UserID      *int64    `json:"user_id"`
	Type        string    `json:"type"`
	Fingerprint string    `json:"fingerprint"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// ExpiresAt is the idle expiry as last stored; an active session's may
	// be up to a minute later in memory.
	ExpiresAt    time.Time `json:"expires_at"`
	MaxExpiresAt time.Time `json:"max_expires_at"`
}

func newSessionView(s store.Session) sessionView {
	v := sessionView{
		ID: s.ID, AppID: s.AppID, Type: authcore.SessionTypeApp, Fingerprint: authcore.Fingerprint(s.TokenHash),
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, ExpiresAt: s.ExpiresAt, MaxExpiresAt: s.MaxExpiresAt,
	}
	if s.UserID != 0 {
		uid := s.UserID
		v.UserID, v.Type = &uid, authcore.SessionTypeUser
	}
	return v
}

// renderAll renders every item; the result is never nil, so that an empty
// list is [] in JSON, not null.
func renderAll[T, V any](items []T, render func(T) V) []V {
	out := make([]V, len(items))
	for i, it := range items {
		out[i] = render(it)
	}
	return out
}
