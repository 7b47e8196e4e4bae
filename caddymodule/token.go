package caddymodule

import (
	"net/http"
	"strings"
)

// Where a request carries its session token.
const (
	// tokenHeader is CB-Token in canonical form, so that looking it up
	// allocates nothing.
	tokenHeader = "Cb-Token"
	// bearerPrefix starts an Authorization header that carries the token;
	// the scheme matches in any case.
	bearerPrefix = "bearer "
	// tokenQueryParam carries the token on WebSocket upgrades, where
	// browsers cannot set headers.
	tokenQueryParam = "token"
)

// headerToken is the one parser of a request's token headers: CB-Token, or
// else Authorization: Bearer. An empty CB-Token counts as none (Flutter's
// SDK sends "CB-Token:" before it has a session). inAuthorization says the
// token was read from Authorization, which then belongs to cubeauth rather
// than to the backend.
func headerToken(hdr http.Header) (token string, inAuthorization bool) {
	if token = hdr.Get(tokenHeader); token != "" {
		return token, false
	}
	auth := hdr.Get("Authorization")
	if len(auth) > len(bearerPrefix) && strings.EqualFold(auth[:len(bearerPrefix)], bearerPrefix) {
		return strings.TrimSpace(auth[len(bearerPrefix):]), true
	}
	return "", false
}

// requestToken is the session token of a terminated request. Terminated
// endpoints are never WebSocket upgrades, so only the headers count.
func requestToken(r *http.Request) string {
	token, _ := headerToken(r.Header)
	return token
}

// takeToken is the session token of a forwarded request: from the headers,
// or on a WebSocket upgrade from the token query parameter. Unless
// credentials are to be passed on, it removes every copy from the request,
// so that none reaches the backend or its logs.
func (h *Handler) takeToken(r *http.Request) string {
	token, inAuthorization := headerToken(r.Header)
	if !h.PassCredentials {
		r.Header.Del(tokenHeader)
		if inAuthorization {
			r.Header.Del("Authorization")
		}
	}
	if !isWebSocket(r) {
		return token
	}
	// Only upgrades pay for parsing the query.
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
