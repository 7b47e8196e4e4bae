package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cubeauth/cubeauth/store"
)

const userColumns = `id, app_id, login, email, full_name, phone, website, custom_data, tags, external_id,
	facebook_id, twitter_id, avatar, timezone, password_hash, is_guest, created_at, updated_at,
	last_request_at, expires_at`

// userLive is the condition of a user that has not expired, judged by the
// database's clock so that every node agrees.
const userLive = `(expires_at IS NULL OR expires_at > now())`

// scanUser reads one row of userColumns.
func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	var lastRequest, expires *time.Time
	err := row.Scan(&u.ID, &u.AppID, &u.Login, &u.Email, &u.FullName, &u.Phone, &u.Website, &u.CustomData,
		&u.Tags, &u.ExternalID, &u.FacebookID, &u.TwitterID, &u.Avatar, &u.Timezone, &u.PasswordHash,
		&u.IsGuest, &u.CreatedAt, &u.UpdatedAt, &lastRequest, &expires)
	if err != nil {
		return store.User{}, err
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	u.LastRequestAt, u.ExpiresAt = fromNull(lastRequest), fromNull(expires)
	return u, nil
}

// CreateUser stores a new user, assigning u.ID. The unique indexes on
// (app_id, lower(login)) and (app_id, lower(email)) decide between
// concurrent creators on any number of nodes: the loser gets
// store.ErrLoginTaken or store.ErrEmailTaken. An expired guest holding the
// login or email is deleted first, in the same transaction.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	const op = "creating user"
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
		return tx.QueryRow(ctx, `INSERT INTO cubeauth_users (app_id, login, email, full_name, phone, website,
				custom_data, tags, external_id, facebook_id, twitter_id, avatar, timezone, password_hash, is_guest,
				created_at, updated_at, last_request_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
			RETURNING id`,
			u.AppID, u.Login, u.Email, u.FullName, u.Phone, u.Website, u.CustomData, u.Tags, u.ExternalID,
			u.FacebookID, u.TwitterID, u.Avatar, u.Timezone, u.PasswordHash, u.IsGuest,
			u.CreatedAt, u.UpdatedAt, toNull(u.LastRequestAt), toNull(u.ExpiresAt)).Scan(&id)
	})
	if isForeignKeyViolation(err) {
		return wrap(op, fmt.Errorf("app %d: %w", u.AppID, store.ErrNotFound))
	}
	if err != nil {
		return s.fail(op, err)
	}
	u.ID = id
	return nil
}

// freeExpiredHolders deletes the expired users (guests) of u's app that
// still hold u's login or email, so that the unique indexes treat them as
// free. Their sessions go with them.
func freeExpiredHolders(ctx context.Context, tx pgx.Tx, u *store.User) error {
	if u.Login == "" && u.Email == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `DELETE FROM cubeauth_users
		WHERE app_id = $1 AND id <> $2 AND expires_at <= now()
		AND ((login <> '' AND lower(login) = lower($3)) OR (email <> '' AND lower(email) = lower($4)))`,
		u.AppID, u.ID, u.Login, u.Email)
	return err
}

// GetUser returns a user by ID, or store.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, appID, userID int64) (store.User, error) {
	const op = "getting user"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return store.User{}, wrap(op, err)
	}
	defer cancel()
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM cubeauth_users
		WHERE app_id = $1 AND id = $2 AND `+userLive, appID, userID))
	return u, s.fail(op, err)
}

// GetUserByLogin returns a user by login (case-insensitive), or
// store.ErrNotFound.
func (s *Store) GetUserByLogin(ctx context.Context, appID int64, login string) (store.User, error) {
	return s.getUserBy(ctx, "getting user by login", "login", appID, login)
}

// GetUserByEmail returns a user by email (case-insensitive), or
// store.ErrNotFound.
func (s *Store) GetUserByEmail(ctx context.Context, appID int64, email string) (store.User, error) {
	return s.getUserBy(ctx, "getting user by email", "email", appID, email)
}

// getUserBy looks a user up through the unique index on column, which is
// "login" or "email" (never input).
func (s *Store) getUserBy(ctx context.Context, op, column string, appID int64, value string) (store.User, error) {
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return store.User{}, wrap(op, err)
	}
	defer cancel()
	if value == "" {
		return store.User{}, wrap(op, store.ErrNotFound)
	}
	// The conditions repeat the partial index's expression and predicate so
	// that the planner uses it.
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM cubeauth_users
		WHERE app_id = $1 AND `+column+` <> '' AND lower(`+column+`) = lower($2) AND `+userLive, appID, value))
	return u, s.fail(op, err)
}

