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

// Valid reports whether p are parameters an honest hash uses; others are
// refused, so that a corrupt record cannot make one comparison allocate
// gigabytes or run for minutes.
func (p Argon2Params) Valid() bool {
	return p.MemoryKiB > 0 && p.MemoryKiB <= 1<<20 && p.Time > 0 && p.Time <= 16 && p.Threads > 0
}

// IDKey is argon2id of password and salt with p, keyLen bytes long, in the
// calling goroutine.
func (p Argon2Params) IDKey(password, salt []byte, keyLen uint32) []byte {
	return argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
}

const (
	saltLen = 16
	keyLen  = 32
)

var errBadHash = errors.New("malformed password hash")

// Hasher hashes and verifies passwords with argon2id. Each hash allocates
// MemoryKiB, so at most a fixed number run at once (the turns). A caller
// that finds every turn taken queues when its expected wait fits in the
// Hasher's wait and gets a BusyError at once otherwise (see admission.go).
// Concurrent checks of one password against one hash share one comparison.
// After UseDeriver the hashes run in the deriver (worker processes, away
// from the proxied requests).
type Hasher struct {
	params Argon2Params
	turns  chan struct{}
	wait   time.Duration
	// queued counts callers waiting for a turn.
	queued atomic.Int64
	// meanHash is the moving average of a derivation's duration, in
	// nanoseconds.
	meanHash atomic.Int64
	now      func() time.Time

	deriver     atomic.Pointer[KeyDeriver]
	comparisons sharedCalls[comparison]

	dummyOnce sync.Once
	dummy     string
}

// NewHasher returns a Hasher that runs at most concurrency hashes at once and
// lets a caller wait at most wait for a turn.
func NewHasher(params Argon2Params, concurrency int, wait time.Duration) *Hasher {
	if concurrency < 1 {
		concurrency = 1
	}
	h := &Hasher{params: params, turns: make(chan struct{}, concurrency), wait: wait, now: time.Now}
	h.meanHash.Store(int64(initialHashEstimate(params)))
	return h
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
// as much time as a real comparison. Concurrent calls with the same encoded
// hash and password share one comparison.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (ok, weaker bool, err error) {
	c, _, err := h.comparisons.do(ctx, sharedKey(encoded, password), func(ctx context.Context) (comparison, error) {
		return h.compare(ctx, encoded, password)
	})
	if err != nil || encoded == "" {
		return false, false, err
	}
	// A foreign hash (foreignhash.go) is always replaced by argon2id.
	weaker = c.foreign || c.params.MemoryKiB < h.params.MemoryKiB || c.params.Time < h.params.Time
	return c.ok, weaker, nil
}

// comparison is the result of comparing a password with a hash.
type comparison struct {
	ok      bool
	params  Argon2Params
	foreign bool
}

// compare takes a turn and compares password with encoded, or with the
// dummy hash when encoded is empty.
func (h *Hasher) compare(ctx context.Context, encoded, password string) (comparison, error) {
	if err := h.acquire(ctx); err != nil {
		return comparison{}, err
	}
	defer h.release()
	if encoded == "" {
		encoded = h.dummyHash()
	}
	if !strings.HasPrefix(encoded, "$argon2id$") {
		// An imported user's old hash: compared in this process, under
		// the same turn as an argon2id comparison.
		secret := []byte(password)
		defer clear(secret)
		ok, err := h.verifyForeign(ctx, encoded, secret)
		return comparison{ok: ok, foreign: true}, err
	}
	ok, p, err := h.compareLocked(ctx, encoded, password)
	return comparison{ok: ok, params: p}, err
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
		key := p.IDKey([]byte("cubeauth dummy password"), salt, keyLen)
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
	if !p.Valid() {
		return p, nil, nil, errBadHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) < 16 || len(key) > MaxKeyLen || len(salt) > MaxSaltLen {
		return p, nil, nil, errBadHash
	}
	return p, salt, key, nil
}
