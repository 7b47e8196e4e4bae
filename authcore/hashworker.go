package authcore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"time"
)

// hashWorkerStart bounds how long a new worker may take to say hello, and
// hashWorkerAnswer how long one derivation may take: an OWASP-cost hash
// takes tens of milliseconds, so a worker that has not answered by then is
// stuck, or starved of CPU by a machine saturated with other work (it runs
// in the idle class), and the login is answered 503 rather than held.
const (
	hashWorkerStart  = 10 * time.Second
	hashWorkerAnswer = 10 * time.Second
)

// hashWorkerRetry is how long the pool waits after a worker failed to start
// before it tries again; meanwhile hashes run in-process instead of paying
// for a failing start each.
const hashWorkerRetry = time.Minute

// hashWorkers is a pool of hash worker processes (see hashworker_serve.go).
// The Hasher's turns bound how many are busy at once; idle ones wait in
// idle, up to its capacity, and are started on demand.
type hashWorkers struct {
	exe  string // the executable a worker runs: this one
	idle chan *hashWorker
	// report, when set, hears why a worker could not start.
	report func(error)
	// answer bounds one derivation: hashWorkerAnswer.
	answer time.Duration

	mu     sync.Mutex
	closed bool
	// noStartUntil is set when a worker failed to start.
	noStartUntil time.Time
}

// hashWorker is one running worker process and the pipes to it.
type hashWorker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *os.File
	buf []byte
}

func newHashWorkers(size int, report func(error)) (*hashWorkers, error) {
	exe := "/proc/self/exe" // the running binary, even if an upgrade replaced the file
	if runtime.GOOS != "linux" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("finding the executable for hash workers: %w", err)
		}
	}
	return &hashWorkers{exe: exe, idle: make(chan *hashWorker, size), report: report, answer: hashWorkerAnswer}, nil
}

// errWorkerUnavailable wraps the errors after which a hash can still run
// in-process: no worker could start, or the worker died.
var errWorkerUnavailable = errors.New("hash worker unavailable")

// derive runs one argon2id derivation in a worker. A worker that fails in
// any way is stopped. When no worker could start or the worker died, the
// error wraps errWorkerUnavailable; when it did not answer within
// p.answer, the error is a BusyError; when ctx ended, ctx's error.
func (p *hashWorkers) derive(ctx context.Context, password, salt []byte, params Argon2Params, keyLen uint32) ([]byte, error) {
	if keyLen == 0 || keyLen > maxWorkerKey || len(salt) > maxWorkerSalt || len(password) > maxWorkerPassword {
		return nil, fmt.Errorf("%w: request out of range", errWorkerUnavailable)
	}
	w, err := p.get()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errWorkerUnavailable, err)
	}
	key, err := w.derive(ctx, hashRequest{params: params, keyLen: keyLen, salt: salt, password: password}, p.answer)
	switch {
	case err == nil:
		p.put(w)
		return key, nil
	case ctx.Err() != nil:
		err = ctx.Err()
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = errTooManyLogins()
	default:
		err = fmt.Errorf("%w: %w", errWorkerUnavailable, err)
	}
	w.stop()
	return nil, err
}

func (p *hashWorkers) get() (*hashWorker, error) {
	select {
	case w := <-p.idle:
		return w, nil
	default:
	}
	p.mu.Lock()
	closed, wait := p.closed, time.Until(p.noStartUntil)
	p.mu.Unlock()
	switch {
	case closed:
		return nil, errors.New("hash workers stopped")
	case wait > 0:
		return nil, errors.New("starting hash worker: a recent start failed")
	}
	w, err := startHashWorker(p.exe)
	if err != nil {
		p.mu.Lock()
		p.noStartUntil = time.Now().Add(hashWorkerRetry)
		p.mu.Unlock()
		if p.report != nil {
			p.report(err)
		}
	}
	return w, err
}

func (p *hashWorkers) put(w *hashWorker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		w.stop()
		return
	}
	select {
	case p.idle <- w:
	default:
		w.stop()
	}
}

// close stops the idle workers, and the busy ones as they come back.
func (p *hashWorkers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for {
		select {
		case w := <-p.idle:
			w.stop()
		default:
			return
		}
	}
}

// startHashWorker starts exe, a copy of this executable, as a hash worker
// and waits for its hello.
func startHashWorker(exe string) (*hashWorker, error) {
	cmd := exec.Command(exe)
	cmd.Args[0] = "cubeauth-hash-worker" // what ps shows
	// One hash at a time needs one scheduler thread.
	cmd.Env = append(os.Environ(), hashWorkerEnv+"="+hashWorkerValue, "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("starting hash worker: %w", err)
	}
	cmd.Stdout = outW
	in, err := cmd.StdinPipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("starting hash worker: %w", err)
	}
	err = cmd.Start()
	outW.Close()
	if err != nil {
		outR.Close()
		return nil, fmt.Errorf("starting hash worker: %w", err)
	}
	w := &hashWorker{cmd: cmd, in: in, out: outR}
	var hello [len(hashWorkerHello)]byte
	if err := w.read(hello[:], hashWorkerStart); err != nil || hello != hashWorkerHello {
		w.stop()
		if err == nil {
			err = errors.New("it is not a cubeauth hash worker of this version")
		}
		return nil, fmt.Errorf("starting hash worker: %w", err)
	}
	return w, nil
}

func (w *hashWorker) derive(ctx context.Context, req hashRequest, timeout time.Duration) ([]byte, error) {
	w.buf = appendHashRequest(w.buf[:0], req)
	_, err := w.in.Write(w.buf)
	clear(w.buf) // it held the password
	if err != nil {
		return nil, fmt.Errorf("sending to hash worker: %w", err)
	}
	// A caller that goes away ends the wait at once.
	unwatch := context.AfterFunc(ctx, func() { _ = w.out.SetReadDeadline(time.Now()) })
	key := make([]byte, req.keyLen)
	err = w.read(key, timeout)
	if !unwatch() {
		// The deadline was moved, perhaps after this read: the caller
		// stops this worker rather than hand it on.
		return nil, context.Cause(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("reading from hash worker: %w", err)
	}
	return key, nil
}

// read fills b from the worker within timeout.
func (w *hashWorker) read(b []byte, timeout time.Duration) error {
	if err := w.out.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		// A pipe without deadlines (not on Linux or macOS): read without one.
		if !errors.Is(err, os.ErrNoDeadline) {
			return err
		}
	}
	_, err := io.ReadFull(w.out, b)
	return noEOF(err)
}

// stop ends the worker: closing its input is a clean end; the kill covers a
// worker that is stuck.
func (w *hashWorker) stop() {
	_ = w.in.Close()
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
	_ = w.out.Close()
}
