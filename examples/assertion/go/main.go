// Command verifier is a backend that trusts a request only with a valid
// cubeauth identity assertion: an ES256 JWT in X-Cube-Assertion, checked
// with github.com/golang-jwt/jwt/v5 against cubeauth's JWKS.
//
//	PORT=9000 JWKS_URL=http://127.0.0.1:8080/.well-known/cubeauth/jwks.json \
//	AUDIENCE=api.example.com go run .
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math/big"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwks caches cubeauth's public keys by kid and refetches on an unknown
// kid (at most every 5 s), which is how a rotated key is picked up.
type jwks struct {
	url     string
	mu      sync.Mutex
	keys    map[string]*ecdsa.PublicKey
	fetched time.Time
}

func (j *jwks) key(kid string) (*ecdsa.PublicKey, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if k, ok := j.keys[kid]; ok {
		return k, nil
	}
	if time.Since(j.fetched) > 5*time.Second {
		if err := j.fetch(); err != nil {
			return nil, err
		}
	}
	if k, ok := j.keys[kid]; ok {
		return k, nil
	}
	return nil, errors.New("unknown kid")
}

func (j *jwks) fetch() error {
	resp, err := http.Get(j.url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kty, Crv, Kid, X, Y string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return err
	}
	j.keys, j.fetched = map[string]*ecdsa.PublicKey{}, time.Now()
	for _, k := range set.Keys {
		if k.Kty != "EC" || k.Crv != "P-256" {
			continue
		}
		x, err1 := base64.RawURLEncoding.DecodeString(k.X)
		y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
		if err1 != nil || err2 != nil {
			continue
		}
		j.keys[k.Kid] = &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	}
	return nil
}

// usedJTIs remembers the jti of every bound assertion accepted, until it
// expires, so that a bound assertion is good once. (Several replicas of a
// backend would share this, in Redis say, with SET NX and the expiry.)
type usedJTIs struct {
	mu    sync.Mutex
	until map[string]time.Time
	swept time.Time
}

// first reports whether jti is new, and remembers it until exp. The
// expired ones are dropped at most once a second.
func (u *usedJTIs) first(jti string, exp time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if now := time.Now(); now.Sub(u.swept) > time.Second {
		for k, t := range u.until {
			if now.After(t) {
				delete(u.until, k)
			}
		}
		u.swept = now
	}
	if _, ok := u.until[jti]; ok {
		return false
	}
	u.until[jti] = exp
	return true
}

// claims are cubeauth's assertion claims.
type claims struct {
	jwt.RegisteredClaims
	AppID       int64  `json:"app_id"`
	Login       string `json:"login"`
	SessionType string `json:"session_type"`
	SessionID   int64  `json:"sid"`
	Method      string `json:"method,omitempty"`
	Path        string `json:"path,omitempty"`
}

func main() {
	keys := &jwks{url: os.Getenv("JWKS_URL")}
	used := &usedJTIs{until: map[string]time.Time{}}
	audience := os.Getenv("AUDIENCE")
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer("cubeauth"),
		jwt.WithAudience(audience), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var c claims
		_, err := parser.ParseWithClaims(r.Header.Get("X-Cube-Assertion"), &c, func(t *jwt.Token) (any, error) {
			kid, _ := t.Header["kid"].(string)
			return keys.key(kid)
		})
		// A bound assertion is good for its own request only, and once.
		if err == nil && c.Path != "" && (c.Method != r.Method || c.Path != r.URL.EscapedPath()) {
			err = errors.New("assertion is bound to another request")
		}
		if err == nil && c.ID != "" && !used.first(c.ID, c.ExpiresAt.Time) {
			err = errors.New("assertion replayed")
		}
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, "{\"error\":%q}\n", err.Error())
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"verified_by": "go", "sub": c.Subject, "app_id": c.AppID,
			"login": c.Login, "session_type": c.SessionType, "sid": c.SessionID})
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil))
}
