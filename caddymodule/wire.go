package caddymodule

import (
	"fmt"
	"strconv"
	"time"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/store"
)

// This file renders cubeauth's records in ConnectyCube's JSON shapes
// (docs/wire-format.md §2 and §4): empty fields are null, times are
// ISO-8601 UTC, passwords never leave.

// sessionJSON is ConnectyCube's session object.
type sessionJSON struct {
	ID            int64     `json:"id"`
	UserID        *int64    `json:"user_id"`
	ApplicationID int64     `json:"application_id"`
	Token         string    `json:"token"`
	Nonce         any       `json:"nonce"`
	Ts            int64     `json:"ts"`
	CreatedAt     string    `json:"created_at"`
	UpdatedAt     string    `json:"updated_at"`
	User          *userJSON `json:"user,omitempty"`
}

func renderSession(res authcore.SessionResult, token string) sessionJSON {
	s := res.Session
	out := sessionJSON{
		ID:            s.ID,
		ApplicationID: s.AppID,
		Token:         token,
		Ts:            s.Timestamp,
		CreatedAt:     isoMillis(s.CreatedAt),
		UpdatedAt:     isoMillis(s.UpdatedAt),
	}
	if n, err := strconv.ParseInt(s.Nonce, 10, 64); err == nil {
		out.Nonce = n
	} else if s.Nonce != "" {
		out.Nonce = s.Nonce
	}
	if res.User != nil {
		id := res.User.ID
		out.UserID = &id
		u := renderUser(*res.User)
		out.User = &u
	}
	return out
}

// userJSON is ConnectyCube's user object.
type userJSON struct {
	ID int64 `json:"id"`
	// ObjectID is the 24-hex "_id" newer ConnectyCube answers carry: the
	// creation time's seconds and the ID, so it is stable and unique in
	// the app (an ObjectId's shape: 4 bytes of time, 8 more).
	ObjectID       string  `json:"_id"`
	Login          *string `json:"login"`
	Email          *string `json:"email"`
	FullName       *string `json:"full_name"`
	Phone          *string `json:"phone"`
	Website        *string `json:"website"`
	CreatedAt      string  `json:"created_at"`
	UpdatedAt      string  `json:"updated_at"`
	LastRequestAt  *string `json:"last_request_at"`
	ExternalUserID *int64  `json:"external_user_id"`
	ExternalID     *string `json:"external_id"`
	FacebookID     *string `json:"facebook_id"`
	TwitterID      *string `json:"twitter_id"`
	CustomData     *string `json:"custom_data"`
	BlobID         *int64  `json:"blob_id"`
	Avatar         *string `json:"avatar"`
	UserTags       *string `json:"user_tags"`
	Timezone       *int    `json:"timezone"`
	IsGuest        *bool   `json:"is_guest"`
}

func renderUser(u store.User) userJSON {
	out := userJSON{
		ID:         u.ID,
		ObjectID:   fmt.Sprintf("%08x%016x", uint32(u.CreatedAt.Unix()), uint64(u.ID)),
		Login:      nullable(u.Login),
		Email:      nullable(u.Email),
		FullName:   nullable(u.FullName),
		Phone:      nullable(u.Phone),
		Website:    nullable(u.Website),
		CreatedAt:  isoSeconds(u.CreatedAt),
		UpdatedAt:  isoSeconds(u.UpdatedAt),
		ExternalID: nullable(u.ExternalID),
		FacebookID: nullable(u.FacebookID),
		TwitterID:  nullable(u.TwitterID),
		CustomData: nullable(u.CustomData),
		Avatar:     nullable(u.Avatar),
		UserTags:   nullable(u.Tags),
		Timezone:   u.Timezone,
	}
	if !u.LastRequestAt.IsZero() {
		t := isoSeconds(u.LastRequestAt)
		out.LastRequestAt = &t
	}
	if n, err := strconv.ParseInt(u.ExternalID, 10, 64); err == nil {
		out.ExternalUserID = &n
	}
	if u.IsGuest {
		t := true
		out.IsGuest = &t
	}
	return out
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func isoSeconds(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func isoMillis(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// expirationHeader is ConnectyCube's CB-Token-ExpirationDate format.
func expirationHeader(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
