// Package hashworker runs a Hasher's argon2id derivations in worker
// processes: copies of the running executable that only derive keys, in the
// kernel's idle CPU class, away from the proxied requests (see serve.go for
// why). A Pool is an authcore.KeyDeriver:
//
//	pool, err := hashworker.New(concurrency, report)
//	if err == nil {
//		hasher.UseDeriver(pool)
//	}
//
// A program that uses it must link this package (its init turns the
// process into a worker when CUBEAUTH_HASH_WORKER=1), which it does by
// importing it.
package hashworker

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

	"github.com/cubeauth/cubeauth/authcore"
)

// workerStart bounds how long a new worker may take to say hello, and
// workerAnswer how long one derivation may take: an OWASP-cost hash
// takes tens of milliseconds, so a worker that has not answered by then is
// stuck, or starved of CPU by a machine saturated with other work (it runs
// in the idle class), and the login is answered 503 rather than held.
const (
	workerStart  = 10 * time.Second
	workerAnswer = 10 * time.Second
)

// workerRetry is how long the pool waits after a worker failed to start
// before it tries again; meanwhile hashes run in-process instead of paying
// for a failing start each.
const workerRetry = time.Minute

// Pool is a pool of hash worker processes, an authcore.KeyDeriver. The
// Hasher's turns bound how many are busy at once; idle ones wait in idle, up
// to the pool's size, and are started on demand. When a worker cannot
// start, hashes run in-process for a minute before the next try; a hash
// whose worker dies runs in-process too. A worker that does not answer
// within 10 seconds (starved by a saturated machine) makes the hash fail
// with authcore.ErrDeriverStalled.
type Pool struct {
	exe  string // the executable a worker runs: this one
	idle chan *worker
	// report, when set, hears why a worker could not start.
	report func(error)
	// answer bounds one derivation: workerAnswer.
	answer time.Duration

	mu     sync.Mutex
	closed bool
	// noStartUntil is set when a worker failed to start.
	noStartUntil time.Time
}

// worker is one running worker process and the pipes to it.
type worker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *os.File
	buf []byte
}

// New returns a pool of at most size idle workers; none starts before the
// first derivation, so a config that is only validated starts no process.
// report, if not nil, hears why a worker could not start.
func New(size int, report func(error)) (*Pool, error) {
	exe := "/proc/self/exe" // the running binary, even if an upgrade replaced the file
	if runtime.GOOS != "linux" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("finding the executable for hash workers: %w", err)
		}
	}
	size = max(size, 1)
	return &Pool{exe: exe, idle: make(chan *worker, size), report: report, answer: workerAnswer}, nil
}

// VerifyForeign checks password against an imported user's foreign hash
// (authcore.VerifyForeignHash) in a worker, with DeriveKey's errors.
func (p *Pool) VerifyForeign(ctx context.Context, encoded string, password []byte) (bool, error) {
	req := foreignRequest(encoded, password)
	defer clear(req.password)
	if len(req.password) > maxWorkerPassword {
		return false, fmt.Errorf("%w: request out of range", authcore.ErrDeriverUnavailable)
	}
	answer, err := p.run(ctx, req)
	return err == nil && answer[0] == 1, err
}

// DeriveKey runs one argon2id derivation in a worker. A worker that fails
// in any way is stopped. When no worker could start or the worker died, the
// error wraps authcore.ErrDeriverUnavailable; when it did not answer within
// p.answer, authcore.ErrDeriverStalled; when ctx ended, ctx's error.
func (p *Pool) DeriveKey(ctx context.Context, password, salt []byte, params authcore.Argon2Params, keyLen uint32) ([]byte, error) {
	if keyLen == 0 || keyLen > maxWorkerKey || len(salt) > maxWorkerSalt || len(password) > maxWorkerPassword {
		return nil, fmt.Errorf("%w: request out of range", authcore.ErrDeriverUnavailable)
	}
	return p.run(ctx, request{params: params, keyLen: keyLen, salt: salt, password: password})
}

// run sends one request to a worker and returns its answer.
func (p *Pool) run(ctx context.Context, req request) ([]byte, error) {
	w, err := p.get()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", authcore.ErrDeriverUnavailable, err)
	}
	key, err := w.derive(ctx, req, p.answer)
	switch {
	case err == nil:
		p.put(w)
		return key, nil
	case ctx.Err() != nil:
		err = ctx.Err()
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = authcore.ErrDeriverStalled
	default:
		err = fmt.Errorf("%w: %w", authcore.ErrDeriverUnavailable, err)
	}
	w.stop()
	return nil, err
}

func (p *Pool) get() (*worker, error) {
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
	w, err := startWorker(p.exe)
	if err != nil {
		p.mu.Lock()
		p.noStartUntil = time.Now().Add(workerRetry)
		p.mu.Unlock()
		if p.report != nil {
			p.report(err)
		}
	}
	return w, err
}

func (p *Pool) put(w *worker) {
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

// Close stops the idle workers, and the busy ones as they come back.
func (p *Pool) Close() {
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

// startWorker starts exe, a copy of this executable, as a hash worker and
// waits for its hello.
func startWorker(exe string) (*worker, error) {
	cmd := exec.Command(exe)
	cmd.Args[0] = "cubeauth-hash-worker" // what ps shows
	// One hash at a time needs one scheduler thread.
	cmd.Env = append(os.Environ(), workerEnv+"="+workerValue, "GOMAXPROCS=1")
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
	w := &worker{cmd: cmd, in: in, out: outR}
	var hello [len(workerHello)]byte
	if err := w.read(hello[:], workerStart); err != nil || hello != workerHello {
		w.stop()
		if err == nil {
			err = errors.New("it is not a cubeauth hash worker of this version")
		}
		return nil, fmt.Errorf("starting hash worker: %w", err)
	}
	return w, nil
}

func (w *worker) derive(ctx context.Context, req request, timeout time.Duration) ([]byte, error) {
	w.buf = appendRequest(w.buf[:0], req)
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
func (w *worker) read(b []byte, timeout time.Duration) error {
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
func (w *worker) stop() {
	_ = w.in.Close()
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
	_ = w.out.Close()
}

var _ authcore.KeyDeriver = (*Pool)(nil)
