package operator

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/caddymodule"
)

// Paging of users and sessions.
const (
	defaultPageSize = 50
	maxPageSize     = 500
)

// operatorAPI answers the operator routes. The admin endpoint and the
// dashboard handler share it, so both offer exactly the same operations.
type operatorAPI struct {
	logger *zap.Logger
	mux    *http.ServeMux
}

// target is what a route works on: the chosen store's service and the IDs
// its path names (zero when it names none).
type target struct {
	svc                *authcore.Service
	app, user, session int64
}

// operation answers one route.
type operation func(w http.ResponseWriter, r *http.Request, t target) error

// route is one method and path pattern of the operator API, in
// http.ServeMux syntax; {app}, {user} and {session} are IDs.
type route struct {
	pattern string
	op      operation
	// global routes need no store.
	global bool
}

// routes is the operator API, every route in one table.
func (api *operatorAPI) routes() []route {
	return []route{
		{pattern: "GET /cubeauth/stores", op: api.listStores, global: true},
		{pattern: "GET /cubeauth/ui", op: serveDashboard, global: true},
		{pattern: "GET /cubeauth/ui/{file...}", op: serveDashboard, global: true},
		{pattern: "GET /cubeauth/assertion/jwks", op: api.assertionJWKS},
		{pattern: "POST /cubeauth/assertion/rotate", op: api.rotateAssertionKey},
		{pattern: "GET /cubeauth/apps", op: api.listApps},
		{pattern: "POST /cubeauth/apps", op: api.createApp},
		{pattern: "GET /cubeauth/apps/{app}", op: api.showApp},
		{pattern: "PATCH /cubeauth/apps/{app}", op: api.updateApp},
		{pattern: "DELETE /cubeauth/apps/{app}", op: api.deleteApp},
		{pattern: "POST /cubeauth/apps/{app}/rotate_key", op: api.rotateKey},
		{pattern: "GET /cubeauth/apps/{app}/users", op: api.listUsers},
		{pattern: "POST /cubeauth/apps/{app}/users/import", op: api.importUsers},
		{pattern: "GET /cubeauth/apps/{app}/users/export", op: api.exportUsers},
		{pattern: "GET /cubeauth/apps/{app}/users/{user}", op: api.showUser},
		{pattern: "DELETE /cubeauth/apps/{app}/users/{user}", op: api.deleteUser},
		{pattern: "POST /cubeauth/apps/{app}/users/{user}/end_sessions", op: api.endUserSessions},
		{pattern: "GET /cubeauth/apps/{app}/sessions", op: api.listSessions},
		{pattern: "DELETE /cubeauth/apps/{app}/sessions/{session}", op: api.revokeSession},
	}
}

// newOperatorAPI builds the route table into a ServeMux.
func newOperatorAPI(logger *zap.Logger) *operatorAPI {
	api := &operatorAPI{logger: logger, mux: http.NewServeMux()}
	routes := api.routes()
	for _, rt := range routes {
		api.mux.Handle(rt.pattern, api.handler(rt))
	}
	// Anything else under the prefix: 405 with the methods the path
	// takes, or 404, in the admin API's JSON error shape.
	api.mux.Handle(operatorPrefix, routeHandler(func(w http.ResponseWriter, r *http.Request) error {
		if allowed := allowedMethods(api.mux, r, routes); len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			return adminMethodNotAllowed(allowed...)
		}
		return adminError(http.StatusNotFound, "not found")
	}))
	return api
}

// routeErrKey carries a route's error out of the ServeMux.
type routeErrKey struct{}

// routeHandler adapts an error-returning func to the ServeMux.
func routeHandler(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*r.Context().Value(routeErrKey{}).(*error) = fn(w, r)
	})
}

// handler resolves a route's store and IDs, then runs it.
func (api *operatorAPI) handler(rt route) http.Handler {
	return routeHandler(func(w http.ResponseWriter, r *http.Request) error {
		var t target
		for _, id := range []struct {
			name string
			dst  *int64
		}{{"app", &t.app}, {"user", &t.user}, {"session", &t.session}} {
			if v := r.PathValue(id.name); v != "" {
				n, err := adminPathID(v, id.name)
				if err != nil {
					return err
				}
				*id.dst = n
			}
		}
		if !rt.global {
			svc, err := api.service(r)
			if err != nil {
				return err
			}
			t.svc = svc
		}
		return rt.op(w, r, t)
	})
}

// serve routes one request. Errors are caddy.APIError values, which the
// admin endpoint (and the dashboard handler, the same way) renders as
// {"error": "..."}.
func (api *operatorAPI) serve(w http.ResponseWriter, r *http.Request) error {
	var err error
	api.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeErrKey{}, &err)))
	return err
}

// allowedMethods lists the methods of the routes whose path matches r's.
func allowedMethods(mux *http.ServeMux, r *http.Request, routes []route) []string {
	var allowed []string
	for _, rt := range routes {
		method, _, _ := strings.Cut(rt.pattern, " ")
		if slices.Contains(allowed, method) {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = method
		if _, pattern := mux.Handler(probe); pattern != operatorPrefix && pattern != "" {
			allowed = append(allowed, method)
		}
	}
	return allowed
}

// service picks the service over the store that ?store= names, or the only
// store in use.
func (api *operatorAPI) service(r *http.Request) (*authcore.Service, error) {
	svc, err := lookupService(r.URL.Query().Get("store"))
	var lerr *serviceLookupError
	if errors.As(err, &lerr) {
		status := http.StatusBadRequest
		if lerr.none {
			status = http.StatusServiceUnavailable
		}
		return nil, adminError(status, lerr.reason)
	}
	return svc, err
}

// assertionJWKS is the public keys of the store's assertion signing keys.
func (api *operatorAPI) assertionJWKS(w http.ResponseWriter, r *http.Request, t target) error {
	b, err := authcore.StoreJWKS(r.Context(), t.svc.Store())
	if err != nil {
		return adminDomainError(err, "")
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(b)
	return err
}

// rotateAssertionKey makes a new current assertion signing key now; the
// previous one stays published. Nodes that rotate at once make one key.
func (api *operatorAPI) rotateAssertionKey(w http.ResponseWriter, r *http.Request, t target) error {
	a := caddymodule.AssertionsFor(t.svc)
	if a == nil {
		return adminError(http.StatusNotFound, "assertion is not configured over this store")
	}
	if err := a.Rotate(r.Context()); err != nil {
		return adminDomainError(err, "")
	}
	api.logger.Info("rotated the assertion signing key", zap.String("kid", a.CurrentKeyID()))
	return writeAdminJSON(w, http.StatusOK, map[string]any{"kid": a.CurrentKeyID()})
}

func (api *operatorAPI) listStores(w http.ResponseWriter, _ *http.Request, _ target) error {
	return writeAdminJSON(w, http.StatusOK, map[string]any{"stores": emptyIfNil(runningStores())})
}
