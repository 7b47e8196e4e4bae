// Package caddymodule is everything Caddy about cubeauth: the
// http.handlers.cubeauth handler with its Caddyfile directive, the HTTP
// endpoints that speak ConnectyCube's wire format, forwarding with identity
// headers, and the shared store pool.
package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/hashworker"
	"github.com/cubeauth/cubeauth/store"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler authenticates ConnectyCube-style clients. It answers the session,
// login and users endpoints itself and forwards every other request to the
// next handler with identity headers that clients cannot forge.
type Handler struct {
	// Storage says where apps, users and sessions are kept.
	// Default: Badger in Caddy's data directory + "/cubeauth".
	Storage *StorageConfig `json:"storage,omitempty"`
	// SessionTTL is the idle expiry of a session, extended by every request.
	// Default: 2h.
	SessionTTL caddy.Duration `json:"session_ttl,omitempty"`
	// SessionMaxAge is the absolute lifetime of a session. Default: 720h.
	SessionMaxAge caddy.Duration `json:"session_max_age,omitempty"`
	// GuestTTL is the lifetime of guest users and their sessions. Default: 24h.
	GuestTTL caddy.Duration `json:"guest_ttl,omitempty"`
	// HeaderPrefix prefixes the injected identity headers. Every header the
	// client sends under this prefix is removed. Default: "X-Cube-".
	HeaderPrefix string `json:"header_prefix,omitempty"`
	// PassCredentials forwards the client's token (CB-Token, Authorization,
	// or the WebSocket query parameter) to the backend. Default: false.
	PassCredentials bool `json:"pass_credentials,omitempty"`
	// PreflightWithToken requires a token on CORS preflight requests to
	// forwarded paths. Default: false (preflights pass, since browsers never
	// send credentials on them).
	PreflightWithToken bool `json:"preflight_with_token,omitempty"`
	// BackendErrors says who answers an error returned by the handlers
	// after cubeauth (such as reverse_proxy's 502): "answer" (cubeauth
	// answers it in ConnectyCube's error shape and logs it without the
	// request's credentials) or "caddy" (returned to Caddy, so handle_errors
	// sees it; Caddy then logs the request as it arrived, token included,
	// unless a log filter removes it). Default: answer.
	BackendErrors string `json:"backend_errors,omitempty"`
	// CORSOrigins are the origins the terminated endpoints allow.
	// Default: ["*"].
	CORSOrigins []string `json:"cors_origins,omitempty"`
	// SessionCacheSize bounds the validated sessions kept in memory; -1
	// disables the cache. Default: 100000.
	SessionCacheSize int `json:"session_cache_size,omitempty"`
	// HashConcurrency is how many password hashes may run at once.
	// Default: the number of CPUs less one (at least one), so that hashing
	// never takes every CPU from the proxied requests.
	HashConcurrency int `json:"hash_concurrency,omitempty"`
	// HashWait is how long a login waits for a hashing turn before it is
	// answered 503. Default: 5s.
	HashWait caddy.Duration `json:"hash_wait,omitempty"`
	// HashInProcess hashes passwords inside Caddy's process. By default
	// they are hashed in child processes (copies of this executable) at the
	// lowest CPU priority, so that a burst of logins cannot stall the Go
	// scheduler and garbage collector that serve the proxied requests.
	// Default: false.
	HashInProcess bool `json:"hash_in_process,omitempty"`
	// Argon2 sets the password hashing cost. Default: OWASP's m=19456 KiB,
	// t=2, p=1. Stored hashes keep their own parameters; weaker ones are
	// upgraded at the next login.
	Argon2 *Argon2Config `json:"argon2,omitempty"`
	// Limits override the abuse limits (see LimitsConfig). Defaults: wrong
	// passwords 10/15m per account and IP, 100/1h per account, 100/15m per
	// IP; session creations 600/1m per IP; signups 60/1m per IP.
	Limits LimitsConfig `json:"limits,omitempty"`
	// Apps are declared here; their fields are authoritative on every load.
	// Apps may also be created at runtime through the admin API.
	Apps []AppConfig `json:"apps,omitempty"`

	service  *authcore.Service
	storeKey string
	// sockets closes the open WebSocket connections of ended sessions.
	sockets *socketRegistry
	// unregister removes the service from the registry the admin API and
	// dashboard read (registry.go).
	unregister func()
	logger     *zap.Logger
	headers    identityHeaders
	// corsOrigins is nil when every origin is allowed.
	corsOrigins map[string]bool
}

