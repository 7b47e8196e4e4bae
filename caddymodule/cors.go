package caddymodule

import (
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Browsers preflight every request because of the CB-* headers, so every
// answer cubeauth gives (terminated endpoints, refusals on forwarded paths)
// carries CORS headers, and by default cubeauth owns CORS on forwarded
// paths too (ForwardedCORS).
const (
	corsAllowHeaders  = "CB-Token, CB-AuthKey, CB-SDK, CB-OS, CB-AppId, ConnectyCube-REST-API-Version, QuickBlox-REST-API-Version, Content-Type, Authorization"
	corsAllowMethods  = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	corsExposeHeaders = "CB-Token-ExpirationDate, Date"
)

// The constant values, shared so a refusal allocates nothing for them;
// each slice's capacity is 1, so a later Add copies instead of writing into
// them.
var (
	corsExposeValues = []string{corsExposeHeaders}
	corsAnyOrigin    = []string{"*"}
)

// Values of ForwardedCORS.
const (
	forwardedCORSCubeauth = "cubeauth"
	forwardedCORSBackend  = "backend"
)

// ownsForwardedCORS reports whether cubeauth answers CORS on forwarded paths.
func (h *Handler) ownsForwardedCORS() bool { return h.ForwardedCORS != forwardedCORSBackend }

// setCORS allows the request's origin when it is one of CORSOrigins (or
// every origin with "*").
func (h *Handler) setCORS(hdr http.Header, r *http.Request) {
	hdr["Access-Control-Expose-Headers"] = corsExposeValues[:1:1]
	if h.corsOrigins == nil {
		hdr["Access-Control-Allow-Origin"] = corsAnyOrigin[:1:1]
		return
	}
	hdr.Add("Vary", "Origin")
	if origin := r.Header.Get("Origin"); h.corsOrigins[origin] {
		hdr.Set("Access-Control-Allow-Origin", origin)
	}
}

// ensureCORS sets the CORS headers unless serveEndpoint already did (its
// Expose header is the mark), so a refusal never repeats Vary.
func (h *Handler) ensureCORS(hdr http.Header, r *http.Request) {
	if hdr["Access-Control-Expose-Headers"] == nil {
		h.setCORS(hdr, r)
	}
}

func (h *Handler) answerPreflight(w http.ResponseWriter) {
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Methods", corsAllowMethods)
	hdr.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	hdr.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// corsWriter puts cubeauth's CORS headers on a backend's answer, in place
// of the backend's own: two Access-Control-Allow-Origin values make a
// browser refuse the answer. The backend's exposed headers are kept.
type corsWriter struct {
	*caddyhttp.ResponseWriterWrapper
	h     *Handler
	r     *http.Request
	wrote bool
}

func (cw *corsWriter) WriteHeader(status int) {
	if !cw.wrote && status >= 200 {
		cw.wrote = true
		hdr := cw.Header()
		backendExpose := hdr.Values("Access-Control-Expose-Headers")
		for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
			"Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age",
			"Access-Control-Expose-Headers"} {
			delete(hdr, k)
		}
		if vary := hdr.Values("Vary"); cw.h.corsOrigins != nil && varies(vary, "Origin") {
			// The backend already varies on Origin; setCORS would repeat it.
			cw.h.setCORS(hdr, cw.r)
			hdr["Vary"] = vary
		} else {
			cw.h.setCORS(hdr, cw.r)
		}
		if len(backendExpose) > 0 {
			hdr.Set("Access-Control-Expose-Headers", corsExposeHeaders+", "+strings.Join(backendExpose, ", "))
		}
	}
	cw.ResponseWriterWrapper.WriteHeader(status)
}

func (cw *corsWriter) Write(b []byte) (int, error) {
	if !cw.wrote {
		cw.WriteHeader(http.StatusOK)
	}
	return cw.ResponseWriterWrapper.Write(b)
}

// varies reports whether the Vary values name field.
func varies(vals []string, field string) bool {
	for _, v := range vals {
		for name := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(name), field) {
				return true
			}
		}
	}
	return false
}

// expiryHeader is the canonical key of CB-Token-ExpirationDate.
const expiryHeader = "Cb-Token-Expirationdate"

// expiryValue is a formatted CB-Token-ExpirationDate for one second.
type expiryValue struct {
	unix int64
	vals []string // cap 1, so a later Add copies rather than overwrites
}

// expiryCache formats the forwarded answers' CB-Token-ExpirationDate at
// most once a second, so the proxied path allocates nothing for it.
type expiryCache struct{ cur atomic.Pointer[expiryValue] }

// values is the header value for a session slid to now+ttl.
func (c *expiryCache) values(now time.Time, ttl time.Duration) []string {
	sec := now.Unix()
	if v := c.cur.Load(); v != nil && v.unix == sec {
		return v.vals
	}
	v := &expiryValue{unix: sec, vals: []string{expirationHeader(time.Unix(sec, 0).Add(ttl))}}
	c.cur.Store(v)
	return v.vals[:1:1]
}

// clientIP is the client address as Caddy determined it, honouring the
// server's trusted_proxies (never a raw X-Forwarded-For).
func clientIP(r *http.Request) string {
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	return ip
}
