package store

import (
	"context"
	"time"
)

// PasswordReset is a pending password reset: the holder of the token whose
// SHA-256 is TokenHash may set the user's password once, until ExpiresAt.
// Stores never see the token itself.
type PasswordReset struct {
	TokenHash TokenHash `json:"token_hash"`
	AppID     int64     `json:"app_id"`
	UserID    int64     `json:"user_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PasswordResets keep pending password resets. A user's resets go with the
// user: DeleteUser and DeleteApp remove them too.
type PasswordResets interface {
	// CreatePasswordReset stores a new reset. It returns ErrNotFound when
	// r.UserID names no user of the app.
	CreatePasswordReset(ctx context.Context, r PasswordReset) error
	// GetPasswordReset returns the unexpired reset with this token hash, or
	// ErrNotFound.
	GetPasswordReset(ctx context.Context, h TokenHash) (PasswordReset, error)
	// TakePasswordReset deletes the unexpired reset with this token hash and
	// returns it, or returns ErrNotFound. Of concurrent takers of one reset,
	// exactly one gets it: a reset is used once.
	TakePasswordReset(ctx context.Context, h TokenHash) (PasswordReset, error)
	// DeletePasswordResets removes every pending reset of the user.
	// Removing none is not an error.
	DeletePasswordResets(ctx context.Context, appID, userID int64) error
}
