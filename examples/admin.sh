#!/usr/bin/env bash
# The README's admin API example, against ./examples/demo.sh: Caddy's admin
# endpoint (localhost:2019) carries cubeauth's routes under /cubeauth/. App 1
# goes to production (a new login is refused from the next request on), then
# back to development.
#
#   source .demo/env && ./examples/admin.sh
set -euo pipefail
: "${CUBEAUTH_APP1_KEY:?run ./examples/demo.sh, then source .demo/env}"
admin=${CUBEAUTH_ADMIN:-http://localhost:2019}
api=${CUBEAUTH_URL:-http://localhost:8080}
run=$(date +%s)

# call prints the method, URL path and status of one request, then its body.
call() {
	local method=$1 url=$2 status
	shift 2
	status=$(curl -sS -X "$method" "$url" -o "$body" -w '%{http_code}' "$@")
	echo "$method $(sed -E 's#^https?://[^/]+##' <<<"$url") → $status"
	if [ -s "$body" ]; then sed -e '$a\' "$body"; else echo '(empty body)'; fi
}
body=$(mktemp)
trap 'rm -f "$body"' EXIT
json=(-H 'Content-Type: application/json')
new_login='{"application_id": 1, "auth_key": "'"$CUBEAUTH_APP1_KEY"'", "user": {"login": "erin'"$run"'", "password": "supersecret"}}'

echo '# app 1 to production'
call PATCH "$admin/cubeauth/apps/1" "${json[@]}" -d '{"stage":"production"}'
echo '# the next request with a new login is refused'
call POST "$api/session.json" "${json[@]}" -d "$new_login"
echo '# the credentials are pinned by the config: changing them here is refused'
call POST "$admin/cubeauth/apps/1/rotate_key" "${json[@]}" -d '{}'
echo '# back to development: the same request now creates the user'
call PATCH "$admin/cubeauth/apps/1" "${json[@]}" -d '{"stage":"development"}'
call POST "$api/session.json" "${json[@]}" -d "$new_login"
