package authcore

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"

	"github.com/cubeauth/cubeauth/store"
)

// tokenBytes is 256 bits of randomness per token.
const tokenBytes = 32

// newToken returns a fresh opaque token (64 hex characters) and its hash.
func newToken() (string, store.TokenHash) {
	var b [tokenBytes]byte
	rand.Read(b[:]) // never returns an error (crypto/rand since Go 1.24)
	token := hex.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken is the only form in which a token is stored or compared.
func HashToken(token string) store.TokenHash {
	// Our tokens (64 characters) are copied through a stack buffer: the
	// plain []byte(token) conversion heap-allocates anything over 32 bytes,
	// once per proxied request.
	var buf [2 * tokenBytes]byte
	if len(token) <= len(buf) {
		n := copy(buf[:], token)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(token))
}

// Fingerprint is a short, non-reversible name for a token hash, safe to log
// and to show operators.
func Fingerprint(h store.TokenHash) string {
	return hex.EncodeToString(h[:6])
}
