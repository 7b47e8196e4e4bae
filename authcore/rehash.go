package authcore

import (
	"context"

	"github.com/cubeauth/cubeauth/store"
)

// rehash replaces u's hash, which password just matched, with a new
// argon2id hash (u's was foreign or weaker), best effort: the login
// succeeds either way. Hashing takes tens of milliseconds, so the user is
// read again afterwards and only its hash changes: a profile update made
// meanwhile is kept, and when the password itself changed meanwhile the
// new hash (of the old password) is dropped.
func (s *Service) rehash(ctx context.Context, u store.User, password string) store.User {
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return u
	}
	fresh, err := s.store.GetUser(ctx, u.AppID, u.ID)
	if err != nil || fresh.PasswordHash != u.PasswordHash {
		return u
	}
	fresh.PasswordHash = hash
	if s.store.UpdateUser(ctx, fresh) != nil {
		return u
	}
	return fresh
}