// UpdateUser replaces an existing, unexpired user, keeping login and email
// unique (store.ErrLoginTaken, store.ErrEmailTaken), and tells subscribers
// on every node. It returns store.ErrNotFound when the user is gone.
func (s *Store) UpdateUser(ctx context.Context, u store.User) error {
	const op = "updating user"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	ev := store.Event{Kind: store.EventUserChanged, AppID: u.AppID, UserID: u.ID}
	err = s.announced(ctx, &ev, func(tx pgx.Tx) error {
		if err := freeExpiredHolders(ctx, tx, &u); err != nil {
			return err
		}
		return execOne(ctx, tx, `UPDATE cubeauth_users SET login = $3, email = $4, full_name = $5, phone = $6,
				website = $7, custom_data = $8, tags = $9, external_id = $10, facebook_id = $11, twitter_id = $12,
				avatar = $13, timezone = $14, password_hash = $15, is_guest = $16, created_at = $17,
				updated_at = $18, last_request_at = $19, expires_at = $20
			WHERE app_id = $1 AND id = $2 AND `+userLive,
			u.AppID, u.ID, u.Login, u.Email, u.FullName, u.Phone, u.Website, u.CustomData, u.Tags, u.ExternalID,
			u.FacebookID, u.TwitterID, u.Avatar, u.Timezone, u.PasswordHash, u.IsGuest, u.CreatedAt, u.UpdatedAt,
			toNull(u.LastRequestAt), toNull(u.ExpiresAt))
	})
	return s.fail(op, err)
}

// DeleteUser removes a user (expired or not) with all its sessions, and
// tells subscribers on every node. It returns store.ErrNotFound when there
// was no such user.
func (s *Store) DeleteUser(ctx context.Context, appID, userID int64) error {
	const op = "deleting user"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	ev := store.Event{Kind: store.EventUserDeleted, AppID: appID, UserID: userID}
	err = s.announced(ctx, &ev, func(tx pgx.Tx) error {
		return execOne(ctx, tx, `DELETE FROM cubeauth_users WHERE app_id = $1 AND id = $2`, appID, userID)
	})
	return s.fail(op, err)
}

// listPage counts the rows of table that match filter (with args) and
// returns the page of them at offset, at most limit long (zero or less: no
// limit), ordered by ID. table, columns and filter are the driver's own SQL,
// never input.
func listPage[T any](ctx context.Context, pool *pgxpool.Pool, table, columns, filter string, args []any,
	offset, limit int, scan func(pgx.Row) (T, error),
) ([]T, int, error) {
	var total int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE `+filter, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := pool.Query(ctx, `SELECT `+columns+` FROM `+table+` WHERE `+filter+
		fmt.Sprintf(` ORDER BY id LIMIT $%d OFFSET $%d`, len(args)+1, len(args)+2),
		append(args, limitArg(limit), max(offset, 0))...)
	if err != nil {
		return nil, 0, err
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
	if err != nil {
		return nil, 0, err
	}
	return items, total, nil
}

// limitArg turns "no limit" (zero or less) into NULL, which LIMIT reads as
// ALL.
func limitArg(limit int) any {
	if limit <= 0 {
		return nil
	}
	return limit
}
