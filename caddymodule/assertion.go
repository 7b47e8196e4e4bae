package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/store"
)

// AssertionConfig turns on a short-lived signed identity assertion (a JWT)
// on every forwarded request, so that a backend can verify who is calling
// even when a request reaches it without passing cubeauth's header
// stripping. The public keys are served at jwksPath and through the admin
// API; the private keys live in the store, shared by a fleet.
type AssertionConfig struct {
	// Alg is ES256 or EdDSA. Default: ES256.
	Alg string `json:"alg,omitempty"`
	// Issuer is the "iss" claim. Default: cubeauth.
	Issuer string `json:"issuer,omitempty"`
	// Audience is the "aud" claim. Default: the request's Host (the site
	// as the client addressed it).
	Audience string `json:"audience,omitempty"`
	// TTL is an assertion's lifetime. Default: 30s.
	TTL caddy.Duration `json:"ttl,omitempty"`
	// BindRequest signs every request's own assertion, with its method,
	// path and a unique jti. Default: false (one assertion per session,
	// reused while more than a third of its life remains).
	BindRequest bool `json:"bind_request,omitempty"`
	// Header carries the assertion. Clients' copies are removed. Default:
	// the header prefix + "Assertion" (X-Cube-Assertion).
	Header string `json:"header,omitempty"`
	// RotateEvery is how long a key signs before the next one; the
	// previous one stays published for one more period. Default: 24h.
	RotateEvery caddy.Duration `json:"rotate_every,omitempty"`
	// KeyEncryptionKeys seal the private keys in the store (AES-256-GCM
	// with a key derived from the first), and open keys sealed with any:
	// the first is the current secret, the others previous ones kept while
	// keys sealed with them are published. Each at least 32 characters,
	// best given as a placeholder ({env.X}, {file.path}) so the config
	// never holds it. Every node of a fleet needs the same first one.
	// Default: none (keys are stored in clear, as protected as the store).
	KeyEncryptionKeys []string `json:"key_encryption_keys,omitempty"`

	// keks are KeyEncryptionKeys resolved and derived.
	keks [][]byte
}

// jwksPath serves the assertion keys' public halves.
const jwksPath = "/.well-known/cubeauth/jwks.json"

// assertionRefresh is how often a node reloads the keys, so that keys made
// by other nodes (a rotation through the admin API) are published here.
const assertionRefresh = 10 * time.Second

func (c *AssertionConfig) options(cacheSize int) authcore.AssertionOptions {
	return authcore.AssertionOptions{
		Alg: c.Alg, Issuer: c.Issuer, TTL: time.Duration(c.TTL),
		RotateEvery: time.Duration(c.RotateEvery), CacheSize: cacheSize, KeyEncryptionKeys: c.keks,
	}
}

// provisionAssertion checks the config; nothing touches the store here.
func (h *Handler) provisionAssertion() error {
	c := h.Assertion
	if c == nil {
		return nil
	}
	if c.Header == "" {
		c.Header = h.HeaderPrefix + "Assertion"
	}
	c.Header = textproto.CanonicalMIMEHeaderKey(c.Header)
	if c.TTL < 0 || c.RotateEvery < 0 {
		return errors.New("assertion durations must not be negative")
	}
	repl := caddy.NewReplacer()
	c.keks = nil
	for _, raw := range c.KeyEncryptionKeys {
		secret := repl.ReplaceKnown(raw, "")
		if secret == raw && strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}") {
			// The value is not shown: it is a secret, or a placeholder of one.
			return errors.New("assertion: a key_encryption_key placeholder was not resolved")
		}
		kek, err := authcore.DeriveKeyEncryptionKey(secret)
		if err != nil {
			return fmt.Errorf("assertion: %w (after placeholders are resolved)", err)
		}
		c.keks = append(c.keks, kek)
	}
	return c.options(0).Validate()
}

// startAssertions makes the signer over the open store and keeps its keys
// fresh until the handler is cleaned up. The first key is made lazily, by
// the first forwarded request or this goroutine, never in Provision.
func (h *Handler) startAssertions(st store.SigningKeys) {
	if h.Assertion == nil {
		return
	}
	h.assertions = authcore.NewAssertions(st, h.Assertion.options(h.SessionCacheSize))
	svc := h.service
	runningAssertions.Store(svc, h.assertions)
	ctx, cancel := context.WithCancel(context.Background())
	h.stopAssertions = func() {
		cancel()
		runningAssertions.CompareAndDelete(svc, h.assertions)
	}
	go func() {
		t := time.NewTicker(assertionRefresh)
		defer t.Stop()
		for {
			if err := h.assertions.Refresh(ctx); err != nil && ctx.Err() == nil {
				h.logger.Warn("loading assertion signing keys", zap.Error(err))
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// runningAssertions maps a running handler's *authcore.Service to its
// *authcore.Assertions, for the admin API's rotate operation, which finds
// stores through their services.
var runningAssertions sync.Map

// AssertionsFor returns the signer of the handler whose service is svc, or
// nil when that handler signs no assertions.
func AssertionsFor(svc *authcore.Service) *authcore.Assertions {
	a, _ := runningAssertions.Load(svc)
	as, _ := a.(*authcore.Assertions)
	return as
}

// setAssertion puts the signed assertion on a request to be forwarded.
func (h *Handler) setAssertion(r *http.Request, id authcore.Identity) error {
	c := h.Assertion
	aud := c.Audience
	if aud == "" {
		aud = r.Host
	}
	if !c.BindRequest {
		v, err := h.assertions.Assertion(r.Context(), id, aud)
		if err != nil {
			return err
		}
		r.Header[c.Header] = v
		return nil
	}
	jwt, err := h.assertions.BoundAssertion(r.Context(), id, aud, r.Method, r.URL.EscapedPath())
	if err != nil {
		return err
	}
	r.Header[c.Header] = []string{jwt}
	return nil
}

// serveJWKS is GET /.well-known/cubeauth/jwks.json.
func (h *Handler) serveJWKS(w http.ResponseWriter, r *http.Request, _ string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errMethodNotAllowed
	}
	b, err := h.assertions.JWKS(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=60")
	_, err = w.Write(b)
	return err
}

// parseAssertion parses
//
//	assertion [{
//		alg ES256|EdDSA
//		issuer <iss>
//		audience <aud>
//		ttl <duration>
//		bind_request
//		header <name>
//		rotate_every <duration>
//		key_encryption_key <secret> [<previous secret>...]
//	}]
func parseAssertion(d *caddyfile.Dispenser) (*AssertionConfig, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	c := &AssertionConfig{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "alg":
			err = parseString(d, &c.Alg)
		case "issuer":
			err = parseString(d, &c.Issuer)
		case "audience":
			err = parseString(d, &c.Audience)
		case "ttl":
			err = parseDuration(d, &c.TTL)
		case "bind_request":
			c.BindRequest, err = true, noArgs(d)
		case "header":
			err = parseString(d, &c.Header)
		case "rotate_every":
			err = parseDuration(d, &c.RotateEvery)
		case "key_encryption_key":
			c.KeyEncryptionKeys = d.RemainingArgs()
			if len(c.KeyEncryptionKeys) == 0 {
				err = d.ArgErr()
			}
		default:
			err = d.Errf("unknown assertion option %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}
