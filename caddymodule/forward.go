package caddymodule

import (
	"errors"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
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
	n := len(ih.prefix)
	for k := range hdr {
		if len(k) >= n && strings.EqualFold(k[:n], ih.prefix) {
			delete(hdr, k)
		}
	}
}

func (ih identityHeaders) inject(hdr http.Header, id authcore.Identity) {
	hdr[ih.appID] = []string{strconv.FormatInt(id.AppID, 10)}
	hdr[ih.sessionType] = []string{id.SessionType()}
	if id.UserID != 0 {
		hdr[ih.userID] = []string{strconv.FormatInt(id.UserID, 10)}
		hdr[ih.login] = []string{id.Login}
	}
}

// tokenQueryParam carries the token on WebSocket upgrades, where browsers
// cannot set headers.
const tokenQueryParam = "token"

// forward authenticates a request for the backend and passes it on with the
// identity headers, or refuses it. It fails closed: when the store cannot
// answer, the request is refused with 503, never forwarded.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if isPreflight(r) && !h.PreflightWithToken {
		return next.ServeHTTP(w, r)
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
	if id.UserID == 0 && !isSafeMethod(r.Method) {
		h.writeError(w, r, authcore.ErrNeedUser)
		return nil
	}
	if want := r.URL.Query().Get("user_id"); want != "" && isWebSocket(r) && want != strconv.FormatInt(id.UserID, 10) {
		h.writeError(w, r, authcore.ErrForbidden)
		return nil
	}
	h.headers.inject(r.Header, id)
	setUserPlaceholders(r, id)
	countForwarded(id)
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
	writeJSON(w, status, base(http.StatusText(status)))
}

// takeToken finds the token in CB-Token, Authorization: Bearer, or (on a
// WebSocket upgrade only) the token query parameter, and removes it from the
// request unless credentials are to be passed on.
func (h *Handler) takeToken(r *http.Request) string {
	token := r.Header.Get("Cb-Token")
	if token == "" {
		if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
			token = strings.TrimSpace(auth[7:])
			if !h.PassCredentials {
				r.Header.Del("Authorization")
			}
		}
	}
	if !h.PassCredentials {
		r.Header.Del("Cb-Token")
	}
	if !isWebSocket(r) {
		return token
	}
	if q := r.URL.Query(); q.Has(tokenQueryParam) {
		if token == "" {
			token = q.Get(tokenQueryParam)
		}
		if !h.PassCredentials {
			q.Del(tokenQueryParam)
			r.URL.RawQuery = q.Encode()
			r.RequestURI = r.URL.RequestURI()
		}
	}
	return token
}

func setUserPlaceholders(r *http.Request, id authcore.Identity) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	if id.UserID != 0 {
		repl.Set("http.auth.user.id", strconv.FormatInt(id.UserID, 10))
		repl.Set("http.auth.user.login", id.Login)
	}
	repl.Set("http.auth.user.app_id", strconv.FormatInt(id.AppID, 10))
	repl.Set("http.auth.user.session_type", id.SessionType())
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
