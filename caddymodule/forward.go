package caddymodule

import (
	"errors"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/authcore"
)

// identityHeaders are the canonical names of the injected headers,
// computed once so the proxied path allocates nothing for them.
type identityHeaders struct {
	prefix                            string
	userID, appID, login, sessionType string
}

func newIdentityHeaders(prefix string) identityHeaders {
	canon := textproto.CanonicalMIMEHeaderKey
	return identityHeaders{
		prefix:      prefix,
		userID:      canon(prefix + "User-Id"),
		appID:       canon(prefix + "App-Id"),
		login:       canon(prefix + "User-Login"),
		sessionType: canon(prefix + "Session-Type"),
	}
}

// strip deletes every header under the identity prefix, whatever its case.
func (ih identityHeaders) strip(hdr http.Header) {
	for k := range hdr {
		if ih.underPrefix(k) {
			delete(hdr, k)
		}
	}
}

// underPrefix reports whether the header name is under the identity
// prefix, whatever its case.
func (ih identityHeaders) underPrefix(name string) bool {
	n := len(ih.prefix)
	return len(name) >= n && strings.EqualFold(name[:n], ih.prefix)
}

// namesPrefixed reports whether a comma-separated list of header names (a
// Connection or Trailer value) names one under the identity prefix.
func (ih identityHeaders) namesPrefixed(list string) bool {
	for name := range strings.SplitSeq(list, ",") {
		if ih.underPrefix(textproto.TrimString(name)) {
			return true
		}
	}
	return false
}

// stripConnectionTokens removes from the Connection header every name
// under the identity prefix. reverse_proxy deletes the headers a request's
// Connection names, as hop-by-hop, after cubeauth has injected the
// identity: "Connection: X-Cube-User-Id" would otherwise deliver a user's
// request without its user id. Stripping (rather than refusing) keeps such
// a request working; the other tokens (Upgrade, keep-alive) stay.
func (ih identityHeaders) stripConnectionTokens(hdr http.Header) {
	vals := hdr["Connection"]
	if !slices.ContainsFunc(vals, ih.namesPrefixed) {
		return // the common case allocates nothing
	}
	var kept []string
	for _, v := range vals {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" && !ih.underPrefix(name) {
				kept = append(kept, name)
			}
		}
	}
	if len(kept) == 0 {
		delete(hdr, "Connection")
		return
	}
	hdr["Connection"] = []string{strings.Join(kept, ", ")}
}

// methodOverrideHeaders make some frameworks (Rails, Laravel, Express's
// method-override, ASP.NET) treat a request as another method. App sessions
// are read-only, so a GET must not become a DELETE behind cubeauth's back.
var methodOverrideHeaders = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// stripMethodOverrides deletes the method-override headers.
func stripMethodOverrides(hdr http.Header) {
	for _, k := range methodOverrideHeaders {
		delete(hdr, k)
	}
}

// inject sets the identity headers; userID is "" for an app session. The
// values share one backing array (one allocation, not four); each slice's
// capacity is 1, so a later handler's append cannot overwrite a neighbour.
func (ih identityHeaders) inject(hdr http.Header, app *forwardedApp, userID, login string) {
	n := 2
	if userID != "" {
		n = 4
	}
	vals := make([]string, n)
	vals[0], vals[1] = app.appID, app.sessionType
	hdr[ih.appID] = vals[0:1:1]
	hdr[ih.sessionType] = vals[1:2:2]
	if userID != "" {
		vals[2], vals[3] = userID, login
		hdr[ih.userID] = vals[2:3:3]
		hdr[ih.login] = vals[3:4:4]
	}
}

// forwardedApp is what forwarding needs for one app and session type,
// made once: the header values, the same boxed for placeholders (repl.Set
// takes an any, and boxing a string allocates), and the metrics counter.
type forwardedApp struct {
	appID, sessionType           string
	appIDValue, sessionTypeValue any
	forwarded                    prometheus.Counter
}

// forwardedApps holds a *forwardedApp per forwardKey, for the process: apps
// are few, and the counters are process-wide too.
var forwardedApps sync.Map

func forwardedAppFor(id authcore.Identity) *forwardedApp {
	key := forwardKey{appID: id.AppID, user: id.UserID != 0}
	if fa, ok := forwardedApps.Load(key); ok {
		return fa.(*forwardedApp)
	}
	appID, sessionType := strconv.FormatInt(id.AppID, 10), id.SessionType()
	fa, _ := forwardedApps.LoadOrStore(key, &forwardedApp{
		appID: appID, sessionType: sessionType,
		appIDValue: appID, sessionTypeValue: sessionType,
		forwarded: forwardedCounter(appID, sessionType),
	})
	return fa.(*forwardedApp)
}

