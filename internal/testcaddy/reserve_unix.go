//go:build unix

package testcaddy

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// reserveDir holds one lock file per port handed out by a test process on
// this machine.
var reserveDir = filepath.Join(os.TempDir(), "cubeauth-testcaddy-ports")

// reservePort takes a lock on port for the rest of this process's life and
// reports whether it got it; false means another test process holds it. The
// lock file stays open on purpose: the kernel releases it when the process
// exits, however it exits.
func reservePort(port int) bool {
	if err := os.MkdirAll(reserveDir, 0o777); err != nil {
		return true // no registry: fall back to the in-process check
	}
	f, err := os.OpenFile(filepath.Join(reserveDir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return false
	}
	reserved = append(reserved, f) // kept open, and reachable, until exit
	return true
}

// reserved keeps the lock files open; guarded by handedOut.
var reserved []*os.File
