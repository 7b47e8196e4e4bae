#!/usr/bin/env bash
# Runs the cubeauth demo (Caddyfile.example): the sidecar on
# http://localhost:8080 and https://localhost:8443 in front of a demo backend
# and the example chat backend, and the dashboard on http://localhost:8081.
#
# Its state lives in .demo/ (gitignored; CUBEAUTH_DEMO_DIR moves it): on the
# first run it writes .demo/env with fresh auth keys for apps 1 and 2, a legacy
# auth secret for app 1 and a generated dashboard password. Source that file
# in another shell to run the README's examples. Ctrl+C stops the demo; the
# next run keeps the apps, users and sessions.
#
# CUBEAUTH_CADDY_BIN names a prebuilt Caddy with cubeauth to use instead of
# building one (the tests do that).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'demo: %s\n' "$*"; }

demo=${CUBEAUTH_DEMO_DIR:-.demo}
mkdir -p "$demo/bin"
chmod 700 "$demo"
demo=$(cd "$demo" && pwd)
export CUBEAUTH_DEMO_DIR=$demo

for port in 8080 8443 8081 9000 9001 2019; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		say "port $port on 127.0.0.1 is in use (another demo?); stop that first" >&2
		exit 1
	fi
done

# build runs go build and says what it is doing: on a machine without Go's
# module cache the first build downloads Caddy's whole module graph.
build() {
	local out=$1 pkg=$2
	if ! GOPROXY=off GOFLAGS=-mod=readonly go list -deps "$pkg" >/dev/null 2>&1; then
		say "downloading Go modules (once per machine; on a cold 2-core machine this was reported as 9 minutes and a 961 MB download)"
		go mod download &
		local pid=$! cache started=$SECONDS
		cache=$(go env GOMODCACHE)/cache/download
		while kill -0 "$pid" 2>/dev/null; do
			for _ in $(seq 15); do
				sleep 1
				kill -0 "$pid" 2>/dev/null || break 2
			done
			say "  still downloading: $((SECONDS - started))s, module cache $(du -sh "$cache" 2>/dev/null | cut -f1)"
		done
		wait "$pid"
	fi
	say "building $pkg -> $out (a minute or more the first time; cached afterwards)"
	local started=$SECONDS
	# -v names each package as it is compiled: count them, and pass on
	# anything else (compiler errors).
	go build -v -o "$out" "$pkg" 2>&1 | awk -v who="$pkg" '
		/ |^#/ { print; fflush(); next }
		{ n++ } n % 100 == 0 { printf "demo:   %s: %d packages compiled\n", who, n; fflush() }'
	if [ $((SECONDS - started)) -gt 5 ]; then say "  built in $((SECONDS - started))s"; fi
}

caddy=$demo/bin/caddy # examples/cli.sh finds it there
if [ -n "${CUBEAUTH_CADDY_BIN:-}" ]; then
	ln -sf "$(realpath "$CUBEAUTH_CADDY_BIN")" "$caddy"
else
	build "$caddy" ./cmd/caddy
fi
build "$demo/bin/chat-backend" ./examples/chat/cmd/chat-backend

if [ ! -f "$demo/env" ]; then
	uuid() { cat /proc/sys/kernel/random/uuid; }
	random() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
	password=$(random 12)
	hash=$(printf '%s\n' "$password" | "$caddy" hash-password --algorithm bcrypt)
	umask 077
	cat >"$demo/env" <<-ENV
		# Written by examples/demo.sh on its first run: the demo's credentials.
		export CUBEAUTH_APP1_KEY=$(uuid)
		export CUBEAUTH_APP2_KEY=$(uuid)
		export CUBEAUTH_APP1_SECRET=$(random 24)
		export CUBEAUTH_DASHBOARD_USER=demo
		export CUBEAUTH_DASHBOARD_PASSWORD=$password
		export CUBEAUTH_DASHBOARD_HASH='$hash'
		# Caddy's internal CA, which signs https://localhost:8443 (Node reads this).
		export CUBEAUTH_CA_ROOT=$demo/caddy/pki/authorities/local/root.crt
		export CUBEAUTH_DEMO_DIR=$demo
	ENV
	umask 022
	say "wrote $demo/env (auth keys for apps 1 and 2, the dashboard password)"
fi
# shellcheck disable=SC1091
source "$demo/env"

[ -d "$demo/data" ] || rm -f "$demo/seeded" # a new store is seeded again
"$demo/bin/chat-backend" -listen 127.0.0.1:9001 2>>"$demo/chat-backend.log" &
chat=$!
"$caddy" run --config Caddyfile.example --adapter caddyfile 2>>"$demo/caddy.log" &
server=$!
stop() { kill "$server" "$chat" 2>/dev/null || true; }
trap stop EXIT
trap 'exit 130' INT TERM

say "starting Caddy (log: $demo/caddy.log)"
for _ in $(seq 100); do
	if ! kill -0 "$server" 2>/dev/null; then
		say "Caddy exited; the end of $demo/caddy.log:" >&2
		tail -n 5 "$demo/caddy.log" >&2
		exit 1
	fi
	curl -fsS -o /dev/null localhost:2019/cubeauth/apps/2 2>/dev/null && break
	sleep 0.2
done

# The config pins only credentials: on the first start the demo puts app 2
# in production through the admin API, as an operator would.
if [ ! -f "$demo/seeded" ]; then
	curl -fsS -o /dev/null localhost:2019/cubeauth/apps/2 -X PATCH \
		-H 'Content-Type: application/json' -d '{"stage":"production"}'
	touch "$demo/seeded"
fi

stage() { curl -fsS "localhost:2019/cubeauth/apps/$1" | sed -n 's/.*"stage":"\([a-z]*\)".*/\1/p'; }
cat <<-EOF

	cubeauth demo is running (Ctrl+C stops it):
	  sidecar     http://localhost:8080  and  https://localhost:8443 (Caddy's internal CA: $CUBEAUTH_CA_ROOT)
	  app 1       $(stage 1), auth key $CUBEAUTH_APP1_KEY
	  app 2       $(stage 2), auth key $CUBEAUTH_APP2_KEY
	  dashboard   http://localhost:8081/cubeauth/ui/  user $CUBEAUTH_DASHBOARD_USER  password $CUBEAUTH_DASHBOARD_PASSWORD
	  admin API   http://localhost:2019/cubeauth/apps
	In another shell:  source $demo/env  then  ./examples/walkthrough.sh
EOF
wait "$server"
