// Package operator is cubeauth's operator surface: the admin.api.cubeauth
// routes on Caddy's admin endpoint (one table, routes.go), the
// cubeauth_dashboard handler and its page, and the `caddy cubeauth` CLI,
// which share one set of views. It finds the running stores through
// caddymodule and changes them through authcore.
package operator

import (
	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI is the admin.api.cubeauth module: operator routes under
// /cubeauth/ on Caddy's admin endpoint for apps, stages, permissions, users
// and sessions, and the dashboard at /cubeauth/ui/. Like every admin.api
// module it is created without config; it reaches the stores of the running
// cubeauth handlers through their registry, and writes through their
// authcore.Service, so that every handler over the store sees a change on
// its very next request.
type AdminAPI struct {
	api *operatorAPI
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.cubeauth",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Provision sets up the routes' logger.
func (a *AdminAPI) Provision(ctx caddy.Context) error {
	a.api = newOperatorAPI(ctx.Logger())
	return nil
}

// Routes returns the /cubeauth/ routes.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: operatorPrefix, Handler: caddy.AdminHandlerFunc(a.api.serve)}}
}

// operatorPrefix is where the operator routes live, on the admin endpoint
// and on a site with the cubeauth_dashboard handler.
const operatorPrefix = "/cubeauth/"

// Interface guards
var (
	_ caddy.Provisioner = (*AdminAPI)(nil)
	_ caddy.AdminRouter = (*AdminAPI)(nil)
)
