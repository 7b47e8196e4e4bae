package badger

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
)

// errClosed is returned by every operation after Close.
var errClosed = fmt.Errorf("%w: store is closed", store.ErrUnavailable)

// unavailableErrnos are the I/O failures that mean the disk cannot take
// writes (or reads) right now: callers must fail closed and retry later.
var unavailableErrnos = []syscall.Errno{syscall.ENOSPC, syscall.EROFS, syscall.EIO, syscall.EDQUOT}

// wrap adds the operation to err and, when err means the database cannot
// serve (closed, disk full or read-only, I/O error, endless conflicts),
// makes it match store.ErrUnavailable. Store sentinels pass through
// unchanged apart from the context.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrUnavailable), isStoreSentinel(err):
		return fmt.Errorf("%s: %w", op, err)
	case isUnavailable(err):
		return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, redacted(err))
	default:
		return fmt.Errorf("%s: %w", op, redacted(err))
	}
}

func isStoreSentinel(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrLoginTaken) ||
		errors.Is(err, store.ErrEmailTaken) || errors.Is(err, store.ErrNonceUsed)
}

// isUnavailable reports whether err means the database cannot serve now.
// Badger flattens many wrapped errors to text (y.Wrap outside debug mode), so
// errno values are also recognised by their message.
func isUnavailable(err error) bool {
	if errors.Is(err, badger.ErrDBClosed) || errors.Is(err, badger.ErrBlockedWrites) ||
		errors.Is(err, badger.ErrConflict) {
		return true
	}
	msg := err.Error()
	for _, errno := range unavailableErrnos {
		if errors.Is(err, errno) || strings.Contains(msg, errno.Error()) {
			return true
		}
	}
	return strings.Contains(msg, badger.ErrDBClosed.Error())
}

// redacted hides the key that Badger puts into some messages
// (`DB::Get key: "s/..." err: ...`): keys hold token hashes, logins and
// emails, which do not belong in error messages. errors.Is still sees the
// original error.
func redacted(err error) error {
	msg := err.Error()
	i := strings.Index(msg, "key: ")
	if i < 0 {
		return err
	}
	rest := msg[i:]
	j := strings.Index(rest, " err: ")
	if j < 0 {
		return &redactedError{msg: msg[:i] + "key: (redacted)", err: err}
	}
	return &redactedError{msg: msg[:i] + "key: (redacted)" + rest[j:], err: err}
}

// redactedError carries err with a message that omits its key.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Unwrap() error { return e.err }
