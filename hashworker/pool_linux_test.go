package hashworker

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cubeauth/cubeauth/authcore"
)

func TestWorkerProcessesAreSeparateAndRunInTheIdleClass(t *testing.T) {
	_, pool := workerHasher(t, 1)
	w := idleWorker(t, pool)
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

func TestAStarvedWorkerMakesTheHashBusyInsteadOfRunningInProcess(t *testing.T) {
	h, pool := workerHasher(t, 1)
	pool.answer = 200 * time.Millisecond
	stalled := idleWorker(t, pool)
	// A stopped process answers nothing, like a worker starved of CPU.
	if err := stalled.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	_, err := h.Hash(context.Background(), "pw")
	var busy *authcore.BusyError
	if !errors.As(err, &busy) {
		t.Fatalf("hash with a stalled worker: %v, want a BusyError", err)
	}
	// The stalled worker was stopped; the next hash gets a new one.
	if _, err := h.Hash(context.Background(), "pw"); err != nil {
		t.Fatalf("hash after the stalled worker: %v", err)
	}
	if w := idleWorker(t, pool); w == stalled {
		t.Error("the stalled worker was handed on")
	}
}

func TestACallerThatGoesAwayStopsWaitingForItsWorker(t *testing.T) {
	h, pool := workerHasher(t, 1)
	stalled := idleWorker(t, pool)
	if err := stalled.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h.Hash(ctx, "pw")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("hash for a caller gone after 100ms: %v after %v", err, time.Since(start))
	}
}
