#!/usr/bin/env bash
# Installs what cubeauth's tests need on a fresh machine: Go modules, the
# official ConnectyCube SDKs and playwright-core from npm, and Debian's
# chromium, ejabberd and wrk.
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

# PostgreSQL for the store/postgres and fleet tests: the machine's cluster,
# started when it is down. Without one those tests skip.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && command -v pg_ctlcluster >/dev/null &&
	[ "$(ls /etc/postgresql 2>/dev/null | wc -l)" = 1 ]; then
	pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start ||
		echo "setup: could not start PostgreSQL; its tests will skip" >&2
fi

go mod download
for dir in e2e/sdk e2e/dashboard; do # the SDKs; playwright-core for the dashboard test
	if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
	fi
done
