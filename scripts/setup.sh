#!/usr/bin/env bash
# Installs what cubeauth's tests need on a fresh machine: Go modules, the
# official ConnectyCube SDKs from npm, and Debian's chromium, ejabberd and wrk.
# Idempotent: what is already there is not installed again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null || need+=(chromium)
command -v ejabberdctl >/dev/null || [ -x /usr/sbin/ejabberdctl ] || need+=(ejabberd)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	else
		echo "setup: missing ${need[*]} (install them with apt-get as root); tests that need them will skip" >&2
	fi
fi

go mod download
if [ ! -d e2e/sdk/node_modules ] || [ e2e/sdk/package-lock.json -nt e2e/sdk/node_modules ]; then
	(cd e2e/sdk && npm ci --no-audit --no-fund --loglevel=error)
fi
