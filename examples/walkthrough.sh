#!/usr/bin/env bash
# The README's curl walk-through, against ./examples/demo.sh: the development
# flow (one request creates the user and logs it in), the production flow
# (sign up, then log in), and an app session upgraded with POST /login and
# downgraded with DELETE /login. Each request prints its status and body.
#
#   source .demo/env && ./examples/walkthrough.sh
set -euo pipefail
: "${CUBEAUTH_APP1_KEY:?run ./examples/demo.sh, then source .demo/env}"
api=${CUBEAUTH_URL:-http://localhost:8080}
run=$(date +%s) # fresh logins on every run: alice$run, bob$run

# call prints the method, path and status of one request, then its body.
call() {
	local method=$1 path=$2 status
	shift 2
	status=$(curl -sS -X "$method" "$api$path" -o "$body" -w '%{http_code}' "$@")
	echo "$method $path → $status"
	if [ -s "$body" ]; then sed -e '$a\' "$body"; else echo '(empty body)'; fi
}
body=$(mktemp)
trap 'rm -f "$body"' EXIT
token() { sed -n 's/.*"token":"\([^"]*\)".*/\1/p' "$body"; }
json=(-H 'Content-Type: application/json')

echo '# Development (app 1): a new login creates the user and logs it in'
call POST /session.json "${json[@]}" -d '{"application_id": 1, "auth_key": "'"$CUBEAUTH_APP1_KEY"'",
  "user": {"login": "alice'"$run"'", "password": "supersecret"}}'
TOKEN=$(token)
call GET /anything -H "CB-Token: $TOKEN"
echo '# a client copy of an identity header never arrives: still alice'
call GET /anything -H "CB-Token: $TOKEN" -H 'X-Cube-User-Id: 999'
echo '# logout; the token is refused from the next request on'
call DELETE /session.json -H "CB-Token: $TOKEN"
call GET /anything -H "CB-Token: $TOKEN"

echo '# Production (app 2): a new login is refused; sign up, then log in'
call POST /session.json "${json[@]}" -d '{"application_id": 2, "auth_key": "'"$CUBEAUTH_APP2_KEY"'",
  "user": {"login": "bob'"$run"'", "password": "supersecret"}}'
call POST /users.json "${json[@]}" -H "CB-AuthKey: $CUBEAUTH_APP2_KEY" \
	-d '{"user": {"login": "bob'"$run"'", "password": "supersecret"}}'
call POST /session.json "${json[@]}" -d '{"application_id": 2, "auth_key": "'"$CUBEAUTH_APP2_KEY"'",
  "user": {"login": "bob'"$run"'", "password": "supersecret"}}'

echo '# An app session reads but cannot write; POST /login makes it a user session'
call POST /session.json "${json[@]}" -d '{"application_id": 2, "auth_key": "'"$CUBEAUTH_APP2_KEY"'"}'
TOKEN=$(token)
call POST /anything -H "CB-Token: $TOKEN"
call POST /login.json -H "CB-Token: $TOKEN" "${json[@]}" -d '{"login": "bob'"$run"'", "password": "supersecret"}'
call POST /anything -H "CB-Token: $TOKEN"
echo '# DELETE /login makes it an app session again (200, empty body)'
call DELETE /login.json -H "CB-Token: $TOKEN"
call POST /anything -H "CB-Token: $TOKEN"
