//go:build unix

package testpg

import (
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
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("testpg: opening %s: %v", lockPath, err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		t.Fatalf("testpg: locking %s: %v", lockPath, err)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}
