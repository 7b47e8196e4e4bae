package store

import (
	"context"
	"time"
)

// SigningKey is a private key that signs identity assertions for backends.
// (Alg, Slot) is unique: Slot numbers the rotation period the key was made
// for, so nodes of a fleet that rotate at once agree on one key.
type SigningKey struct {
	// ID is the key's "kid", published in the JWKS.
	ID  string `json:"kid"`
	Alg string `json:"alg"`
	// Slot is the rotation period (Unix time / rotation interval) the key
	// was made for; the current key is the live one with the highest slot.
	Slot int64 `json:"slot"`
	// PrivateKey is PKCS #8 DER, or that DER sealed by authcore when a
	// key encryption key is configured. Never logged or served.
	PrivateKey []byte    `json:"private_key"`
	CreatedAt  time.Time `json:"created_at"`
	// ExpiresAt ends the key's publication; drivers may drop it after.
	ExpiresAt time.Time `json:"expires_at"`
}

// SigningKeys keep the assertion signing keys a fleet shares.
type SigningKeys interface {
	// AddSigningKey stores k unless a key with k.Alg and k.Slot exists, and
	// returns the key stored for them: k, or the one that was there. Of
	// concurrent adders of one slot, all get the same key.
	AddSigningKey(ctx context.Context, k SigningKey) (SigningKey, error)
	// ListSigningKeys returns the unexpired keys ordered by Alg, then Slot.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
}
