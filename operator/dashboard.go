package operator

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"path"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Dashboard{})
	httpcaddyfile.RegisterHandlerDirective("cubeauth_dashboard", parseDashboardCaddyfile)
	// After basic_auth and forward_auth, so that they guard it, and with
	// the handlers that answer.
	httpcaddyfile.RegisterDirectiveOrder("cubeauth_dashboard", httpcaddyfile.Before, "respond")
}

// dashboardFiles is the web dashboard: plain HTML, CSS and a small vanilla
// script, no build step.
//
//go:embed dashboard/index.html dashboard/app.js dashboard/style.css
var dashboardFiles embed.FS

// dashboardAsset is an embedded file ready to serve.
type dashboardAsset struct {
	body        []byte
	contentType string
	etag        string
}

var dashboardAssets = loadDashboardAssets()

func loadDashboardAssets() map[string]dashboardAsset {
	types := map[string]string{
		".html": "text/html; charset=utf-8",
		".js":   "text/javascript; charset=utf-8",
		".css":  "text/css; charset=utf-8",
	}
	assets := map[string]dashboardAsset{}
	for _, name := range []string{"index.html", "app.js", "style.css"} {
		body, err := dashboardFiles.ReadFile("dashboard/" + name)
		if err != nil {
			panic("cubeauth dashboard: " + err.Error()) // embedded at build time: cannot happen
		}
		sum := sha256.Sum256(body)
		assets[name] = dashboardAsset{
			body:        body,
			contentType: types[path.Ext(name)],
			etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
		}
	}
	return assets
}

// dashboardCSP lets the page load only its own files and talk only to its
// own origin, and keeps it out of frames (clickjacking).
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// serveDashboard answers GET /cubeauth/ui and /cubeauth/ui/{file...}.
func serveDashboard(w http.ResponseWriter, r *http.Request, _ target) error {
	if !strings.HasSuffix(r.URL.Path, "/") && r.PathValue("file") == "" {
		return serveDashboardAsset(w, r, "")
	}
	return serveDashboardAsset(w, r, "/"+r.PathValue("file"))
}

// serveDashboardAsset serves /cubeauth/ui/<name>; name is "" or starts with
// "/".
func serveDashboardAsset(w http.ResponseWriter, r *http.Request, name string) error {
	if err := requireMethod(r, http.MethodGet); err != nil {
		return err
	}
	if name == "" {
		// Relative, so that it also works under a stripped path prefix
		// (http.Redirect would make it absolute).
		w.Header().Set("Location", "ui/")
		w.WriteHeader(http.StatusMovedPermanently)
		return nil
	}
	name = strings.TrimPrefix(name, "/")
	if name == "" {
		name = "index.html"
	}
	asset, ok := dashboardAssets[name]
	if !ok {
		return adminError(http.StatusNotFound, "not found")
	}
	h := w.Header()
	h.Set("Content-Type", asset.contentType)
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", asset.etag)
	if r.Header.Get("If-None-Match") == asset.etag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(asset.body)
	}
	return nil
}

// Dashboard is the http.handlers.cubeauth_dashboard module: the operator
// dashboard and its API (the same routes as the admin endpoint's
// /cubeauth/) on a site, for operators who cannot reach the admin endpoint,
// or want to use a browser: Caddy's admin endpoint refuses top-level browser
// navigations that carry no Origin or Referer, as a typed URL does.
//
// It must run behind authentication, such as Caddy's basic_auth: without
// an authenticated user it answers 403, unless AllowUnauthenticated is set
// (for a site that authenticates otherwise, such as mutual TLS). Requests
// that change something must come from the dashboard's own origin: a
// browser's cross-site request is refused even with cached credentials.
//
// Requests outside /cubeauth/ go to the next handler.
type Dashboard struct {
	// AllowUnauthenticated serves operators that no preceding handler
	// authenticated. Default: false.
	AllowUnauthenticated bool `json:"allow_unauthenticated,omitempty"`

	api *operatorAPI
}

