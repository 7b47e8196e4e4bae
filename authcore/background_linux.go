package authcore

import (
	"runtime"
	"syscall"
)

// backgroundNice is the scheduling priority of password hashing threads.
// A hash takes tens of milliseconds of CPU; at a lower priority the kernel
// runs the proxied requests first, so a login storm does not stall them.
const backgroundNice = 15

// inBackground runs fn (a password hash) to completion on an OS thread of
// its own at a low priority. The thread exits with the goroutine (it stays
// locked), so the lowered priority never leaks to other goroutines.
func inBackground(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		// On Linux, PRIO_PROCESS with a thread ID sets that thread alone.
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), backgroundNice)
		fn()
	}()
	<-done
}
