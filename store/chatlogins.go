package store

import (
	"context"
	"time"
)

// ChatLogin records that an XMPP server accepted a session's token as its
// user's chat password, so that the end of that session can end the user's
// streams even after the node that saw the login restarts.
type ChatLogin struct {
	TokenHash TokenHash
	AppID     int64
	UserID    int64
	// ExpiresAt is the session's absolute expiry; drivers may drop the
	// record after it.
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
