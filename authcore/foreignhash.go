package authcore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
)

// Foreign password hashes are the formats of other systems that imported
// users keep until their first login, when they are re-hashed to argon2id:
//
//	$2a$/$2b$/$2y$...                         bcrypt
//	$argon2i$v=19$m=..,t=..,p=..$salt$key     argon2i (PHC; argon2id is native)
//	$scrypt$ln=..,r=..,p=..$salt$key          scrypt (PHC, as passlib writes it)
//	pbkdf2_sha256$iterations$salt$key         Django's PBKDF2-SHA256
//	$firebase-scrypt$r=..,m=..$signer$sep$salt$key
//	                                          Firebase's modified scrypt, with
//	                                          the project's parameters inlined
//	                                          at import (FirebaseHash)
//
// PHC salts and keys are unpadded standard base64 (padding is accepted);
// Firebase's values are padded standard base64, as Firebase exports them.
type foreignHash struct {
	verify func(password []byte) bool
}

// Cost bounds for foreign hashes, so that a corrupt or hostile import
// cannot make one login allocate gigabytes or run for minutes.
const (
	maxScryptLogN       = 17 // 128 MiB at r=8
	maxScryptR          = 16
	maxScryptP          = 4
	maxPBKDF2Iterations = 2_000_000
	maxFirebaseMemCost  = 14
	maxFirebaseRounds   = 8
)

// VerifyForeignHash reports whether password matches a foreign hash, in
// the calling goroutine (a hash worker's; Hasher.Verify otherwise).
func VerifyForeignHash(encoded string, password []byte) (bool, error) {
	f, err := parseForeign(encoded)
	if err != nil {
		return false, err
	}
	return f.verify(password), nil
}

// ForeignVerifier is a KeyDeriver that also verifies foreign hashes away
// from the calling goroutine (hashworker.Pool does, in its workers).
type ForeignVerifier interface {
	// VerifyForeign is VerifyForeignHash; errors as KeyDeriver.DeriveKey's.
	VerifyForeign(ctx context.Context, encoded string, password []byte) (bool, error)
}

// verifyForeign verifies with the deriver when it can, in-process when
// there is none or it is unavailable.
func (h *Hasher) verifyForeign(ctx context.Context, encoded string, password []byte) (bool, error) {
	if _, err := parseForeign(encoded); err != nil {
		return false, err
	}
	if d := h.deriver.Load(); d != nil {
		if fv, ok := (*d).(ForeignVerifier); ok {
			match, err := fv.VerifyForeign(ctx, encoded, password)
			switch {
			case err == nil:
				return match, nil
			case errors.Is(err, ErrDeriverStalled):
				return false, errTooManyLogins()
			case !errors.Is(err, ErrDeriverUnavailable):
				return false, err
			}
		}
	}
	return VerifyForeignHash(encoded, password)
}

// IsForeignHash reports whether encoded is in one of the foreign formats.
func IsForeignHash(encoded string) bool {
	_, err := parseForeign(encoded)
	return err == nil
}

// CheckImportedHash returns nil when encoded is a hash a user may be
// imported with: empty (no password), native argon2id, or foreign.
func CheckImportedHash(encoded string) error {
	if encoded == "" {
		return nil
	}
	if _, _, _, err := parsePHC(encoded); err == nil {
		return nil
	}
	_, err := parseForeign(encoded)
	return err
}

func b64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

func parseForeign(encoded string) (foreignHash, error) {
	switch {
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		if _, err := bcrypt.Cost([]byte(encoded)); err != nil {
			return foreignHash{}, errBadHash
		}
		return foreignHash{verify: func(pw []byte) bool {
			// x/crypto's bcrypt refuses passwords over 72 bytes that the
			// reference implementations truncate: truncate as they do.
			if len(pw) > 72 {
				pw = pw[:72]
			}
			return bcrypt.CompareHashAndPassword([]byte(encoded), pw) == nil
		}}, nil
	case strings.HasPrefix(encoded, "$argon2i$"):
		return parseArgon2i(encoded)
	case strings.HasPrefix(encoded, "$scrypt$"):
		return parseScrypt(encoded)
	case strings.HasPrefix(encoded, "pbkdf2_sha256$"):
		return parseDjango(encoded)
	case strings.HasPrefix(encoded, "$firebase-scrypt$"):
		return parseFirebase(encoded)
	}
	return foreignHash{}, errBadHash
}

func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

func parseArgon2i(encoded string) (foreignHash, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return foreignHash{}, errBadHash
	}
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil || !p.Valid() {
		return foreignHash{}, errBadHash
	}
	salt, err1 := b64(parts[4])
	key, err2 := b64(parts[5])
	if err1 != nil || err2 != nil || len(key) < 16 || len(key) > MaxKeyLen {
		return foreignHash{}, errBadHash
	}
	return foreignHash{verify: func(pw []byte) bool {
		return equal(argon2.Key(pw, salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(key))), key)
	}}, nil
}