// AppConfig declares an application.
type AppConfig struct {
	// ID is the application ID, a positive integer (a JSON number or string).
	ID FlexInt `json:"id"`
	// Name is a label for operators.
	Name string `json:"name,omitempty"`
	// AuthKey identifies the app's clients. A UUID for new apps; any string
	// is accepted for keys carried over from ConnectyCube.
	AuthKey string `json:"auth_key,omitempty"`
	// AuthSecret verifies legacy signed session creation. Placeholders such
	// as {env.X} and {file.X} are replaced at load time.
	AuthSecret string `json:"auth_secret,omitempty"`
	// Stage is "development" or "production". Default: development, unless
	// set at runtime.
	Stage string `json:"stage,omitempty"`
	// SessionWithoutUser is "allow" or "deny": whether session creation for
	// a login that does not exist creates the user. Default: follows the
	// stage (development allows, production denies).
	SessionWithoutUser string `json:"session_without_user,omitempty"`
	// RequireSignature refuses unsigned session creation.
	RequireSignature bool `json:"require_signature,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.cubeauth",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision opens (or shares) the store, applies the configured apps and
// starts the authentication service.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if err := initMetrics(ctx); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	if h.HeaderPrefix == "" {
		h.HeaderPrefix = "X-Cube-"
	}
	h.headers = newIdentityHeaders(h.HeaderPrefix)
	if len(h.CORSOrigins) > 0 && !slices.Contains(h.CORSOrigins, "*") {
		h.corsOrigins = map[string]bool{}
		for _, o := range h.CORSOrigins {
			h.corsOrigins[o] = true
		}
	}
	repl := caddy.NewReplacer()
	apps, err := h.configApps(repl)
	if err != nil {
		return err
	}
	limits, err := h.Limits.limits()
	if err != nil {
		return err
	}
	st, key, err := acquireStore(ctx, h.Storage, repl)
	if err != nil {
		return err
	}
	h.storeKey = key
	h.sockets = liveSockets.acquire(key, st)
	concurrency := h.HashConcurrency
	if concurrency <= 0 {
		concurrency = authcore.DefaultHashConcurrency()
	}
	wait := time.Duration(h.HashWait)
	if wait <= 0 {
		wait = 5 * time.Second
	}
	hasher := authcore.NewHasher(h.Argon2.params(), concurrency, wait)
	if !h.HashInProcess {
		// Workers start at the first login, so Provision (and caddy
		// validate) starts no process.
		logger := h.logger
		pool, err := hashworker.New(concurrency, func(err error) {
			logger.Warn("hash worker could not start; hashing in Caddy's process for a minute", zap.Error(err))
		})
		if err != nil {
			h.logger.Warn("password hashing stays in Caddy's process", zap.Error(err))
		} else {
			hasher.UseDeriver(pool)
		}
	}
	h.service = authcore.New(st, authcore.Options{
		Limits:        &limits,
		SessionTTL:    time.Duration(h.SessionTTL),
		SessionMaxAge: time.Duration(h.SessionMaxAge),
		GuestTTL:      time.Duration(h.GuestTTL),
		CacheSize:     h.SessionCacheSize,
		OfflineGrace:  h.Storage.offlineGrace(),
		Hasher:        hasher,
	})
	declared := make([]int64, 0, len(apps))
	for _, a := range apps {
		declared = append(declared, a.app.ID)
		if err := h.service.ApplyConfigApp(ctx, a.app, a.pinned); err != nil {
			return fmt.Errorf("applying app %d: %w", a.app.ID, err)
		}
		if a.app.Stage == store.StageProduction && a.app.SessionWithoutUser == store.PermissionAllow {
			h.logger.Warn("app is in production but creates users on first session",
				zap.Int64("app_id", a.app.ID))
		}
	}
	if err := h.service.UnpinUndeclaredApps(ctx, declared); err != nil {
		return fmt.Errorf("releasing apps no longer in the config: %w", err)
	}
	h.unregister = runningServices.register(h.storeKey, h.service)
	return nil
}

type configApp struct {
	app    store.App
	pinned []string
}

// configApps validates the declared apps, replaces placeholders in their
// secrets and notes which fields the config pins.
func (h *Handler) configApps(repl *caddy.Replacer) ([]configApp, error) {
	seen := map[int64]bool{}
	var out []configApp
	for _, ac := range h.Apps {
		id := int64(ac.ID)
		if id <= 0 {
			return nil, fmt.Errorf("app id must be a positive integer")
		}
		if seen[id] {
			return nil, fmt.Errorf("app %d is declared twice", id)
		}
		seen[id] = true
		a := store.App{
			ID:                 id,
			Name:               ac.Name,
			AuthKey:            repl.ReplaceKnown(ac.AuthKey, ""),
			AuthSecret:         repl.ReplaceKnown(ac.AuthSecret, ""),
			Stage:              ac.Stage,
			SessionWithoutUser: ac.SessionWithoutUser,
			RequireSignature:   ac.RequireSignature,
		}
		var pinned []string
		pin := func(field string, set bool) {
			if set {
				pinned = append(pinned, field)
			}
		}
		pin(authcore.FieldName, a.Name != "")
		pin(authcore.FieldAuthKey, a.AuthKey != "")
		pin(authcore.FieldAuthSecret, a.AuthSecret != "")
		pin(authcore.FieldStage, a.Stage != "")
		pin(authcore.FieldSessionWithoutUser, a.SessionWithoutUser != "")
		pin(authcore.FieldRequireSignature, a.RequireSignature)
		switch a.Stage {
		case "", store.StageDevelopment, store.StageProduction:
		default:
			return nil, fmt.Errorf("app %d: stage must be development or production", id)
		}
		switch a.SessionWithoutUser {
		case "", store.PermissionAllow, store.PermissionDeny:
		default:
			return nil, fmt.Errorf("app %d: session_without_user must be allow or deny", id)
		}
		if a.RequireSignature && a.AuthSecret == "" {
			return nil, fmt.Errorf("app %d: require_signature needs an auth_secret", id)
		}
		out = append(out, configApp{app: a, pinned: pinned})
	}
	return out, nil
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	if h.SessionTTL < 0 || h.SessionMaxAge < 0 || h.GuestTTL < 0 {
		return errors.New("durations must not be negative")
	}
	if time.Duration(h.SessionMaxAge) != 0 && h.SessionMaxAge < h.SessionTTL {
		return errors.New("session_max_age must not be shorter than session_ttl")
	}
	switch h.BackendErrors {
	case "", backendErrorsAnswer, backendErrorsToCaddy:
	default:
		return errors.New("backend_errors must be answer or caddy")
	}
	if textproto.CanonicalMIMEHeaderKey(h.HeaderPrefix) == "" || strings.ContainsAny(h.HeaderPrefix, " :\r\n") {
		return errors.New("header_prefix must be a header name prefix such as X-Cube-")
	}
	return nil
}

// Cleanup stops the service and releases the store (closed when no other
// config still uses it). Only what Provision acquired is released.
func (h *Handler) Cleanup() error {
	if h.unregister != nil {
		h.unregister()
	}
	if h.service != nil {
		h.service.Close()
	}
	if h.storeKey != "" {
		liveSockets.release(h.storeKey)
		return releaseStore(h.storeKey)
	}
	return nil
}

// ServeHTTP answers the terminated endpoints and guards everything else.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// Nothing the client sends may pose as identity, on any path.
	h.headers.strip(r.Header)
	if ep := h.endpointFor(r); ep != nil {
		h.serveEndpoint(w, r, ep)
		return nil
	}
	return h.forward(w, r, next)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
