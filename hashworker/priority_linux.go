package hashworker

import (
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// workerNice is the scheduling priority of hash worker processes where the
// idle scheduling class is refused: the lowest.
const workerNice = 19

// lowerProcessPriority moves every thread of this process to the kernel's
// idle scheduling class (SCHED_IDLE): such a thread runs only on CPU time no
// other thread wants, and a waking thread of any other class preempts it at
// once, so hashing never delays a proxied request. Where that class is
// refused, the thread gets the lowest nice value instead.
//
// On Linux both belong to a thread: the threads that exist are set one by
// one, and threads started later inherit the class from their creator.
func lowerProcessPriority() {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		lowerThreadPriority(0)
		return
	}
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			lowerThreadPriority(tid)
		}
	}
}

func lowerThreadPriority(tid int) {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE, Nice: workerNice}
	if unix.SchedSetAttr(tid, &attr, 0) != nil {
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, workerNice)
	}
}
