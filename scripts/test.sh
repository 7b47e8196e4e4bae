#!/usr/bin/env bash
# Runs every test: Go unit, handler, store conformance and integration tests
# (with the race detector) and the end-to-end suites that drive the official
# ConnectyCube SDKs, a real Caddy, Badger, PostgreSQL, ejabberd and Chromium.
#
# PostgreSQL is a private throwaway cluster (initdb + pg_ctl from Debian's
# packages) on its own port of 127.0.0.1, in a temporary directory removed at
# exit; the machine's own server is never used. Arguments go to go test.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }

step "installing what the tests need"
./scripts/setup.sh

work=$(mktemp -d)
chmod 711 "$work" # the postgres user must reach its cluster inside
cluster=$work/postgres
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
pg_bin=${pg_bin:-$(dirname "$(command -v pg_ctl)")}
as_owner=() # initdb and pg_ctl refuse root: run them as postgres
[ "$(id -u)" = 0 ] && as_owner=(runuser -u postgres --)
pg_ctl() { "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$cluster/data" -l "$cluster/postgres.log" -w "$@"; }
cleanup() {
	if [ -f "$cluster/data/postmaster.pid" ]; then pg_ctl stop -m fast >/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

step "building Caddy once for every test package (minutes on a cold build cache; a line every 30s)"
go build -o "$work/caddy" ./cmd/caddy &
build=$!
started=$SECONDS
while kill -0 "$build" 2>/dev/null; do
	for _ in $(seq 30); do
		sleep 1
		kill -0 "$build" 2>/dev/null || break 2
	done
	echo "   still building Caddy ($((SECONDS - started))s)"
done
wait "$build"
export CUBEAUTH_CADDY_BIN="$work/caddy"

# The layout internal/testpg expects: data/, socket/, postgres.log.
step "starting a throwaway PostgreSQL cluster ($pg_bin)"
mkdir -p "$cluster/socket"
[ "$(id -u)" = 0 ] && chown -R postgres: "$cluster"
"${as_owner[@]}" "$pg_bin/initdb" -D "$cluster/data" -U postgres -A trust -E UTF8 --no-sync >"$cluster/initdb.log"
for attempt in 1 2 3 4 5; do # a port outside the kernel's ephemeral range
	port=$((20000 + RANDOM % 10000))
	cat >>"$cluster/data/postgresql.conf" <<-CONF
		listen_addresses = '127.0.0.1'
		port = $port
		unix_socket_directories = '$cluster/socket'
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		max_connections = 200
	CONF
	if pg_ctl start >/dev/null; then break; fi
	[ "$attempt" = 5 ] && { cat "$cluster/postgres.log"; exit 1; }
done
echo "PostgreSQL listens on 127.0.0.1:$port, data in $cluster/data"
export CUBEAUTH_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
export CUBEAUTH_TEST_POSTGRES_CLUSTER=$cluster

step "running go test -race ./... (compiling the race-enabled test binaries comes first and prints nothing for a few minutes on a cold cache; then a line per test and per package as they end)"
set +e
go test -race -count=1 -timeout 30m -json "$@" ./... | tee "$work/test.json" | jq -r --unbuffered '
	def secs: if .Elapsed then " (\(.Elapsed)s)" else "" end;
	if .Action == "output" and (.Output | test("^(\\s+\\S+_test\\.go:\\d+:|panic:|FAIL|--- FAIL)")) then "   \(.Package | ltrimstr("github.com/cubeauth/cubeauth/")): \(.Output | rtrimstr("\n"))"
	elif (.Action | IN("pass", "fail", "skip")) and .Test == null then "\(.Action | ascii_upcase)\t\(.Package)\(secs)"
	elif (.Action | IN("pass", "fail")) and .Test != null and (.Test | contains("/") | not) then "  \(.Action)  \(.Package | ltrimstr("github.com/cubeauth/cubeauth/")) \(.Test)\(secs)"
	else empty end'
status=${PIPESTATUS[0]}
set -e
if [ "$status" != 0 ]; then
	# The lines above keep only each failure's first line: here is all that
	# each failed test printed (its last 400 lines in all).
	step "the whole output of each failed test"
	jq -rs '
		(map(select(.Action == "fail" and .Test != null) | "\(.Package) \(.Test)") | unique) as $failed
		| .[] | select(.Action == "output" and .Test != null)
		| select(("\(.Package) \(.Test)") as $k | $failed | index($k))
		| "   \(.Package | ltrimstr("github.com/cubeauth/cubeauth/")) \(.Test): \(.Output | rtrimstr("\n"))"' "$work/test.json" | tail -n 400
fi
step "done: go test exited $status"
exit "$status"
