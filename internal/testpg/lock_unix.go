//go:build unix

package testpg

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// lockPath is shared by every test process on the machine: go test runs
// packages in parallel, and a restart of the server must not pull the
// database from under another package's tests.
var lockPath = filepath.Join(os.TempDir(), "cubeauth-testpg.lock")

// lock takes the machine-wide lock, shared or exclusive, until the test
// ends.
func lock(t testing.TB, exclusive bool) {
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
