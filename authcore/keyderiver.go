package authcore

import (
	"context"
	"errors"
)

// KeyDeriver runs argon2id key derivations for a Hasher somewhere other than
// the calling goroutine: in worker processes, for example (package
// hashworker). The Hasher holds a hashing turn around each call, so a
// deriver runs at most the Hasher's concurrency of derivations at once.
type KeyDeriver interface {
	// DeriveKey returns argon2id(password, salt, p, keyLen). The salt and the
	// key are at most MaxSaltLen and MaxKeyLen bytes and p is Valid. An error
	// wrapping ErrDeriverUnavailable makes the Hasher derive the key
	// in-process instead; one wrapping ErrDeriverStalled makes the login a
	// BusyError; when ctx ends, ctx's error.
	DeriveKey(ctx context.Context, password, salt []byte, p Argon2Params, keyLen uint32) ([]byte, error)
	// Close stops the deriver; later calls to DeriveKey fail with
	// ErrDeriverUnavailable.
	Close()
}

var (
	// ErrDeriverUnavailable means a KeyDeriver cannot derive this key (it
	// could not start, or its worker died) and the Hasher should derive it
	// in-process.
	ErrDeriverUnavailable = errors.New("key deriver unavailable")
	// ErrDeriverStalled means a KeyDeriver gave up waiting for its answer
	// (starved of CPU by a saturated machine): the login is answered busy
	// rather than hashed in-process, where it would slow every request.
	ErrDeriverStalled = errors.New("key deriver did not answer in time")
)

// Bounds of a stored hash that every KeyDeriver may rely on: parsePHC refuses
// longer salts and keys.
const (
	MaxSaltLen = 255
	MaxKeyLen  = 255
)

// UseDeriver makes the Hasher derive keys with d (see KeyDeriver); a
// deriver set before is closed. Close closes d.
func (h *Hasher) UseDeriver(d KeyDeriver) {
	if old := h.deriver.Swap(&d); old != nil {
		(*old).Close()
	}
}

// Close stops the Hasher's deriver, if any; the Hasher goes on in-process.
func (h *Hasher) Close() {
	if d := h.deriver.Swap(nil); d != nil {
		(*d).Close()
	}
}

// deriveKey is argon2id, with the deriver when there is one. It feeds the
// mean hash time that admission goes by.
func (h *Hasher) deriveKey(ctx context.Context, password, salt []byte, p Argon2Params, keyLen uint32) ([]byte, error) {
	start := h.now()
	if d := h.deriver.Load(); d != nil {
		key, err := (*d).DeriveKey(ctx, password, salt, p, keyLen)
		switch {
		case err == nil:
			h.observeHash(h.now().Sub(start))
			return key, nil
		case errors.Is(err, ErrDeriverStalled):
			return nil, errTooManyLogins()
		case !errors.Is(err, ErrDeriverUnavailable):
			return nil, err
		}
		start = h.now() // the failed attempt is no hash
	}
	key := p.IDKey(password, salt, keyLen)
	h.observeHash(h.now().Sub(start))
	return key, nil
}
