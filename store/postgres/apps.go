package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubeauth/cubeauth/store"
)

const appColumns = `id, name, auth_key, previous_auth_key, previous_auth_key_expires_at, auth_secret,
	stage, session_without_user, require_signature, pinned, created_at, updated_at, policy`

// createAppAttempts bounds how often CreateApp tries the next ID after a
// concurrent creator took it: far more than operators creating apps at once.
const createAppAttempts = 64

// errAppIDTaken tells CreateApp that another creator inserted the ID first.
var errAppIDTaken = errors.New("app id taken by a concurrent creator")

// scanApp reads one row of appColumns.
func scanApp(row pgx.Row) (store.App, error) {
	var a store.App
	var prevExpires *time.Time
	var p policy
	err := row.Scan(&a.ID, &a.Name, &a.AuthKey, &a.PreviousAuthKey, &prevExpires, &a.AuthSecret,
		&a.Stage, &a.SessionWithoutUser, &a.RequireSignature, &a.Pinned, &a.CreatedAt, &a.UpdatedAt, &p)
	if err != nil {
		return store.App{}, err
	}
	a.ListUsers, a.GuestSessions, a.UserFields, a.MinPasswordLength = p.ListUsers, p.GuestSessions, p.UserFields, p.MinPasswordLength
	a.PreviousAuthKeyExpiresAt = fromNull(prevExpires)
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	if len(a.Pinned) == 0 {
		a.Pinned = nil
	}
	return a, nil
}

// GetApp returns the app with this ID, or store.ErrNotFound.
func (s *Store) GetApp(ctx context.Context, id int64) (store.App, error) {
	const op = "getting app"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return store.App{}, wrap(op, err)
	}
	defer cancel()
	a, err := scanApp(s.pool.QueryRow(ctx, `SELECT `+appColumns+` FROM cubeauth_apps WHERE id = $1`, id))
	return a, s.fail(op, err)
}

// ListApps returns every app, ordered by ID.
func (s *Store) ListApps(ctx context.Context) ([]store.App, error) {
	const op = "listing apps"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+appColumns+` FROM cubeauth_apps ORDER BY id`)
	if err != nil {
		return nil, s.fail(op, err)
	}
	apps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.App, error) { return scanApp(row) })
	if err != nil {
		return nil, s.fail(op, err)
	}
	return apps, nil
}

// PutApp creates or replaces an app and tells subscribers, on every node.
func (s *Store) PutApp(ctx context.Context, app store.App) error {
	const op = "putting app"
	if app.ID <= 0 {
		return fmt.Errorf("%s: app id %d is not positive", op, app.ID)
	}
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	ev := store.Event{Kind: store.EventAppChanged, AppID: app.ID}
	err = s.announced(ctx, &ev, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO cubeauth_apps (`+appColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (id) DO UPDATE SET
				name = EXCLUDED.name,
				auth_key = EXCLUDED.auth_key,
				previous_auth_key = EXCLUDED.previous_auth_key,
				previous_auth_key_expires_at = EXCLUDED.previous_auth_key_expires_at,
				auth_secret = EXCLUDED.auth_secret,
				stage = EXCLUDED.stage,
				session_without_user = EXCLUDED.session_without_user,
				require_signature = EXCLUDED.require_signature,
				pinned = EXCLUDED.pinned,
				created_at = EXCLUDED.created_at,
				updated_at = EXCLUDED.updated_at,
				policy = EXCLUDED.policy`,
			append([]any{app.ID}, appValues(app)...)...)
		return err
	})
	return s.fail(op, err)
}

// CreateApp stores a new app with one more than the highest app ID (1 when
// there are none), assigning a.ID, and tells subscribers on every node.
// Concurrent creators on any number of nodes may pick the same ID: the
// primary key lets one of them insert it, and the others try again with the
// next.
func (s *Store) CreateApp(ctx context.Context, a *store.App) error {
	const op = "creating app"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	ev := store.Event{Kind: store.EventAppChanged}
	for range createAppAttempts {
		err = s.announced(ctx, &ev, func(tx pgx.Tx) error {
			// The loser of a race for the ID waits for the winner's commit and
			// then inserts nothing, without aborting the transaction.
			err := tx.QueryRow(ctx, `INSERT INTO cubeauth_apps (`+appColumns+`)
				VALUES ((SELECT coalesce(max(id), 0) + 1 FROM cubeauth_apps),
					$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
				ON CONFLICT (id) DO NOTHING
				RETURNING id`, appValues(*a)...).Scan(&ev.AppID)
			if errors.Is(err, pgx.ErrNoRows) {
				return errAppIDTaken
			}
			return err
		})
		if !errors.Is(err, errAppIDTaken) {
			break
		}
	}
	if errors.Is(err, errAppIDTaken) {
		return wrap(op, fmt.Errorf("%w: %w", store.ErrUnavailable, err))
	}
	if err != nil {
		return s.fail(op, err)
	}
	a.ID = ev.AppID
	return nil
}

// appValues returns the values of appColumns after id, in their order.
func appValues(app store.App) []any {
	pinned := app.Pinned
	if pinned == nil {
		pinned = []string{}
	}
	return []any{app.Name, app.AuthKey, app.PreviousAuthKey, toNull(app.PreviousAuthKeyExpiresAt), app.AuthSecret,
		app.Stage, app.SessionWithoutUser, app.RequireSignature, pinned, app.CreatedAt, app.UpdatedAt,
		policy{app.ListUsers, app.GuestSessions, app.UserFields, app.MinPasswordLength}}
}

// policy is the policy column: the app's settings that no query filters
// on, kept together as JSON so that a new one needs no migration.
type policy struct {
	ListUsers         string            `json:"list_users,omitempty"`
	GuestSessions     string            `json:"guest_sessions,omitempty"`
	UserFields        map[string]string `json:"user_fields,omitempty"`
	MinPasswordLength int               `json:"min_password_length,omitempty"`
}

// DeleteApp removes an app with its users, sessions (by the foreign keys'
// cascades) and nonces, and tells subscribers on every node. It returns
// store.ErrNotFound when there was no such app.
func (s *Store) DeleteApp(ctx context.Context, id int64) error {
	const op = "deleting app"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	ev := store.Event{Kind: store.EventAppDeleted, AppID: id}
	err = s.announced(ctx, &ev, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM cubeauth_nonces WHERE app_id = $1`, id); err != nil {
			return err
		}
		return execOne(ctx, tx, `DELETE FROM cubeauth_apps WHERE id = $1`, id)
	})
	return s.fail(op, err)
}

// toNull stores a zero time as NULL.
func toNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// fromNull reads NULL as the zero time, and every time in UTC.
func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
