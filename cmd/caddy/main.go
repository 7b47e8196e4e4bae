// Command caddy is Caddy with the standard modules and cubeauth built in.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/cubeauth/cubeauth/operator"
)

func main() {
	caddycmd.Main()
}
