package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubeauth/cubeauth/store"
)

// errClosed is returned by every operation after Close.
var errClosed = fmt.Errorf("%w: store is closed", store.ErrUnavailable)

// Constraint names from the migrations that map to store sentinels.
const (
	constraintLogin = "cubeauth_users_login"
	constraintEmail = "cubeauth_users_email"
)

// wrap adds the operation to err and maps what PostgreSQL and pgx report:
// a missing row is store.ErrNotFound, a taken login or email the matching
// sentinel, and every failure that means the database cannot serve right
// now matches store.ErrUnavailable. pgx's errors name the user and database
// but never the password; the connection string itself never appears.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	case errors.Is(err, store.ErrUnavailable), isStoreSentinel(err):
		return fmt.Errorf("%s: %w", op, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		switch pgErr.ConstraintName {
		case constraintLogin:
			return fmt.Errorf("%s: %w", op, store.ErrLoginTaken)
		case constraintEmail:
			return fmt.Errorf("%s: %w", op, store.ErrEmailTaken)
		}
	}
	if isUnavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isStoreSentinel(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrLoginTaken) ||
		errors.Is(err, store.ErrEmailTaken) || errors.Is(err, store.ErrNonceUsed)
}

// isUnavailable reports whether err means the database cannot serve now,
// so that callers fail closed and try again later. An error the server
// reports is classified by its SQLSTATE; every other error (dial failures,
// lost connections, timeouts, TLS) comes from the path to the server and
// counts as unavailable, except a caller that gave up (context.Canceled).
func isUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return unavailableState(pgErr.Code)
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	return true
}

// unavailableState reports whether a SQLSTATE means "try again later":
// connection exceptions (08), insufficient resources such as too many
// connections (53), operator intervention such as a shutdown or a statement
// timeout (57), system I/O errors (58), serialization failures and
// deadlocks (40), and a read-only server after a failover (25006).
func unavailableState(code string) bool {
	if len(code) != 5 {
		return false
	}
	switch code[:2] {
	case "08", "53", "57", "58", "40":
		return true
	}
	return code == "25006"
}

// isForeignKeyViolation reports whether err says that a referenced app or
// user does not exist (any more).
func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}
