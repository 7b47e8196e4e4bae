// Package caddymodule is everything Caddy about cubeauth: the cubeauth app,
// the storage drivers (cubeauth.storage.*), the
// http.handlers.cubeauth handler with its Caddyfile directive, the HTTP
// endpoints that speak ConnectyCube's wire format, forwarding with identity
// headers, and the shared store pool.
package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/store"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler authenticates ConnectyCube-style clients. It answers the session,
// login and users endpoints itself and forwards every other request to the
// next handler with identity headers that clients cannot forge.
type Handler struct {
	// StorageRaw is the storage driver, a cubeauth.storage module
	// (badger or postgres): where apps, users and sessions are kept.
	// Default: Badger in Caddy's data directory + "/cubeauth".
	StorageRaw json.RawMessage `json:"storage,omitempty" caddy:"namespace=cubeauth.storage inline_key=driver"`
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
	// ForwardedCORS says who answers CORS on forwarded paths: "cubeauth"
	// (cubeauth answers their preflights and puts its CORS headers on the
	// backend's answers, replacing the backend's) or "backend" (preflights
	// go to the backend, and its answers pass as they are). cubeauth's own
	// answers (refusals included) carry CORS headers either way.
	// Default: cubeauth.
	ForwardedCORS string `json:"forwarded_cors,omitempty"`
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
	// Limits override the abuse limits; each field documents its default.
	Limits *LimitsConfig `json:"limits,omitempty"`
	// Apps are declared here; their fields are authoritative on every load.
	// Apps may also be created at runtime through the admin API.
	Apps []AppConfig `json:"apps,omitempty"`
	// AppSessionWebSockets lets app sessions (no user) open WebSocket
	// connections. An app session is read-only, and an upgraded connection
	// carries writes the method check cannot see, so by default such an
	// upgrade is refused with 403 "Forbidden. Need user.". (An app
	// session's other upgrade offers, such as h2c, always lose their
	// Upgrade header and go on as plain reads.) Default: false.
	AppSessionWebSockets bool `json:"app_session_websockets,omitempty"`
	// ChatPasswordSecret turns on POST /cubeauth/chat_password, where
	// cubeauth-extauth, showing this secret, asks whether an XMPP login's
	// password is the user's password (ConnectyCube's chat accepts it as
	// well as a session token). At least 16 characters; placeholders
	// ({env.X}, {file.X}) are resolved. Default: none, and the path is
	// forwarded like any other.
	ChatPasswordSecret string `json:"chat_password_secret,omitempty"`

	chatSecret []byte

	// AccountSettings is what GET /account_settings answers. Default: none,
	// and the endpoint answers 404 in the ConnectyCube error shape.
	AccountSettings *AccountSettings `json:"account_settings,omitempty"`
	// SMTP is the mail server for password reset mails. Default: none, and
	// password reset requests are refused.
	SMTP *SMTPConfig `json:"smtp,omitempty"`
	// PasswordReset is the password reset mail of every app.
	PasswordReset *PasswordResetConfig `json:"password_reset,omitempty"`
	// Assertion signs an identity assertion onto every forwarded request
	// (assertion.go). Default: none.
	Assertion *AssertionConfig `json:"assertion,omitempty"`

	storage   Storage
	engine    *engine
	hasherKey string
	apps      []configApp
	opts      authcore.Options
	logger    *zap.Logger
	headers   identityHeaders
	// corsOrigins is nil when every origin is allowed.
	corsOrigins map[string]bool
	// expiry caches the forwarded answers' CB-Token-ExpirationDate.
	expiry *expiryCache
	// resets is the password reset state (passwordreset.go).
	resets *resetState
	// providers are the declared apps' outside identity providers.
	providers map[int64]authcore.AppProviders
	// xmppKicks are the declared apps' XMPP servers to end streams on.
	xmppKicks map[int64]*xmppKicker

	// Set when the config starts (App.Start), before ready.
	service       *authcore.Service
	sockets       *socketRegistry
	chat          *chatStreams
	removeService func()
	removeKickers func()
	// assertions signs the identity assertions when Assertion is set.
	assertions     *authcore.Assertions
	stopAssertions func()
	// ready is set, and started closed, once the handler may serve.
	// (A pointer, as Caddy copies a Handler value for its module info.)
	ready   *atomic.Bool
	started chan struct{}
}

