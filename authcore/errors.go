package authcore

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// Refusals. A refused credential is one of these; the HTTP layer turns each
// into ConnectyCube's status and body. Messages never carry secrets.
var (
	// ErrUnknownApp: the application ID or auth key does not match an app.
	ErrUnknownApp = errors.New("unknown application")
	// ErrBadCredentials: the login, email or password is wrong.
	ErrBadCredentials = errors.New("unauthorized")
	// ErrUserNotFound: no such user, and the app does not create users
	// during session creation.
	ErrUserNotFound = errors.New("user not found")
	// ErrNotFound: the requested resource does not exist.
	ErrNotFound = errors.New("not found")
	// ErrTokenRequired: the request carries no session token.
	ErrTokenRequired = errors.New("token is required")
	// ErrSessionNotFound: the token is unknown, revoked or expired.
	ErrSessionNotFound = errors.New("required session does not exist")
	// ErrNeedUser: an app session tried something only a user may do.
	ErrNeedUser = errors.New("forbidden, need user")
	// ErrForbidden: a user tried to act on another user's data.
	ErrForbidden = errors.New("forbidden")
	// ErrBadSignature: the legacy signature does not verify.
	ErrBadSignature = errors.New("unexpected signature")
	// ErrSignatureRequired: the app accepts only signed session creation.
	ErrSignatureRequired = errors.New("signature is required")
	// ErrStaleTimestamp: the signed timestamp is outside the allowed skew.
	ErrStaleTimestamp = errors.New("timestamp is out of the allowed range")
	// ErrReplayed: this nonce and timestamp were used before.
	ErrReplayed = errors.New("nonce has already been used")
	// ErrGuestsDenied: the app does not allow guest sessions.
	ErrGuestsDenied = errors.New("guest sessions are not allowed in this application")
	// ErrUnsupported: a login method this server does not offer.
	ErrUnsupported = errors.New("unsupported")
	// ErrUnavailable: the store cannot answer; callers must fail closed.
	ErrUnavailable = store.ErrUnavailable
)

// BusyError means the server is at capacity (password hashing) or the
// client is throttled; the request may be retried after RetryAfter.
type BusyError struct {
	Reason     string
	RetryAfter time.Duration
	// Throttled is true for rate limits (HTTP 429), false for capacity (503).
	Throttled bool
	// Limit names the rate limit that refused (see Limit* constants).
	Limit string
}

func (e *BusyError) Error() string { return e.Reason }

// ValidationError lists what is wrong with the input, per field, in
// ConnectyCube's words ("cannot be blank", "has already been taken").
type ValidationError struct {
	Fields map[string][]string
}

func (e *ValidationError) Error() string {
	var parts []string
	for _, f := range slices.Sorted(maps.Keys(e.Fields)) {
		parts = append(parts, f+" "+strings.Join(e.Fields[f], ", "))
	}
	return "invalid: " + strings.Join(parts, "; ")
}

// add records one problem with a field.
func (e *ValidationError) add(field, problem string) {
	if e.Fields == nil {
		e.Fields = map[string][]string{}
	}
	e.Fields[field] = append(e.Fields[field], problem)
}

// orNil returns e as an error when it holds problems, nil otherwise.
func (e *ValidationError) orNil() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

func invalid(field, problem string) error {
	e := &ValidationError{}
	e.add(field, problem)
	return e
}

// storeErr turns a store error into what callers of authcore see: missing
// data as notFound, everything else as ErrUnavailable (fail closed).
func storeErr(err, notFound error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return notFound
	case errors.Is(err, store.ErrUnavailable):
		return err
	default:
		return errors.Join(ErrUnavailable, err)
	}
}
