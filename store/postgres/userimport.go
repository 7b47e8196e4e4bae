package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cubeauth/cubeauth/store"
)

// ImportUsers creates a batch of users in one transaction, as CreateUser
// does one: the unique indexes refuse a login or email that is taken,
// stored or earlier in the batch, and then nothing of the batch stays.
// The inserts go as one pipelined pgx.Batch, one round trip.
func (s *Store) ImportUsers(ctx context.Context, appID int64, users []store.User) error {
	const op = "importing users"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	ids := make([]int64, len(users))
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for i := range users {
			u := &users[i]
			b.Queue(`INSERT INTO cubeauth_users (app_id, login, email, full_name, phone, website,
				custom_data, tags, external_id, facebook_id, twitter_id, avatar, timezone, password_hash, is_guest,
				created_at, updated_at, last_request_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
			RETURNING id`,
				appID, u.Login, u.Email, u.FullName, u.Phone, u.Website, u.CustomData, u.Tags, u.ExternalID,
				u.FacebookID, u.TwitterID, u.Avatar, u.Timezone, u.PasswordHash, u.IsGuest,
				u.CreatedAt, u.UpdatedAt, toNull(u.LastRequestAt), toNull(u.ExpiresAt))
		}
		res := tx.SendBatch(ctx, b)
		for i := range users {
			if err := res.QueryRow().Scan(&ids[i]); err != nil {
				res.Close()
				if isForeignKeyViolation(err) {
					err = fmt.Errorf("app %d: %w", appID, store.ErrNotFound)
				}
				return &store.ImportError{Index: i, Err: wrap("", err)}
			}
		}
		return res.Close()
	})
	var ie *store.ImportError
	if errors.As(err, &ie) {
		return fmt.Errorf("%s: %w", op, ie)
	}
	if err != nil {
		return s.fail(op, err)
	}
	for i := range users {
		users[i].ID, users[i].AppID = ids[i], appID
	}
	return nil
}

// ScanUsers returns up to limit users of the app with IDs above afterID, in
// ID order (the primary key serves it).
func (s *Store) ScanUsers(ctx context.Context, appID, afterID int64, limit int) ([]store.User, error) {
	const op = "scanning users"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM cubeauth_users
		WHERE app_id = $1 AND id > $2 AND (expires_at IS NULL OR expires_at > now())
		ORDER BY id LIMIT $3`, appID, afterID, limit)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var users []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, s.fail(op, err)
		}
		users = append(users, u)
	}
	return users, s.fail(op, rows.Err())
}
