package authcore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// AssertionOptions configure the signed identity assertions.
type AssertionOptions struct {
	// Alg is AlgES256 (default) or AlgEdDSA.
	Alg string
	// Issuer is the "iss" claim. Default: "cubeauth".
	Issuer string
	// TTL is an assertion's lifetime. Default: 30s.
	TTL time.Duration
	// RotateEvery is how long a key signs before the next replaces it; the
	// previous key stays published for one more period. Default: 24h.
	RotateEvery time.Duration
	// CacheSize bounds the cached unbound assertions (one per session).
	// Default: 100000.
	CacheSize int
	// KeyEncryptionKeys (32 bytes each, from DeriveKeyEncryptionKey): the
	// first seals the private keys this signer stores, and each opens
	// sealed ones, so that a new one can be rolled out beside the previous.
	// None: new keys are stored in clear, and sealed ones cannot sign.
	KeyEncryptionKeys [][]byte
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

func (o *AssertionOptions) defaults() {
	if o.Alg == "" {
		o.Alg = AlgES256
	}
	if o.Issuer == "" {
		o.Issuer = "cubeauth"
	}
	if o.TTL <= 0 {
		o.TTL = 30 * time.Second
	}
	if o.RotateEvery <= 0 {
		o.RotateEvery = 24 * time.Hour
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 100000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate checks the options (after defaults).
func (o AssertionOptions) Validate() error {
	o.defaults()
	if o.Alg != AlgES256 && o.Alg != AlgEdDSA {
		return fmt.Errorf("assertion alg must be %s or %s", AlgES256, AlgEdDSA)
	}
	if o.RotateEvery < 10*o.TTL {
		return errors.New("assertion rotate_every must be at least ten times its ttl")
	}
	return nil
}

// Assertions sign short-lived identity assertions (JWTs) for backends, with
// keys kept, rotated and shared through the store. An unbound assertion is
// signed once per session and reused while more than a third of its life
// remains, so the proxied path costs a map read.
type Assertions struct {
	store store.SigningKeys
	opts  AssertionOptions

	current atomic.Pointer[assertionSigner]
	jwks    atomic.Pointer[[]byte]
	// refreshing is held by the one goroutine that reloads keys.
	refreshing sync.Mutex
	// rotating is set while a background reload for a new period runs.
	rotating atomic.Bool

	cache assertionCache
}

// NewAssertions returns a signer over st. It reads or writes no key until
// first used (or Refresh is called).
func NewAssertions(st store.SigningKeys, opts AssertionOptions) *Assertions {
	opts.defaults()
	a := &Assertions{store: st, opts: opts}
	a.cache.init(opts.CacheSize)
	return a
}

// CurrentKeyID is the kid of the key that signs now ("" before the first).
func (a *Assertions) CurrentKeyID() string {
	if s := a.current.Load(); s != nil {
		return s.kid
	}
	return ""
}

// Options returns the options after defaults.
func (a *Assertions) Options() AssertionOptions { return a.opts }

func (a *Assertions) slot(now time.Time) int64 {
	return now.Unix() / int64(a.opts.RotateEvery/time.Second)
}

// signer returns the key that signs now, loading or making one when there
// is none yet. Past the end of the key's period it goes on signing while a
// reload runs in the background, as the old key stays published.
func (a *Assertions) signer(ctx context.Context, now time.Time) (*assertionSigner, error) {
	s := a.current.Load()
	if s != nil && s.slot >= a.slot(now) {
		return s, nil
	}
	if s != nil && now.Add(a.opts.TTL).Before(s.expiresAt) {
		if a.rotating.CompareAndSwap(false, true) {
			go func() {
				defer a.rotating.Store(false)
				_ = a.Refresh(context.Background())
			}()
		}
		return s, nil
	}
	if err := a.Refresh(ctx); err != nil {
		return nil, err
	}
	if s = a.current.Load(); s == nil {
		return nil, ErrUnavailable
	}
	return s, nil
}

// Refresh loads the keys from the store, makes the current period's key
// when no node has yet (insert-if-absent on the period, so a fleet agrees
// on one), and rebuilds the JWKS. The module calls it periodically so that
// keys made by other nodes are published here too.
func (a *Assertions) Refresh(ctx context.Context) error {
	a.refreshing.Lock()
	defer a.refreshing.Unlock()
	return a.refresh(ctx, false)
}

// Rotate makes a new current key now, for the period after the newest
// one. Two nodes rotating at once make one key.
func (a *Assertions) Rotate(ctx context.Context) error {
	a.refreshing.Lock()
	defer a.refreshing.Unlock()
	return a.refresh(ctx, true)
}

func (a *Assertions) refresh(ctx context.Context, rotate bool) error {
	now := a.opts.Now()
	keys, err := a.store.ListSigningKeys(ctx)
	if err != nil {
		return storeErr(err, ErrUnavailable)
	}
	current, err := a.newest(keys)
	if err != nil {
		return err
	}
	want := a.slot(now)
	if rotate && current != nil {
		want = max(want, current.slot+1)
	}
	// A node that cannot open the newest key (another key_encryption_key,
	// or none) makes no key of its own: the fleet keeps the keys it sealed.
	if current == nil || (current.slot < want && current.key != nil) {
		// Published for this period and the next, and long enough after
		// for the last assertions it signed to expire.
		period := int64(a.opts.RotateEvery / time.Second)
		expires := time.Unix((want+2)*period, 0).Add(a.opts.TTL)
		sk, err := newSigningKey(a.opts.Alg, want, now, expires, a.opts.KeyEncryptionKeys)
		if err != nil {
			return err
		}
		if _, err := a.store.AddSigningKey(ctx, sk); err != nil {
			return storeErr(err, ErrUnavailable)
		}
		if keys, err = a.store.ListSigningKeys(ctx); err != nil {
			return storeErr(err, ErrUnavailable)
		}
		if current, err = a.newest(keys); err != nil {
			return err
		}
	}
	b, err := publicJWKS(keys)
	if err != nil {
		return err
	}
	a.jwks.Store(&b)
	if current != nil && current.key == nil {
		// It still publishes the keys, and goes on signing with an older
		// key it opened while that one is published; never with its own.
		return fmt.Errorf("%w: signing key %s: %w", ErrUnavailable, current.kid, current.sealed)
	}
	if current != nil {
		a.current.Store(current)
	}
	return nil
}

// newest is the key of the signer's algorithm with the highest slot, or
// nil when there is none.
func (a *Assertions) newest(keys []store.SigningKey) (*assertionSigner, error) {
	var current *assertionSigner
	for _, k := range keys {
		if k.Alg != a.opts.Alg || (current != nil && k.Slot <= current.slot) {
			continue
		}
		s, err := parseSigningKey(k, a.opts.KeyEncryptionKeys)
		if err != nil {
			return nil, err
		}
		current = s
	}
	return current, nil
}

type jwkSet struct {
	Keys []map[string]string `json:"keys"`
}

// publicJWKS is the JSON Web Key Set of the keys' public halves.
func publicJWKS(keys []store.SigningKey) ([]byte, error) {
	set := jwkSet{Keys: []map[string]string{}}
	for _, k := range keys {
		s, err := parseSigningKey(k, nil) // public halves only
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, s.jwk)
	}
	return json.Marshal(set)
}

// StoreJWKS reads the live signing keys of st and returns their public
// halves as a JWKS, for the admin API (which has a store, not a signer).
func StoreJWKS(ctx context.Context, st store.SigningKeys) ([]byte, error) {
	keys, err := st.ListSigningKeys(ctx)
	if err != nil {
		return nil, storeErr(err, ErrUnavailable)
	}
	return publicJWKS(keys)
}

// JWKS returns the public keys as a JSON Web Key Set, loading them first
// when nothing has been signed yet.
func (a *Assertions) JWKS(ctx context.Context) ([]byte, error) {
	if b := a.jwks.Load(); b != nil {
		return *b, nil
	}
	if err := a.Refresh(ctx); err != nil {
		return nil, err
	}
	return *a.jwks.Load(), nil
}

// assertionClaims are the JWT claims; Method, Path and JTI only when bound.
type assertionClaims struct {
	Issuer      string `json:"iss"`
	Audience    string `json:"aud"`
	Subject     string `json:"sub,omitempty"`
	AppID       int64  `json:"app_id"`
	Login       string `json:"login,omitempty"`
	SessionType string `json:"session_type"`
	SessionID   int64  `json:"sid"`
	IssuedAt    int64  `json:"iat"`
	Expires     int64  `json:"exp"`
	JTI         string `json:"jti,omitempty"`
	Method      string `json:"method,omitempty"`
	Path        string `json:"path,omitempty"`
}

func (a *Assertions) claims(id Identity, aud string, now time.Time) assertionClaims {
	c := assertionClaims{
		Issuer: a.opts.Issuer, Audience: aud, AppID: id.AppID, Login: id.Login,
		SessionType: id.SessionType(), SessionID: id.SessionID,
		IssuedAt: now.Unix(), Expires: now.Add(a.opts.TTL).Unix(),
	}
	if id.UserID != 0 {
		c.Subject = strconv.FormatInt(id.UserID, 10)
	}
	return c
}

func (a *Assertions) signClaims(s *assertionSigner, c assertionClaims) (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return s.sign(b)
}

// Assertion returns the unbound assertion for the session, as a header
// value (a one-element slice the caller must not modify). It is reused
// while more than a third of its life remains and the signing key has not
// changed: then nothing is signed or allocated.
func (a *Assertions) Assertion(ctx context.Context, id Identity, aud string) ([]string, error) {
	now := a.opts.Now()
	s, err := a.signer(ctx, now)
	if err != nil {
		return nil, err
	}
	if e := a.cache.get(id.TokenHash); e != nil && e.identity == id && e.aud == aud &&
		e.signer == s && now.UnixNano() < e.renewAt {
		return e.value, nil
	}
	jwt, err := a.signClaims(s, a.claims(id, aud, now))
	if err != nil {
		return nil, err
	}
	e := &cachedAssertion{
		identity: id, aud: aud, signer: s, value: []string{jwt},
		renewAt: now.Add(a.opts.TTL * 2 / 3).UnixNano(),
	}
	a.cache.put(id.TokenHash, e)
	return e.value, nil
}

// BoundAssertion signs an assertion for one request: it also carries the
// method, the path and a unique jti, so it is useless for any other request.
func (a *Assertions) BoundAssertion(ctx context.Context, id Identity, aud, method, path string) (string, error) {
	now := a.opts.Now()
	s, err := a.signer(ctx, now)
	if err != nil {
		return "", err
	}
	c := a.claims(id, aud, now)
	var jti [16]byte
	rand.Read(jti[:])
	c.JTI, c.Method, c.Path = b64url.EncodeToString(jti[:]), method, path
	return a.signClaims(s, c)
}

// cachedAssertion is a signed unbound assertion of one session.
type cachedAssertion struct {
	identity Identity
	aud      string
	signer   *assertionSigner
	value    []string
	// renewAt is when to sign a fresh one (Unix nanoseconds).
	renewAt int64
}

// assertionCache keeps the unbound assertions by session, bounded like
// sessionCache: a full shard drops an arbitrary entry. It needs no
// invalidation: a revoked session is refused before its assertion is
// looked up, and a changed identity does not match the cached one.
type assertionCache struct {
	shards   [64]assertionShard
	perShard int
}

type assertionShard struct {
	mu      sync.RWMutex
	entries map[store.TokenHash]*cachedAssertion
}

func (c *assertionCache) init(size int) {
	c.perShard = max(1, size/64)
	for i := range c.shards {
		c.shards[i].entries = map[store.TokenHash]*cachedAssertion{}
	}
}

func (c *assertionCache) get(h store.TokenHash) *cachedAssertion {
	s := &c.shards[h[0]&63]
	s.mu.RLock()
	e := s.entries[h]
	s.mu.RUnlock()
	return e
}

func (c *assertionCache) put(h store.TokenHash, e *cachedAssertion) {
	s := &c.shards[h[0]&63]
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[h]; !ok && len(s.entries) >= c.perShard {
		for k := range s.entries {
			delete(s.entries, k)
			break
		}
	}
	s.entries[h] = e
}
