package authcore

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestWorkerProcessesAreSeparateAndRunInTheIdleClass(t *testing.T) {
	h := workerHasher(t, 1)
	w := idleWorker(t, h)
	if w.cmd.Process.Pid == os.Getpid() {
		t.Fatal("the worker is this process")
	}
	// Every thread of the worker, not just one, runs in the idle class (or,
	// where that is refused, at the lowest priority).
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(w.cmd.Process.Pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(w.cmd.Process.Pid) + "/task/" + task.Name() + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		// Field 19 is the nice value, 41 the scheduling policy; the command
		// name (field 2) may hold spaces, so count from its closing
		// parenthesis.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		nice, policy := fields[19-3], fields[41-3]
		if policy != strconv.Itoa(unix.SCHED_IDLE) && nice != strconv.Itoa(workerNice) {
			t.Errorf("worker thread %s runs with policy %s at nice %s, want SCHED_IDLE or nice %d",
				task.Name(), policy, nice, workerNice)
		}
	}
}
