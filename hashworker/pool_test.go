package hashworker

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/cubeauth/cubeauth/authcore"
)

// testParams keep hashing fast in tests; the protocol is the same.
var testParams = authcore.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}

// workerHasher returns a Hasher whose hashes run in worker processes (copies
// of this test binary) of the returned pool, stopped when the test ends.
func workerHasher(t *testing.T, concurrency int) (*authcore.Hasher, *Pool) {
	t.Helper()
	h := authcore.NewHasher(testParams, concurrency, time.Second)
	pool, err := New(concurrency, func(err error) { t.Errorf("starting a worker: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	h.UseDeriver(pool)
	t.Cleanup(h.Close)
	// Workers start on demand: one hash leaves one idle.
	if _, err := h.Hash(context.Background(), "warm up"); err != nil {
		t.Fatal(err)
	}
	return h, pool
}

// idleWorker takes the one idle worker out of the pool and puts it back.
func idleWorker(t *testing.T, p *Pool) *worker {
	t.Helper()
	select {
	case w := <-p.idle:
		p.put(w)
		return w
	default:
		t.Fatal("no idle worker")
		return nil
	}
}

func TestWorkerProcessesDeriveTheSameKeysAsArgon2id(t *testing.T) {
	_, pool := workerHasher(t, 1)
	for _, c := range []struct {
		params   authcore.Argon2Params
		password string
		keyLen   uint32
	}{
		{testParams, "correct horse", 32},
		{authcore.Argon2Params{MemoryKiB: 256, Time: 3, Threads: 2}, "", 16},
		{authcore.Argon2Params{MemoryKiB: 1024, Time: 2, Threads: 4}, strings.Repeat("ü", 500), 64},
	} {
		salt := []byte("sixteen byte salt")
		want := argon2.IDKey([]byte(c.password), salt, c.params.Time, c.params.MemoryKiB, c.params.Threads, c.keyLen)
		got, err := pool.DeriveKey(context.Background(), []byte(c.password), salt, c.params, c.keyLen)
		if err != nil {
			t.Fatalf("derive %+v: %v", c.params, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("derive %+v = %x, want %x", c.params, got, want)
		}
	}
}

func TestWorkerProcessesHashAndVerifyLikeTheProcessItself(t *testing.T) {
	inProcess := authcore.NewHasher(testParams, 1, time.Second)
	workers, _ := workerHasher(t, 1)
	ctx := context.Background()
	byWorker, err := workers.Hash(ctx, "s3cret pass")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := inProcess.Verify(ctx, byWorker, "s3cret pass"); !ok || err != nil {
		t.Errorf("a worker's hash does not verify in-process: ok=%v err=%v", ok, err)
	}
	byProcess, err := inProcess.Hash(ctx, "s3cret pass")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := workers.Verify(ctx, byProcess, "s3cret pass"); !ok || err != nil {
		t.Errorf("an in-process hash does not verify in a worker: ok=%v err=%v", ok, err)
	}
	if ok, _, _ := workers.Verify(ctx, byProcess, "wrong pass"); ok {
		t.Error("a worker accepted a wrong password")
	}
}

func TestAKilledWorkerIsReplacedAndItsHashStillAnswered(t *testing.T) {
	h, pool := workerHasher(t, 1)
	ctx := context.Background()
	encoded, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	first := idleWorker(t, pool)
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// The dead worker fails this comparison, which then runs in-process.
	if ok, _, err := h.Verify(ctx, encoded, "pw"); !ok || err != nil {
		t.Fatalf("verify after the worker died: ok=%v err=%v", ok, err)
	}
	// The next one starts a new worker.
	if ok, _, err := h.Verify(ctx, encoded, "pw"); !ok || err != nil {
		t.Fatalf("verify with a new worker: ok=%v err=%v", ok, err)
	}
	second := idleWorker(t, pool)
	if second == first || second.cmd.Process.Pid == first.cmd.Process.Pid {
		t.Error("the dead worker was not replaced")
	}
}

func TestClosingTheHasherStopsItsWorkers(t *testing.T) {
	h, pool := workerHasher(t, 1)
	w := idleWorker(t, pool)
	h.Close()
	if w.cmd.ProcessState == nil {
		t.Fatal("the worker was not waited for")
	}
	// The Hasher goes on in-process.
	if _, err := h.Hash(context.Background(), "pw"); err != nil {
		t.Errorf("hash after Close: %v", err)
	}
}

func TestHashWorkersRefuseMalformedRequests(t *testing.T) {
	valid := request{params: testParams, keyLen: 32, salt: []byte("salt"), password: []byte("pw")}
	if _, err := readRequest(bytes.NewReader(appendRequest(nil, valid))); err != nil {
		t.Fatalf("a valid request was refused: %v", err)
	}
	for name, mutate := range map[string]func(b []byte) []byte{
		"gigabytes of memory": func(b []byte) []byte { b[0] = 0xff; return b },
		"no time":             func(b []byte) []byte { b[4], b[5], b[6], b[7] = 0, 0, 0, 0; return b },
		"no threads":          func(b []byte) []byte { b[8] = 0; return b },
		"no key":              func(b []byte) []byte { b[9] = 0; return b },
		"huge password":       func(b []byte) []byte { b[11] = 0xff; return b },
		"cut short":           func(b []byte) []byte { return b[:len(b)-1] },
	} {
		b := mutate(appendRequest(nil, valid))
		if _, err := readRequest(bytes.NewReader(b)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAWorkerThatCannotStartIsNotRetriedForEveryHash(t *testing.T) {
	var reported []error
	p := &Pool{exe: "/nonexistent/cubeauth", idle: make(chan *worker, 1), report: func(err error) { reported = append(reported, err) }}
	ctx := context.Background()
	_, first := p.DeriveKey(ctx, []byte("pw"), []byte("salt"), testParams, 32)
	if first == nil || !strings.Contains(first.Error(), "no such file") {
		t.Fatalf("first derive: %v, want the start failure", first)
	}
	_, second := p.DeriveKey(ctx, []byte("pw"), []byte("salt"), testParams, 32)
	if second == nil || !strings.Contains(second.Error(), "a recent start failed") {
		t.Fatalf("second derive: %v, want a refusal without another start", second)
	}
	if len(reported) != 1 {
		t.Fatalf("%d start failures reported, want 1: %v", len(reported), reported)
	}
	// The Hasher answers in-process meanwhile.
	if !errors.Is(first, authcore.ErrDeriverUnavailable) || !errors.Is(second, authcore.ErrDeriverUnavailable) {
		t.Fatalf("derive errors %v, %v do not say the deriver is unavailable", first, second)
	}
	h := authcore.NewHasher(testParams, 1, time.Second)
	h.UseDeriver(p)
	if _, err := h.Hash(context.Background(), "pw"); err != nil {
		t.Fatalf("hash with a failing pool: %v", err)
	}
}
