package authcore

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are argon2id cost parameters. The zero value is invalid; use
// DefaultArgon2Params.
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultArgon2Params are OWASP's first recommendation: m=19 MiB, t=2, p=1.
var DefaultArgon2Params = Argon2Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

// valid refuses parameters no honest hash uses, so that a corrupt record
// cannot make one comparison allocate gigabytes or run for minutes.
func (p Argon2Params) valid() bool {
	return p.MemoryKiB > 0 && p.MemoryKiB <= 1<<20 && p.Time > 0 && p.Time <= 16 && p.Threads > 0
}

const (
	saltLen = 16
	keyLen  = 32
)

var errBadHash = errors.New("malformed password hash")

// Hasher hashes and verifies passwords with argon2id. Each hash allocates
// MemoryKiB, so at most a fixed number run at once; a caller that cannot get
// a turn within the wait gets a BusyError instead of queueing forever.
// After UseWorkerProcesses the hashes run in child processes at the lowest
// CPU priority, away from the proxied requests.
type Hasher struct {
	params Argon2Params
	turns  chan struct{}
	wait   time.Duration
	// waiting counts callers queued for a turn. Past maxWaiters a caller is
	// refused at once: in a storm a long queue only holds connections and
	// timers for requests that will time out anyway.
	waiting    atomic.Int64
	maxWaiters int64

	// workers, when set, run the derivations in child processes.
	workers atomic.Pointer[hashWorkers]

	dummyOnce sync.Once
	dummy     string
}

// NewHasher returns a Hasher that runs at most concurrency hashes at once and
// lets a caller wait at most wait for a turn.
func NewHasher(params Argon2Params, concurrency int, wait time.Duration) *Hasher {
	if concurrency < 1 {
		concurrency = 1
	}
	return &Hasher{params: params, turns: make(chan struct{}, concurrency), wait: wait, maxWaiters: 16 * int64(concurrency)}
}

// UseWorkerProcesses moves the hashing into child processes: copies of this
// executable that only derive keys, in the kernel's idle CPU class, started
// on demand up to the Hasher's concurrency. When a worker cannot start,
// report (if not nil) hears why, and hashes run in-process for a minute
// before the next try; a hash whose worker dies runs in-process too. A
// worker that does not answer within 10 seconds (starved by a saturated
// machine) makes the hash fail with a BusyError.
func (h *Hasher) UseWorkerProcesses(report func(error)) error {
	workers, err := newHashWorkers(cap(h.turns), report)
	if err != nil {
		return err
	}
	if old := h.workers.Swap(workers); old != nil {
		old.close()
	}
	return nil
}

// Close stops the worker processes, if any; the Hasher goes on in-process.
func (h *Hasher) Close() {
	if w := h.workers.Swap(nil); w != nil {
		w.close()
	}
}

// deriveKey is argon2id, in a worker process when there are any.
func (h *Hasher) deriveKey(ctx context.Context, password, salt []byte, p Argon2Params, keyLen uint32) ([]byte, error) {
	if workers := h.workers.Load(); workers != nil {
		key, err := workers.derive(ctx, password, salt, p, keyLen)
		if !errors.Is(err, errWorkerUnavailable) {
			return key, err
		}
	}
	return argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, keyLen), nil
}

// Hash returns a PHC-formatted argon2id hash of password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	salt, secret := newSalt(), []byte(password)
	defer clear(secret)
	key, err := h.deriveKey(ctx, secret, salt, h.params, keyLen)
	if err != nil {
		return "", err
	}
	return encodePHC(h.params, salt, key), nil
}

func newSalt() []byte {
	salt := make([]byte, saltLen)
	rand.Read(salt)
	return salt
}

func encodePHC(p Argon2Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports whether password matches encoded, and whether encoded uses
// weaker parameters than the Hasher's (so the caller may store a new hash).
// An empty encoded hash (a user without a password) never matches, but costs
// as much time as a real comparison.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (ok, weaker bool, err error) {
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	if encoded == "" {
		_, _, err := h.compareLocked(ctx, h.dummyHash(), password)
		return false, false, err
	}
	ok, p, err := h.compareLocked(ctx, encoded, password)
	if err != nil {
		return false, false, err
	}
	weaker = p.MemoryKiB < h.params.MemoryKiB || p.Time < h.params.Time
	return ok, weaker, nil
}

// VerifyNobody burns the time of one comparison, so that answering "no such
// user" takes as long as answering "wrong password".
func (h *Hasher) VerifyNobody(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, "", password)
	return err
}

// dummyHash is the hash that unknown users are compared against; made once,
// in-process.
func (h *Hasher) dummyHash() string {
	h.dummyOnce.Do(func() {
		p, salt := h.params, newSalt()
		key := argon2.IDKey([]byte("cubeauth dummy password"), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
		h.dummy = encodePHC(p, salt, key)
	})
	return h.dummy
}

func (h *Hasher) compareLocked(ctx context.Context, encoded, password string) (bool, Argon2Params, error) {
	p, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false, p, err
	}
	secret := []byte(password)
	defer clear(secret)
	got, err := h.deriveKey(ctx, secret, salt, p, uint32(len(want)))
	if err != nil {
		return false, p, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, p, nil
}

// parsePHC reads "$argon2id$v=19$m=..,t=..,p=..$salt$key".
func parsePHC(encoded string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, errBadHash
	}
	if !p.valid() {
		return p, nil, nil, errBadHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) < 16 || len(key) > maxWorkerKey || len(salt) > maxWorkerSalt {
		return p, nil, nil, errBadHash
	}
	return p, salt, key, nil
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.turns <- struct{}{}:
		return nil
	default:
	}
	busy := errTooManyLogins()
	if h.waiting.Add(1) > h.maxWaiters {
		h.waiting.Add(-1)
		return busy
	}
	defer h.waiting.Add(-1)
	timer := time.NewTimer(h.wait)
	defer timer.Stop()
	select {
	case h.turns <- struct{}{}:
		return nil
	case <-timer.C:
		return busy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.turns }

// saturated reports whether a caller asking for a turn now would be refused
// at once: every turn is taken and the queue is full. Checking it before the
// work that leads up to a hash (reading the user) makes a refused login in a
// storm cost almost nothing.
func (h *Hasher) saturated() bool {
	return len(h.turns) == cap(h.turns) && h.waiting.Load() >= h.maxWaiters
}

func errTooManyLogins() *BusyError {
	return &BusyError{Reason: "too many logins at once", RetryAfter: time.Second}
}
