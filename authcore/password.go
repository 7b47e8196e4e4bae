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

const (
	saltLen = 16
	keyLen  = 32
)

var errBadHash = errors.New("malformed password hash")

// Hasher hashes and verifies passwords with argon2id. Each hash allocates
// MemoryKiB, so at most a fixed number run at once; a caller that cannot get
// a turn within the wait gets a BusyError instead of queueing forever.
type Hasher struct {
	params Argon2Params
	turns  chan struct{}
	wait   time.Duration
	// waiting counts callers queued for a turn. Past maxWaiters a caller is
	// refused at once: in a storm a long queue only holds connections and
	// timers for requests that will time out anyway.
	waiting    atomic.Int64
	maxWaiters int64

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

// Hash returns a PHC-formatted argon2id hash of password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	var encoded string
	inBackground(func() { encoded = h.hashLocked(password) })
	return encoded, nil
}

func (h *Hasher) hashLocked(password string) string {
	salt := make([]byte, saltLen)
	rand.Read(salt)
	p := h.params
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
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
		inBackground(func() { h.compareLocked(h.dummyHash(), password) })
		return false, false, nil
	}
	var p Argon2Params
	inBackground(func() { ok, p, err = h.compareLocked(encoded, password) })
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

func (h *Hasher) dummyHash() string {
	h.dummyOnce.Do(func() { h.dummy = h.hashLocked("cubeauth dummy password") })
	return h.dummy
}

func (h *Hasher) compareLocked(encoded, password string) (bool, Argon2Params, error) {
	p, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false, p, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
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
	// Refuse parameters no honest hash uses, so a corrupt record cannot make
	// one comparison allocate gigabytes.
	if p.MemoryKiB == 0 || p.MemoryKiB > 1<<20 || p.Time == 0 || p.Time > 16 || p.Threads == 0 {
		return p, nil, nil, errBadHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) < 16 {
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
	busy := &BusyError{Reason: "too many logins at once", RetryAfter: time.Second}
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
