package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubeauth/cubeauth/store"
)

// constraintIdentity is the primary key that makes a binding unique.
const constraintIdentity = "cubeauth_user_identities_pkey"

// GetUserByIdentity returns the user bound to subject at provider, or
// store.ErrNotFound.
func (s *Store) GetUserByIdentity(ctx context.Context, appID int64, provider, subject string) (store.User, error) {
	const op = "getting user by identity"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return store.User{}, wrap(op, err)
	}
	defer cancel()
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM cubeauth_users
		WHERE app_id = $1 AND `+userLive+` AND id = (SELECT user_id FROM cubeauth_user_identities
			WHERE app_id = $1 AND provider = $2 AND subject = $3)`, appID, provider, subject))
	return u, s.fail(op, err)
}

// CreateUserWithIdentity stores a new user and its binding in one
// transaction. Of concurrent creators of one binding, on any number of
// nodes, the primary key lets one commit; the others roll back, user and
// all, with store.ErrIdentityTaken.
func (s *Store) CreateUserWithIdentity(ctx context.Context, u *store.User, provider, subject string) error {
	const op = "creating user with identity"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	var id int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := freeExpiredHolders(ctx, tx, u); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `WITH u AS (INSERT INTO cubeauth_users (app_id, login, email, full_name, phone,
				website, custom_data, tags, external_id, facebook_id, twitter_id, avatar, timezone, password_hash,
				is_guest, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING app_id, id)
			INSERT INTO cubeauth_user_identities (app_id, provider, subject, user_id)
			SELECT app_id, $18, $19, id FROM u RETURNING user_id`,
			u.AppID, u.Login, u.Email, u.FullName, u.Phone, u.Website, u.CustomData, u.Tags, u.ExternalID,
			u.FacebookID, u.TwitterID, u.Avatar, u.Timezone, u.PasswordHash, u.IsGuest,
			u.CreatedAt, u.UpdatedAt, provider, subject).Scan(&id)
	})
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == constraintIdentity:
		return wrap(op, store.ErrIdentityTaken)
	case isForeignKeyViolation(err):
		return wrap(op, fmt.Errorf("app %d: %w", u.AppID, store.ErrNotFound))
	case err != nil:
		return s.fail(op, err)
	}
	u.ID = id
	return nil
}
