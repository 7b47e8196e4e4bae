package store

import (
	"context"
	"time"
)

// ChatLogin records that an XMPP server accepted a session's token, or the
// user's password, as a chat password, so that the end of that session (or
// a new password) can end the user's streams even after the node that saw
// the login restarts.
type ChatLogin struct {
	// TokenHash is the session's token hash, or for a password login a key
	// of the user's own (caddymodule chooses it).
	TokenHash TokenHash
	AppID     int64
	UserID    int64
	// PasswordDigest is, for a password login, a digest of the password
	// hash it logged in against; zero for a token login.
	PasswordDigest [32]byte
	// ExpiresAt is when the record may go (a token login: the session's
	// absolute expiry); drivers may drop it after.
	ExpiresAt time.Time
}

// ChatLogins keep the chat logins of sessions (chatstreams.go in
// caddymodule uses them).
type ChatLogins interface {
	// PutChatLogin stores l, replacing a record of the same token hash.
	PutChatLogin(ctx context.Context, l ChatLogin) error
	// ListChatLogins returns the unexpired records, in no fixed order.
	ListChatLogins(ctx context.Context) ([]ChatLogin, error)
	// DeleteChatLogin removes the record of h. Removing a missing record
	// is not an error.
	DeleteChatLogin(ctx context.Context, h TokenHash) error
}
