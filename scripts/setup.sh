#!/usr/bin/env bash
# Installs what cubeauth's tests need on a fresh machine: Go modules, the
# official ConnectyCube SDKs and playwright-core from npm, and Debian's
# chromium, ejabberd, wrk, jq and postgresql (whose initdb and pg_ctl make the
# tests' throwaway clusters; the machine's own cluster is never touched).
# Idempotent: what is already there is not installed again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null || need+=(chromium)
command -v ejabberdctl >/dev/null || [ -x /usr/sbin/ejabberdctl ] || need+=(ejabberd)
command -v wrk >/dev/null || need+=(wrk)
command -v jq >/dev/null || need+=(jq) # test.sh summarizes go test -json with it
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	else
		echo "setup: missing ${need[*]} (install them with apt-get as root); tests that need them will skip" >&2
	fi
fi

go mod download
for dir in e2e/sdk e2e/dashboard examples/sdk examples/sdk-v3; do # the SDKs; playwright-core and axe-core for the dashboard test; the README's SDK examples
	if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
	fi
done
