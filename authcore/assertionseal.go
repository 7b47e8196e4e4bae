package authcore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cubeauth/cubeauth/store"
)

// A sealed signing key is stored as
//
//	sealedKeyMagic | uint16 length of pub | pub | 12-byte nonce | AES-256-GCM(PKCS #8 DER)
//
// where pub is the public key (PKIX DER) in clear, so that every node and
// the admin API can publish the JWKS without the key encryption key, and
// the GCM additional data is alg, slot and pub, so that a sealed key moved
// to another row or given another public half does not open. PKCS #8 DER
// begins with 0x30, never with the magic.
const sealedKeyMagic = "cubeauth-sealed-key-v1\x00"

// MinKeyEncryptionSecret is the shortest secret DeriveKeyEncryptionKey takes.
const MinKeyEncryptionSecret = 32

// errSealedKey means a signing key is sealed with a key encryption key this
// signer does not have (none, or another one).
var errSealedKey = errors.New("the assertion signing key is sealed with another key_encryption_key")

// DeriveKeyEncryptionKey turns a configured secret (at least
// MinKeyEncryptionSecret characters) into the AES-256 key that seals the
// assertion signing keys in the store.
func DeriveKeyEncryptionKey(secret string) ([]byte, error) {
	if len(secret) < MinKeyEncryptionSecret {
		return nil, fmt.Errorf("key_encryption_key must be at least %d characters", MinKeyEncryptionSecret)
	}
	return hkdf.Key(sha256.New, []byte(secret), nil, "cubeauth assertion signing keys", 32)
}

func isSealed(b []byte) bool { return bytes.HasPrefix(b, []byte(sealedKeyMagic)) }

func sealAAD(alg string, slot int64, pub []byte) []byte {
	aad := append([]byte(alg), 0)
	aad = binary.BigEndian.AppendUint64(aad, uint64(slot))
	return append(aad, pub...)
}

func keyAEAD(kek []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealSigningKey seals the PKCS #8 DER of a key of alg and slot whose
// public half is pub (PKIX DER).
func sealSigningKey(kek []byte, alg string, slot int64, pub, der []byte) ([]byte, error) {
	aead, err := keyAEAD(kek)
	if err != nil {
		return nil, err
	}
	out := append([]byte(sealedKeyMagic), 0, 0)
	binary.BigEndian.PutUint16(out[len(sealedKeyMagic):], uint16(len(pub)))
	out = append(out, pub...)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	out = append(out, nonce...)
	return aead.Seal(out, nonce, der, sealAAD(alg, slot, pub)), nil
}

// sealedPublic returns the public half (PKIX DER) of a sealed key and what
// follows it.
func sealedPublic(b []byte) (pub, rest []byte, err error) {
	b = b[len(sealedKeyMagic):]
	if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b)) {
		return nil, nil, errors.New("malformed sealed key")
	}
	n := int(binary.BigEndian.Uint16(b))
	return b[2 : 2+n], b[2+n:], nil
}

// openSigningKey returns the PKCS #8 DER of the sealed key sk, opened
// with whichever of keks sealed it.
func openSigningKey(keks [][]byte, sk store.SigningKey) ([]byte, error) {
	pub, rest, err := sealedPublic(sk.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", sk.ID, err)
	}
	for _, kek := range keks {
		aead, err := keyAEAD(kek)
		if err != nil {
			return nil, err
		}
		if len(rest) < aead.NonceSize() {
			return nil, fmt.Errorf("signing key %s: malformed sealed key", sk.ID)
		}
		der, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], sealAAD(sk.Alg, sk.Slot, pub))
		if err == nil {
			return der, nil
		}
	}
	return nil, errSealedKey
}
