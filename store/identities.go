package store

import (
	"context"
	"errors"
)

// ErrIdentityTaken means another user of the app is already bound to this
// provider identity.
var ErrIdentityTaken = errors.New("identity is already bound to a user")

// Identities bind users to identities at outside providers (a Firebase
// uid, a custom identity provider's user id). A binding is unique per app,
// provider and subject, and goes with its user: DeleteUser and DeleteApp
// remove it too. The binding is kept apart from the user's fields (such as
// ExternalID), which the user may edit.
type Identities interface {
	// GetUserByIdentity returns the user bound to subject at provider, or
	// ErrNotFound.
	GetUserByIdentity(ctx context.Context, appID int64, provider, subject string) (User, error)
	// CreateUserWithIdentity stores a new user bound to subject at
	// provider, assigning u.ID. The user and the binding are created
	// atomically: ErrIdentityTaken when another user already holds the
	// binding (concurrent first logins on any number of nodes make one
	// user), ErrLoginTaken or ErrEmailTaken as CreateUser.
	CreateUserWithIdentity(ctx context.Context, u *User, provider, subject string) error
}
