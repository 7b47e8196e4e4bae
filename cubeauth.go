// Package cubeauth registers the cubeauth Caddy modules. Importing it (as
// xcaddy's --with github.com/cubeauth/cubeauth does) is all a Caddy build
// needs; the code lives in operator, caddymodule, authcore and store.
package cubeauth

import (
	// The operator surface (admin API, dashboard handler, CLI commands),
	// and through it caddymodule: the cubeauth app, the
	// http.handlers.cubeauth handler with its directive, and the
	// cubeauth.storage drivers.
	_ "github.com/cubeauth/cubeauth/operator"
)