// AppConfig declares an application.
type AppConfig struct {
	// ID is the application ID, a positive integer.
	ID int64 `json:"id"`
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
	// ListUsers is "allow" or "deny": whether app and guest sessions may
	// list and look up users. Default: follows the stage (development
	// allows, production denies). Signed-in users always may.
	ListUsers string `json:"list_users,omitempty"`
	// GuestSessions is "allow" or "deny": whether guest sessions may be
	// created. Default: follows session_without_user.
	GuestSessions string `json:"guest_sessions,omitempty"`
	// PublicUserFields and PrivateUserFields override which user fields
	// other sessions see. By default email, phone, external_id,
	// facebook_id and twitter_id are private; full_name, website,
	// custom_data, avatar, user_tags and timezone are public.
	PublicUserFields  []string `json:"public_user_fields,omitempty"`
	PrivateUserFields []string `json:"private_user_fields,omitempty"`
	// MinPasswordLength is the fewest characters a new password may have,
	// 8 to 128. Default: 8.
	MinPasswordLength int `json:"min_password_length,omitempty"`
	// PasswordReset overrides the handler's password reset mail for this app.
	PasswordReset *PasswordResetConfig `json:"password_reset,omitempty"`
	// Firebase turns on Firebase phone and email sign-in. Default: off.
	Firebase *FirebaseAppConfig `json:"firebase,omitempty"`
	// IdentityProvider makes the app's logins tokens of its custom identity
	// provider (ConnectyCube's CIdP). Default: off.
	IdentityProvider *IdentityProviderConfig `json:"identity_provider,omitempty"`
	// XMPPKick is the app's XMPP server (ejabberd's HTTP API), told to end
	// a user's streams when a session they logged in to chat with ends.
	// Default: none, and an open stream outlives its session.
	XMPPKick *XMPPKickConfig `json:"xmpp_kick,omitempty"`
}

// userFields is the app's field visibility overrides.
func (ac AppConfig) userFields() (map[string]string, error) {
	if len(ac.PublicUserFields)+len(ac.PrivateUserFields) == 0 {
		return nil, nil
	}
	fields := map[string]string{}
	for _, f := range ac.PublicUserFields {
		fields[f] = store.VisibilityPublic
	}
	for _, f := range ac.PrivateUserFields {
		if fields[f] == store.VisibilityPublic {
			return nil, fmt.Errorf("%s is both a public and a private user field", f)
		}
		fields[f] = store.VisibilityPrivate
	}
	return fields, nil
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.cubeauth",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision checks the config, loads the storage driver and registers the
// handler with the cubeauth app, which opens the store and applies the
// declared apps when the config starts. Nothing here opens or writes a
// store: caddy validate provisions every module.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.ready, h.started = new(atomic.Bool), make(chan struct{})
	if err := initMetrics(ctx); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	if h.HeaderPrefix == "" {
		h.HeaderPrefix = "X-Cube-"
	}
	h.headers = newIdentityHeaders(h.HeaderPrefix)
	h.expiry = new(expiryCache)
	if len(h.CORSOrigins) > 0 && !slices.Contains(h.CORSOrigins, "*") {
		h.corsOrigins = map[string]bool{}
		for _, o := range h.CORSOrigins {
			h.corsOrigins[o] = true
		}
	}
	var err error
	if h.apps, err = h.configApps(caddy.NewReplacer()); err != nil {
		return err
	}
	limits, err := h.Limits.limits()
	if err != nil {
		return err
	}
	limits.ReportSharedCounters = sharedCountersLog{h.logger}
	if h.storage, err = h.loadStorage(ctx); err != nil {
		return err
	}
	if h.engine, err = acquireEngine(h.storage); err != nil {
		return err
	}
	hasher, hasherKey, err := acquireHasher(h.hasherSettings(), h.logger)
	if err != nil {
		return err
	}
	h.hasherKey = hasherKey
	h.opts = authcore.Options{
		Limits:        &limits,
		SessionTTL:    time.Duration(h.SessionTTL),
		SessionMaxAge: time.Duration(h.SessionMaxAge),
		GuestTTL:      time.Duration(h.GuestTTL),
		CacheSize:     h.SessionCacheSize,
		OfflineGrace:  h.storage.OfflineGrace(),
		Hasher:        hasher,
	}
	if err := h.provisionPasswordReset(); err != nil {
		return err
	}
	if err := h.provisionProviders(); err != nil {
		return err
	}
	if err := h.provisionXMPPKicks(caddy.NewReplacer()); err != nil {
		return err
	}
	if err := h.provisionChatPassword(); err != nil {
		return err
	}
	if err := h.AccountSettings.validate(); err != nil {
		return err
	}
	if err := h.provisionAssertion(); err != nil {
		return err
	}
	app, err := ctx.App("cubeauth")
	if err != nil {
		return err
	}
	return app.(*App).register(h)
}

// sharedCountersLog logs when the store's shared abuse-limit counters stop
// and start answering, once each time.
type sharedCountersLog struct{ logger *zap.Logger }

// ReportError implements authcore.ErrorReporter.
func (l sharedCountersLog) ReportError(err error) {
	if err != nil {
		l.logger.Warn("shared abuse-limit counters unavailable: each node counts alone until they answer", zap.Error(err))
		return
	}
	l.logger.Info("shared abuse-limit counters answer again")
}

// loadStorage loads the configured driver, or the default Badger one.
func (h *Handler) loadStorage(ctx caddy.Context) (Storage, error) {
	if h.StorageRaw == nil {
		s := new(BadgerStorage)
		return s, s.Provision(ctx)
	}
	mod, err := ctx.LoadModule(h, "StorageRaw")
	if err != nil {
		return nil, fmt.Errorf("loading storage driver: %w", err)
	}
	return mod.(Storage), nil
}

