// Package cubeauth registers the cubeauth Caddy modules. Importing it (as
// xcaddy's --with github.com/cubeauth/cubeauth does) is all a Caddy build
// needs; the code lives in caddymodule, authcore and store.
package cubeauth

import (
	// The Caddy modules: http.handlers.cubeauth, its Caddyfile directive,
	// the admin API, the dashboard handler and the CLI commands.
	_ "github.com/cubeauth/cubeauth/caddymodule"
)