// forward authenticates a request for the backend and passes it on with the
// identity headers, or refuses it. It fails closed: when the store cannot
// answer, the request is refused with 503, never forwarded.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if isPreflight(r) && !h.PreflightWithToken {
		if h.ownsForwardedCORS() {
			h.setCORS(w.Header(), r)
			h.answerPreflight(w)
			return nil
		}
		return next.ServeHTTP(w, r)
	}
	// An upgrade's query is read before the token is taken out of it: a
	// query Go cannot parse unambiguously (a stray ';' or bad escape) may
	// mean something else to the backend, and is refused.
	var upgradeQuery url.Values
	if isWebSocket(r) {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			h.writeError(w, r, errMalformedUpgradeQuery)
			return nil
		}
		upgradeQuery = q
	}
	token := h.takeToken(r)
	id, err := h.service.Authenticate(r.Context(), token)
	if errors.Is(err, authcore.ErrTokenRequired) {
		// The SDKs start their renew-and-retry hook only on this body.
		err = authcore.ErrSessionNotFound
	}
	if err != nil {
		h.writeError(w, r, err)
		return nil
	}
	if !isSafeMethod(r.Method) {
		if err := id.RequireUser(); err != nil {
			h.writeError(w, r, err)
			return nil
		}
	}
	if id.UserID == 0 {
		stripMethodOverrides(r.Header)
		// An upgraded connection carries writes too, invisible to the
		// method check above.
		switch {
		case r.Header["Upgrade"] == nil:
		case !isWebSocket(r):
			// Another protocol (h2c, which Java's HttpClient offers on
			// every cleartext request): a server may ignore Upgrade, so
			// the request goes on as the plain read it also is.
			delete(r.Header, "Upgrade")
		case !h.AppSessionWebSockets:
			h.writeError(w, r, authcore.ErrNeedUser)
			return nil
		}
	}
	// Only WebSocket upgrades are checked: parsing the query of every
	// proxied request would cost allocations for nothing.
	if isWebSocket(r) {
		if err := checkUpgradeUserID(upgradeQuery, id); err != nil {
			h.writeError(w, r, err)
			return nil
		}
	}
	h.headers.stripConnectionTokens(r.Header)
	app := forwardedAppFor(id)
	var userID string
	if id.UserID != 0 {
		userID = strconv.FormatInt(id.UserID, 10)
	}
	h.headers.inject(r.Header, app, userID, id.Login)
	if h.assertions != nil {
		if err := h.setAssertion(r, id); err != nil {
			h.writeError(w, r, err)
			return nil
		}
	}
	setUserPlaceholders(r, app, userID, id.Login)
	app.forwarded.Inc()
	// Every request slides the session; the Flutter SDK takes a missing
	// header for an expired session.
	opts := h.service.Options()
	w.Header()[expiryHeader] = h.expiry.values(opts.Now(), opts.SessionTTL)
	if h.ownsForwardedCORS() && !isWebSocket(r) && r.Header["Origin"] != nil {
		// Only a browser's request (it has an Origin) pays for the wrapper.
		w = &corsWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, h: h, r: r}
	}
	if isWebSocket(r) && h.sockets != nil {
		// Track the upgraded connection, so ending the session closes it.
		w = &hijackTracker{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, sockets: h.sockets, id: id}
	}
	err = next.ServeHTTP(w, r)
	if err == nil || h.BackendErrors == backendErrorsToCaddy {
		return err
	}
	h.answerBackendError(w, r, err)
	return nil
}

// Values of BackendErrors.
const (
	backendErrorsAnswer  = "answer"
	backendErrorsToCaddy = "caddy"
)

// answerBackendError answers an error from the handlers after cubeauth
// (reverse_proxy's 502, say) itself. Handing it to Caddy would log it with
// a copy of the request taken before cubeauth removed the token, and Caddy
// redacts only Authorization and cookies, not CB-Token or ?token=.
func (h *Handler) answerBackendError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadGateway
	var herr caddyhttp.HandlerError
	if errors.As(err, &herr) && herr.StatusCode != 0 {
		status = herr.StatusCode
	}
	if status >= 500 {
		h.logger.Error("backend failed", zap.String("method", r.Method),
			zap.String("path", r.URL.Path), zap.Int("status", status), zap.Error(err))
	}
	h.ensureCORS(w.Header(), r)
	writeJSON(w, status, base(http.StatusText(status)))
}

// setUserPlaceholders sets the http.auth.user.* placeholders; userID is ""
// for an app session.
func setUserPlaceholders(r *http.Request, app *forwardedApp, userID, login string) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	if userID != "" {
		repl.Set("http.auth.user.id", userID)
		repl.Set("http.auth.user.login", login)
	}
	repl.Set("http.auth.user.app_id", app.appIDValue)
	repl.Set("http.auth.user.session_type", app.sessionTypeValue)
}

func isSafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}

func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}