// CaddyModule returns the Caddy module information.
func (Dashboard) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.cubeauth_dashboard",
		New: func() caddy.Module { return new(Dashboard) },
	}
}

// Provision sets up the logger.
func (d *Dashboard) Provision(ctx caddy.Context) error {
	d.api = newOperatorAPI(ctx.Logger())
	return nil
}

// ServeHTTP serves the dashboard and its API under /cubeauth/.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !strings.HasPrefix(r.URL.Path, operatorPrefix) {
		return next.ServeHTTP(w, r)
	}
	err := d.authorize(r)
	if err == nil {
		err = d.api.serve(w, r)
	}
	if err == nil {
		return nil
	}
	var apiErr caddy.APIError
	if !errors.As(err, &apiErr) {
		apiErr = caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err, Message: "internal error"}
	}
	if apiErr.HTTPStatus >= 500 {
		d.api.logger.Error("dashboard request failed", zap.String("method", r.Method),
			zap.String("path", r.URL.Path), zap.Int("status", apiErr.HTTPStatus), zap.Error(apiErr.Err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(apiErr.HTTPStatus)
	_ = json.NewEncoder(w).Encode(apiErr)
	return nil
}

// authorize refuses operators no one authenticated, cubeauth's own end
// users, and cross-site browser requests.
func (d *Dashboard) authorize(r *http.Request) error {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl != nil {
		if appID, _ := repl.GetString("http.auth.user.app_id"); appID != "" {
			// Authenticated by the cubeauth handler: an app's end user.
			return adminError(http.StatusForbidden, "app users cannot use the cubeauth dashboard")
		}
	}
	if !d.AllowUnauthenticated {
		var user string
		if repl != nil {
			user, _ = repl.GetString("http.auth.user.id")
		}
		if user == "" {
			return adminError(http.StatusForbidden,
				"the cubeauth dashboard must run behind authentication such as basic_auth (or set allow_unauthenticated)")
		}
	}
	return sameOrigin(r)
}

// sameOrigin is a CSRF defence that does not depend on credentials: a
// browser names the origin of every request that changes something, and
// says how a request relates to the page that sent it; tools such as curl
// send neither header.
func sameOrigin(r *http.Request) error {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return adminError(http.StatusForbidden, "cross-site requests are not allowed ("+site+")")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		if r.Header.Get("Sec-Fetch-Site") != "" {
			return adminError(http.StatusForbidden, "the Origin header is missing")
		}
		return nil
	}
	host, ok := strings.CutPrefix(origin, "https://")
	if !ok {
		host, ok = strings.CutPrefix(origin, "http://")
	}
	if !ok || !strings.EqualFold(host, r.Host) {
		return adminError(http.StatusForbidden, "origin "+origin+" is not allowed")
	}
	return nil
}

func parseDashboardCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var d Dashboard
	err := d.UnmarshalCaddyfile(h.Dispenser)
	return &d, err
}

// UnmarshalCaddyfile sets up the dashboard handler. Syntax:
//
//	cubeauth_dashboard {
//		allow_unauthenticated   # only behind other authentication
//	}
func (d *Dashboard) UnmarshalCaddyfile(disp *caddyfile.Dispenser) error {
	disp.Next() // directive name
	if disp.NextArg() {
		return disp.ArgErr()
	}
	for disp.NextBlock(0) {
		switch disp.Val() {
		case "allow_unauthenticated":
			if disp.NextArg() {
				return disp.ArgErr()
			}
			d.AllowUnauthenticated = true
		default:
			return disp.Errf("unknown subdirective %q", disp.Val())
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Dashboard)(nil)
	_ caddyhttp.MiddlewareHandler = (*Dashboard)(nil)
	_ caddyfile.Unmarshaler       = (*Dashboard)(nil)
)
