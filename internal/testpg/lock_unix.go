//go:build unix

package testpg

import (
	"fmt"
	"os"
	"syscall"
	"testing"
)

// lock takes the lock file of a cluster, shared or exclusive, until the test
// ends. Every test process on the cluster locks the same file: go test runs
// packages in parallel, and a restart of the server must not pull the
// database from under another package's tests.
func lock(t testing.TB, lockPath string, exclusive bool) {
	t.Helper()
	release, err := flock(lockPath, exclusive)
	if err != nil {
		t.Fatalf("testpg: %v", err)
	}
	t.Cleanup(release)
}

// flock waits for the lock on lockPath and returns what releases it.
func flock(lockPath string, exclusive bool) (release func(), err error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", lockPath, err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", lockPath, err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}
