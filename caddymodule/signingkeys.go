package caddymodule

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultFirebaseKeysURL is where Google publishes the certificates that
// sign Firebase ID tokens.
const DefaultFirebaseKeysURL = "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"

// Bounds of the key cache: how long keys are kept when the answer says
// nothing (or too much), how soon an unknown kid may fetch again, and how
// long a fetch may take.
const (
	defaultKeysMaxAge = time.Hour
	maxKeysMaxAge     = 24 * time.Hour
	keysRefetchAfter  = 30 * time.Second
	keysFetchTimeout  = 5 * time.Second
	maxKeysBody       = 1 << 20
)

// signingKeys fetches and caches a published key set: Google's x509
// certificate map (kid -> PEM certificate) or a JWKS, kept as long as the
// answer's Cache-Control max-age says. An unknown kid fetches again (keys
// rotate), but at most every keysRefetchAfter, so junk kids cannot make
// cubeauth hammer the key server. One fetch at a time; the others wait for
// it.
type signingKeys struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu        sync.Mutex
	keys      map[string]*rsa.PublicKey
	expires   time.Time
	lastFetch time.Time
}

func newSigningKeys(url string) *signingKeys {
	return &signingKeys{url: url, client: &http.Client{Timeout: keysFetchTimeout}, now: time.Now}
}

// SigningKey returns the key with this kid, or nil when there is none.
func (k *signingKeys) SigningKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	fresh := now.Before(k.expires)
	if key, ok := k.keys[kid]; ok && fresh {
		return key, nil
	}
	if fresh && now.Sub(k.lastFetch) < keysRefetchAfter {
		return nil, nil
	}
	k.lastFetch = now
	keys, maxAge, err := k.fetch(ctx)
	if err != nil {
		if fresh {
			// The keys in hand are still valid: the kid is unknown to them.
			return nil, nil
		}
		return nil, err
	}
	k.keys, k.expires = keys, now.Add(maxAge)
	if key, ok := keys[kid]; ok {
		return key, nil
	}
	return nil, nil
}

func (k *signingKeys) fetch(ctx context.Context) (map[string]*rsa.PublicKey, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, keysFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("fetching signing keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("fetching signing keys: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeysBody))
	if err != nil {
		return nil, 0, fmt.Errorf("fetching signing keys: %w", err)
	}
	keys, err := parseSigningKeys(body)
	if err != nil {
		return nil, 0, err
	}
	return keys, cacheMaxAge(resp.Header.Get("Cache-Control")), nil
}

// parseSigningKeys reads an x509 certificate map or a JWKS. Only RSA keys
// are kept.
func parseSigningKeys(body []byte) (map[string]*rsa.PublicKey, error) {
	var jwks struct {
		Keys []struct {
			Kid, Kty, N, E string
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &jwks); err == nil && jwks.Keys != nil {
		keys := map[string]*rsa.PublicKey{}
		for _, j := range jwks.Keys {
			n, err1 := base64.RawURLEncoding.DecodeString(j.N)
			e, err2 := base64.RawURLEncoding.DecodeString(j.E)
			if j.Kty != "RSA" || j.Kid == "" || err1 != nil || err2 != nil || len(e) > 4 {
				continue
			}
			keys[j.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		}
		return keys, nil
	}
	var certs map[string]string
	if err := json.Unmarshal(body, &certs); err != nil {
		return nil, errors.New("signing keys: neither a certificate map nor a JWKS")
	}
	keys := map[string]*rsa.PublicKey{}
	for kid, p := range certs {
		block, _ := pem.Decode([]byte(p))
		if block == nil {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			continue
		}
		if key, ok := cert.PublicKey.(*rsa.PublicKey); ok {
			keys[kid] = key
		}
	}
	return keys, nil
}

// cacheMaxAge reads max-age from a Cache-Control header, within bounds.
func cacheMaxAge(header string) time.Duration {
	for _, d := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(strings.ToLower(d)), "max-age="); ok {
			if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
				return min(time.Duration(secs)*time.Second, maxKeysMaxAge)
			}
		}
	}
	return defaultKeysMaxAge
}