// params reads "a=1,b=2" into the named ints, all required.
func params(s string, names ...string) ([]int, bool) {
	fields := strings.Split(s, ",")
	if len(fields) != len(names) {
		return nil, false
	}
	out := make([]int, len(names))
	for i, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		n, err := strconv.Atoi(v)
		if !ok || k != names[i] || err != nil || n < 1 {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

func parseScrypt(encoded string) (foreignHash, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 5 {
		return foreignHash{}, errBadHash
	}
	p, ok := params(parts[2], "ln", "r", "p")
	if !ok || p[0] > maxScryptLogN || p[1] > maxScryptR || p[2] > maxScryptP {
		return foreignHash{}, errBadHash
	}
	salt, err1 := b64(parts[3])
	key, err2 := b64(parts[4])
	if err1 != nil || err2 != nil || len(key) < 16 || len(key) > MaxKeyLen {
		return foreignHash{}, errBadHash
	}
	return foreignHash{verify: func(pw []byte) bool {
		got, err := scrypt.Key(pw, salt, 1<<p[0], p[1], p[2], len(key))
		return err == nil && equal(got, key)
	}}, nil
}

// parseDjango reads Django's "pbkdf2_sha256$<iterations>$<salt>$<key>":
// the salt is used as written, the key is padded base64.
func parseDjango(encoded string) (foreignHash, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 || parts[2] == "" {
		return foreignHash{}, errBadHash
	}
	iter, err := strconv.Atoi(parts[1])
	key, err2 := base64.StdEncoding.DecodeString(parts[3])
	if err != nil || err2 != nil || iter < 1 || iter > maxPBKDF2Iterations || len(key) < 16 {
		return foreignHash{}, errBadHash
	}
	salt := parts[2]
	return foreignHash{verify: func(pw []byte) bool {
		got, err := pbkdf2.Key(sha256.New, string(pw), []byte(salt), iter, len(key))
		return err == nil && equal(got, key)
	}}, nil
}

// FirebaseParams are a Firebase project's password hash parameters, as its
// console shows them (Authentication > Users > Password hash parameters).
type FirebaseParams struct {
	SignerKey     string `json:"signer_key"`     // base64_signer_key
	SaltSeparator string `json:"salt_separator"` // base64_salt_separator
	Rounds        int    `json:"rounds"`
	MemCost       int    `json:"mem_cost"`
}

// FirebaseHash is the hash string a user exported from Firebase (its
// passwordHash and salt, base64) is imported with: the project's parameters
// travel inside it, so it verifies on its own.
func FirebaseHash(p FirebaseParams, hash, salt string) (string, error) {
	enc := fmt.Sprintf("$firebase-scrypt$r=%d,m=%d$%s$%s$%s$%s", p.Rounds, p.MemCost,
		strings.TrimRight(p.SignerKey, "="), strings.TrimRight(p.SaltSeparator, "="),
		strings.TrimRight(salt, "="), strings.TrimRight(hash, "="))
	if _, err := parseFirebase(enc); err != nil {
		return "", fmt.Errorf("firebase hash: %w", err)
	}
	return enc, nil
}

// parseFirebase reads what FirebaseHash writes. Firebase's algorithm
// (github.com/firebase/scrypt): scrypt the password with salt+separator,
// N=2^mem_cost, r=rounds, p=1, 32 bytes; the hash is the signer key
// encrypted with AES-256-CTR under that key and a zero IV.
func parseFirebase(encoded string) (foreignHash, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 7 {
		return foreignHash{}, errBadHash
	}
	p, ok := params(parts[2], "r", "m")
	if !ok || p[0] > maxFirebaseRounds || p[1] > maxFirebaseMemCost {
		return foreignHash{}, errBadHash
	}
	signer, err1 := b64(parts[3])
	sep, err2 := b64(parts[4])
	salt, err3 := b64(parts[5])
	want, err4 := b64(parts[6])
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || len(signer) == 0 || len(want) == 0 {
		return foreignHash{}, errBadHash
	}
	return foreignHash{verify: func(pw []byte) bool {
		key, err := scrypt.Key(pw, append(append([]byte{}, salt...), sep...), 1<<p[1], p[0], 1, 32)
		if err != nil {
			return false
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return false
		}
		got := make([]byte, len(signer))
		cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(got, signer)
		// Firebase exports the whole ciphertext; compare what it gave.
		return len(want) <= len(got) && equal(got[:len(want)], want)
	}}, nil
}
