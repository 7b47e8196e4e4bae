package authcore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// Assertion signing algorithms (JOSE names).
const (
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
)

// assertionSigner is one signing key made ready to sign: its JOSE header
// encoded once, its public half as a JWK.
type assertionSigner struct {
	kid, alg  string
	slot      int64
	expiresAt time.Time
	// header is the base64url JOSE header followed by '.'.
	header string
	// key is nil for a sealed key this signer cannot open (sealed says
	// why): it is published, never used to sign.
	key    crypto.Signer
	sealed error
	jwk    map[string]string
}

var b64url = base64.RawURLEncoding

// newSigningKey makes a fresh key of alg for slot, sealed with the first of
// keks (in clear without any).
func newSigningKey(alg string, slot int64, now, expiresAt time.Time, keks [][]byte) (store.SigningKey, error) {
	var priv crypto.Signer
	switch alg {
	case AlgES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return store.SigningKey{}, err
		}
		priv = k
	case AlgEdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return store.SigningKey{}, err
		}
		priv = k
	default:
		return store.SigningKey{}, fmt.Errorf("unknown assertion algorithm %q", alg)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, err
	}
	if len(keks) > 0 {
		pub, err := x509.MarshalPKIXPublicKey(priv.Public())
		if err != nil {
			return store.SigningKey{}, err
		}
		if der, err = sealSigningKey(keks[0], alg, slot, pub, der); err != nil {
			return store.SigningKey{}, err
		}
	}
	sk := store.SigningKey{Alg: alg, Slot: slot, PrivateKey: der, CreatedAt: now.UTC(), ExpiresAt: expiresAt.UTC()}
	s, err := parseSigningKey(sk, keks)
	if err != nil {
		return store.SigningKey{}, err
	}
	sk.ID = s.kid
	return sk, nil
}

// parseSigningKey prepares a stored key. Its kid is the RFC 7638
// thumbprint of the public key, so every node names a key alike. A sealed
// key's public half is read without keks; its private half only with the
// kek it was sealed with among keks (otherwise s.key is nil and s.sealed
// says why).
func parseSigningKey(sk store.SigningKey, keks [][]byte) (*assertionSigner, error) {
	s := &assertionSigner{alg: sk.Alg, slot: sk.Slot, expiresAt: sk.ExpiresAt}
	var pub crypto.PublicKey
	if isSealed(sk.PrivateKey) {
		pubDER, _, err := sealedPublic(sk.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", sk.ID, err)
		}
		if pub, err = x509.ParsePKIXPublicKey(pubDER); err != nil {
			return nil, fmt.Errorf("signing key %s: %w", sk.ID, err)
		}
		der, err := openSigningKey(keks, sk)
		if err != nil {
			s.sealed = err
		} else if s.key, err = parsePrivate(sk, der); err != nil {
			return nil, err
		} else if k, ok := s.key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(pub) {
			return nil, errors.New("signing key: the sealed key does not match its public half")
		}
	} else {
		var err error
		if s.key, err = parsePrivate(sk, sk.PrivateKey); err != nil {
			return nil, err
		}
		pub = s.key.Public()
	}
	var thumb string
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if sk.Alg != AlgES256 || k.Curve != elliptic.P256() {
			return nil, errors.New("signing key: not a P-256 key for ES256")
		}
		pt, err := k.ECDH()
		if err != nil {
			return nil, err
		}
		raw := pt.Bytes() // 0x04 || X || Y
		x, y := b64url.EncodeToString(raw[1:33]), b64url.EncodeToString(raw[33:])
		s.jwk = map[string]string{"kty": "EC", "crv": "P-256", "x": x, "y": y}
		thumb = `{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`
	case ed25519.PublicKey:
		if sk.Alg != AlgEdDSA {
			return nil, errors.New("signing key: not an Ed25519 key for EdDSA")
		}
		x := b64url.EncodeToString(k)
		s.jwk = map[string]string{"kty": "OKP", "crv": "Ed25519", "x": x}
		thumb = `{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`
	default:
		return nil, fmt.Errorf("signing key: unsupported key type %T", pub)
	}
	sum := sha256.Sum256([]byte(thumb))
	s.kid = b64url.EncodeToString(sum[:])
	if sk.ID != "" && sk.ID != s.kid {
		return nil, errors.New("signing key: kid does not match the key")
	}
	s.jwk["kid"], s.jwk["alg"], s.jwk["use"] = s.kid, s.alg, "sig"
	s.header = b64url.EncodeToString([]byte(`{"alg":"`+s.alg+`","typ":"JWT","kid":"`+s.kid+`"}`)) + "."
	return s, nil
}

// parsePrivate parses the PKCS #8 DER of sk's private key.
func parsePrivate(sk store.SigningKey, der []byte) (crypto.Signer, error) {
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", sk.ID, err)
	}
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("signing key: unsupported key type %T", priv)
}

// sign returns the compact JWS of the encoded claims.
func (s *assertionSigner) sign(claims []byte) (string, error) {
	n := len(s.header) + b64url.EncodedLen(len(claims))
	buf := make([]byte, 0, n+1+b64url.EncodedLen(64))
	buf = append(buf, s.header...)
	buf = b64url.AppendEncode(buf, claims)
	var sig []byte
	switch k := s.key.(type) {
	case *ecdsa.PrivateKey:
		sum := sha256.Sum256(buf)
		r, ss, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			return "", err
		}
		sig = make([]byte, 64) // JWS wants R || S, 32 bytes each
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, buf)
	default:
		return "", errSealedKey
	}
	buf = append(buf, '.')
	return string(b64url.AppendEncode(buf, sig)), nil
}
