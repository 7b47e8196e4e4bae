#!/usr/bin/env bash
# The README's CLI example, against ./examples/demo.sh: `caddy cubeauth`
# talks to the running Caddy's admin API (localhost:2019). The demo built
# that caddy into .demo/bin.
#
#   ./examples/cli.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PATH=${CUBEAUTH_DEMO_DIR:-$PWD/.demo}/bin:$PATH

caddy cubeauth apps list
caddy cubeauth apps show 2
id=$(caddy cubeauth apps create --name "Chat staging" --json | grep -m1 -o '"id": [0-9]*' | tr -dc 0-9)
caddy cubeauth apps set-stage "$id" production
caddy cubeauth apps set-permission "$id" session_without_user allow
caddy cubeauth apps set-permission "$id" session_without_user default
caddy cubeauth apps set-permission "$id" list_users allow
caddy cubeauth apps rotate-key "$id" --grace 24h
caddy cubeauth apps delete "$id"
caddy cubeauth users list 1 --limit 3
caddy cubeauth sessions list 2 --limit 3