func (h *Handler) hasherSettings() hasherSettings {
	s := hasherSettings{
		params:      h.Argon2.params(),
		concurrency: h.HashConcurrency,
		wait:        time.Duration(h.HashWait),
		inProcess:   h.HashInProcess,
	}
	if s.concurrency <= 0 {
		s.concurrency = authcore.DefaultHashConcurrency()
	}
	if s.wait <= 0 {
		s.wait = 5 * time.Second
	}
	return s
}

// start opens the store (shared with every other handler over it) and
// starts the handler's service. The handler serves after serve.
func (h *Handler) start() error {
	if err := h.engine.open(h.logger); err != nil {
		return err
	}
	st := h.engine.st
	h.service = authcore.New(st, h.opts)
	h.sockets = h.engine.sockets
	h.chat = h.engine.chat
	h.removeService = h.engine.addService(h.service)
	if len(h.xmppKicks) > 0 {
		h.removeKickers = h.chat.addKickers(h.xmppKicks)
	}
	h.startAssertions(st)
	return nil
}

// serve lets requests through, once the declared apps are applied.
func (h *Handler) serve() {
	h.ready.Store(true)
	close(h.started)
}

// startWait bounds how long a request that arrives before the config has
// started waits for it: Caddy starts its apps in no fixed order, so the
// HTTP server may take requests a moment before cubeauth has opened the
// store.
const startWait = 10 * time.Second

// awaitStart waits for serve; false means the request must be refused.
func (h *Handler) awaitStart(r *http.Request) bool {
	timer := time.NewTimer(startWait)
	defer timer.Stop()
	select {
	case <-h.started:
		return true
	case <-timer.C:
	case <-r.Context().Done():
	}
	return false
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
		id := ac.ID
		if id <= 0 {
			return nil, fmt.Errorf("app id must be a positive integer")
		}
		if seen[id] {
			return nil, fmt.Errorf("app %d is declared twice", id)
		}
		seen[id] = true
		fields, err := ac.userFields()
		if err != nil {
			return nil, fmt.Errorf("app %d: %w", id, err)
		}
		a := store.App{
			ID:                 id,
			Name:               ac.Name,
			AuthKey:            repl.ReplaceKnown(ac.AuthKey, ""),
			AuthSecret:         repl.ReplaceKnown(ac.AuthSecret, ""),
			Stage:              ac.Stage,
			SessionWithoutUser: ac.SessionWithoutUser,
			RequireSignature:   ac.RequireSignature,
			ListUsers:          ac.ListUsers,
			GuestSessions:      ac.GuestSessions,
			UserFields:         fields,
			MinPasswordLength:  ac.MinPasswordLength,
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
		pin(authcore.FieldListUsers, a.ListUsers != "")
		pin(authcore.FieldGuestSessions, a.GuestSessions != "")
		pin(authcore.FieldUserFields, a.UserFields != nil)
		pin(authcore.FieldMinPasswordLength, a.MinPasswordLength != 0)
		// What the operator surface would check; the stage only once set.
		check := a
		if check.Stage == "" {
			check.Stage = store.StageDevelopment
		}
		if err := authcore.ValidateApp(check); err != nil {
			return nil, fmt.Errorf("app %d: %w", id, err)
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
	switch h.ForwardedCORS {
	case "", forwardedCORSCubeauth, forwardedCORSBackend:
	default:
		return errors.New("forwarded_cors must be cubeauth or backend")
	}
	if textproto.CanonicalMIMEHeaderKey(h.HeaderPrefix) == "" || strings.ContainsAny(h.HeaderPrefix, " :\r\n") {
		return errors.New("header_prefix must be a header name prefix such as X-Cube-")
	}
	return nil
}

// Cleanup stops the service and releases the store (closed when no other
// config still uses it) and the hasher. Only what Provision acquired is
// released: Cleanup also runs after a failed Provision.
func (h *Handler) Cleanup() error {
	if h.stopAssertions != nil {
		h.stopAssertions()
	}
	if h.removeService != nil {
		h.removeService()
	}
	if h.removeKickers != nil {
		h.removeKickers()
	}
	if h.service != nil {
		h.service.Close()
	}
	var errs []error
	if h.hasherKey != "" {
		errs = append(errs, releaseHasher(h.hasherKey))
	}
	if h.engine != nil {
		errs = append(errs, releaseEngine(h.engine))
	}
	return errors.Join(errs...)
}

// ServeHTTP answers the terminated endpoints and guards everything else.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// Nothing the client sends may pose as identity, on any path.
	h.headers.strip(r.Header)
	if h.Assertion != nil {
		delete(r.Header, h.Assertion.Header) // when it is not under the prefix
	}
	if err := h.headers.guardTrailers(r); err != nil {
		h.writeError(w, r, err)
		return nil
	}
	if !h.ready.Load() && !h.awaitStart(r) {
		h.writeError(w, r, authcore.ErrUnavailable)
		return nil
	}
	if h.assertions != nil && r.URL.Path == jwksPath {
		h.serveEndpoint(w, r, &endpoint{serve: (*Handler).serveJWKS})
		return nil
	}
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
