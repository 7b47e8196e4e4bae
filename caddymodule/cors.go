package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// The terminated endpoints answer CORS themselves: browsers preflight every
// request because of the CB-* headers.
const (
	corsAllowHeaders  = "CB-Token, CB-AuthKey, CB-SDK, CB-OS, ConnectyCube-REST-API-Version, QuickBlox-REST-API-Version, Content-Type, Authorization"
	corsAllowMethods  = "GET, POST, PUT, DELETE, OPTIONS"
	corsExposeHeaders = "CB-Token-ExpirationDate, Date"
)

// setCORS allows the request's origin when it is one of CORSOrigins (or
// every origin with "*").
func (h *Handler) setCORS(hdr http.Header, r *http.Request) {
	hdr.Set("Access-Control-Expose-Headers", corsExposeHeaders)
	if h.corsOrigins == nil {
		hdr.Set("Access-Control-Allow-Origin", "*")
		return
	}
	hdr.Add("Vary", "Origin")
	if origin := r.Header.Get("Origin"); h.corsOrigins[origin] {
		hdr.Set("Access-Control-Allow-Origin", origin)
	}
}

func (h *Handler) answerPreflight(w http.ResponseWriter) {
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Methods", corsAllowMethods)
	hdr.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	hdr.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// clientIP is the client address as Caddy determined it, honouring the
// server's trusted_proxies (never a raw X-Forwarded-For).
func clientIP(r *http.Request) string {
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	return ip
}
