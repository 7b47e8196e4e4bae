// Package e2e holds end-to-end tests of cubeauth: a real Caddy built from
// this repository (see internal/testcaddy) with the cubeauth handler in front
// of a Caddy `respond` backend that echoes the identity headers it receives,
// driven by plain net/http (the README's curl walkthrough) and by the official
// ConnectyCube JS SDKs under Node (scripts in e2e/sdk).
//
// Run with `go test ./e2e/ -v`. The SDK tests need node and npm on PATH; they
// run `npm ci` in e2e/sdk when its node_modules is missing or stale.
package e2e
