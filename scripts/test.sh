#!/usr/bin/env bash
# Runs every test: Go unit, handler, store conformance and integration tests
# (with the race detector) and the end-to-end suites that drive the official
# ConnectyCube SDKs, a real Caddy, Badger, PostgreSQL, ejabberd and Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Build the Caddy binary once and share it between test packages.
bin_dir=$(mktemp -d)
trap 'rm -rf "$bin_dir"' EXIT
go build -o "$bin_dir/caddy" ./cmd/caddy
export CUBEAUTH_CADDY_BIN="$bin_dir/caddy"
# The PostgreSQL store and fleet tests use this database, a fresh schema
# each; a caller may point them elsewhere.
export CUBEAUTH_TEST_POSTGRES="${CUBEAUTH_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
go test -race -count=1 -timeout 30m "$@" ./...
