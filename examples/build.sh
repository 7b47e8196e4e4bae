#!/usr/bin/env bash
# Builds Caddy with cubeauth from this checkout into ./caddy: with xcaddy
# when it is installed, otherwise with go build and this repository's
# cmd/caddy. Then lists the modules cubeauth registers.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v xcaddy >/dev/null; then
	xcaddy build --with github.com/cubeauth/cubeauth="$PWD"
else
	go build -o caddy ./cmd/caddy
fi
./caddy list-modules | grep cubeauth
