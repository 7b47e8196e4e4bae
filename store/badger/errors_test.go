package badger

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
)

func TestWrapMarksUnavailableErrors(t *testing.T) {
	for _, tc := range []struct {
		err         error
		unavailable bool
	}{
		{badger.ErrDBClosed, true},
		{fmt.Errorf("DB::Get key: %q err: %s", "s/x", badger.ErrDBClosed), true},
		{badger.ErrBlockedWrites, true},
		{badger.ErrConflict, true},
		{fmt.Errorf("writing: %w", syscall.ENOSPC), true},
		{errors.New("sync err: write vlog: no space left on device"), true},
		{errors.New("open 000001.vlog: read-only file system"), true},
		{errors.New("read: input/output error"), true},
		{store.ErrNotFound, false},
		{store.ErrLoginTaken, false},
		{errors.New("decoding user: unexpected end of JSON input"), false},
	} {
		err := wrap("doing", tc.err)
		if got := errors.Is(err, store.ErrUnavailable); got != tc.unavailable {
			t.Errorf("wrap(%q) unavailable = %v, want %v", tc.err, got, tc.unavailable)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("wrap(%q) lost the original error", tc.err)
		}
	}
	if err := wrap("doing", nil); err != nil {
		t.Errorf("wrap(nil) = %v", err)
	}
}

func TestWrapHidesKeys(t *testing.T) {
	err := wrap("getting session", fmt.Errorf("DB::Get key: %q err: %s", "s/secret-hash", "boom"))
	if got, want := err.Error(), "getting session: DB::Get key: (redacted) err: boom"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
}
