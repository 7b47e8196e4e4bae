package authcore

import (
	"os"
	"strconv"
	"syscall"
)

// workerNice is the scheduling priority of hash worker processes: the
// lowest, so that the kernel runs everything else on the machine first and
// gives hashing the CPU time left over.
const workerNice = 19

// lowerProcessPriority lowers every thread of this process to workerNice.
// On Linux a priority belongs to a thread: the threads that exist are set
// one by one, and threads started later inherit it from their creator.
func lowerProcessPriority() {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, 0, workerNice)
		return
	}
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			_ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, workerNice)
		}
	}
}
