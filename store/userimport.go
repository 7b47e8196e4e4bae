package store

import (
	"context"
	"fmt"
)

// MaxImportBatch is the most users one ImportUsers call takes: a batch is
// one transaction, and Badger's transactions have a size limit.
const MaxImportBatch = 1000

// ImportError says which user of a batch stopped ImportUsers.
type ImportError struct {
	// Index is the user's position in the batch.
	Index int
	Err   error
}

func (e *ImportError) Error() string { return fmt.Sprintf("user %d of the batch: %v", e.Index, e.Err) }

// Unwrap returns the cause (ErrLoginTaken, ErrEmailTaken, ...).
func (e *ImportError) Unwrap() error { return e.Err }

// UserImports create users in bulk.
type UserImports interface {
	// ImportUsers creates users (at most MaxImportBatch) in appID, all or
	// none: assigning their IDs, keeping their CreatedAt, UpdatedAt and
	// PasswordHash. When one collides (ErrLoginTaken, ErrEmailTaken) or the
	// app is gone (ErrNotFound), none is stored and the error is an
	// *ImportError naming the first such user.
	ImportUsers(ctx context.Context, appID int64, users []User) error
	// ScanUsers returns up to limit unexpired users of the app whose ID is
	// above afterID, in ID order: a page of an export, found without
	// reading the users before it.
	ScanUsers(ctx context.Context, appID, afterID int64, limit int) ([]User, error)
}
