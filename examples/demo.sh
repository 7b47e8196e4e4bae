#!/usr/bin/env bash
# Runs the cubeauth demo (Caddyfile.example): the sidecar on
# http://localhost:8080 in front of a demo backend. On the first run it
# writes .demo.env with fresh auth keys and a legacy auth secret; source that
# file in another shell to follow the README's curl walkthrough.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f .demo.env ]; then
	uuid() { cat /proc/sys/kernel/random/uuid; }
	{
		echo "export CUBEAUTH_APP1_KEY=$(uuid)"
		echo "export CUBEAUTH_APP2_KEY=$(uuid)"
		echo "export CUBEAUTH_APP1_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	} >.demo.env
	chmod 600 .demo.env
	echo "wrote .demo.env (auth keys for apps 1 and 2); in another shell: source .demo.env"
fi
# shellcheck disable=SC1091
source .demo.env
exec go run ./cmd/caddy run --config Caddyfile.example --adapter caddyfile
