#!/usr/bin/env bash
# Installs what cubeauth's tests need on a fresh machine: Go modules, the
# official ConnectyCube SDKs and playwright-core from npm, and Debian's
# chromium, ejabberd, wrk, jq and postgresql (whose initdb and pg_ctl make the
# tests' throwaway clusters; the machine's own cluster is never touched).
# Idempotent: what is already there is not installed again.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'setup: %s\n' "$*"; }

# while_running runs a long command and every 30 seconds says it is still
# at it, with what the function named by $2 prints (none: "-").
while_running() {
	local what=$1 detail=$2 started=$SECONDS
	shift 2
	"$@" &
	local pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		for _ in $(seq 30); do
			sleep 1
			kill -0 "$pid" 2>/dev/null || break 2
		done
		say "  still $what ($((SECONDS - started))s$([ "$detail" = - ] || echo ", $($detail)"))"
	done
	wait "$pid"
}

need=()
command -v chromium >/dev/null || need+=(chromium)
command -v ejabberdctl >/dev/null || [ -x /usr/sbin/ejabberdctl ] || need+=(ejabberd)
command -v wrk >/dev/null || need+=(wrk)
command -v jq >/dev/null || need+=(jq) # test.sh summarizes go test -json with it
# Reference password hashers for the import tests' vectors (authcore, e2e).
/usr/bin/python3 -c 'import bcrypt, argon2, django' 2>/dev/null || need+=(python3-bcrypt python3-argon2 python3-django)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || need+=(postgresql)
# PyJWT and cryptography for the Python assertion verifier (examples/assertion/python)
/usr/bin/python3 -c 'import jwt' 2>/dev/null || need+=(python3-jwt)
/usr/bin/python3 -c 'import cryptography' 2>/dev/null || need+=(python3-cryptography)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		say "installing Debian packages: ${need[*]} (apt-get; a few minutes on a new machine)"
		while_running "updating apt's package lists" - apt-get update -qq
		DEBIAN_FRONTEND=noninteractive while_running "installing ${need[*]}" - \
			apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	else
		echo "setup: missing ${need[*]} (install them with apt-get as root); tests that need them will skip" >&2
	fi
fi

if GOPROXY=off go mod download >/dev/null 2>&1; then
	say "Go modules: all in the module cache"
else
	cache_size() { echo "module cache $(du -sh "$(go env GOMODCACHE)/cache/download" 2>/dev/null | cut -f1)"; }
	say "downloading Go modules (once per machine; on a cold 2-core machine this was reported as 9 minutes and a 961 MB download)"
	while_running "downloading Go modules" cache_size go mod download
fi
for dir in e2e/sdk e2e/dashboard examples/sdk examples/sdk-v3 examples/assertion/node; do # the SDKs; playwright-core and axe-core for the dashboard test; the README's SDK examples; jose for the Node assertion verifier
	if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
		say "npm ci in $dir"
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
	fi
done
# The Go assertion verifier is its own module (golang-jwt stays out of go.mod).
if ! (cd examples/assertion/go && GOPROXY=off GOFLAGS=-mod=mod go mod download >/dev/null 2>&1); then
	say "downloading the Go assertion verifier's modules"
	(cd examples/assertion/go && go mod download)
fi
