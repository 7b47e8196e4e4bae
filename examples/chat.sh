#!/usr/bin/env bash
# The chat example against ./examples/demo.sh, which serves the example chat
# backend (examples/chat) at ws://localhost:8080/chat behind the sidecar: log
# in, connect with the token, say hello, then log out from elsewhere. The
# sidecar closes the connection the session opened, and the client says so
# and exits 1.
#
#   source .demo/env && ./examples/chat.sh
set -euo pipefail
: "${CUBEAUTH_APP1_KEY:?run ./examples/demo.sh, then source .demo/env}"
cd "$(dirname "$0")/.."
api=${CUBEAUTH_URL:-http://localhost:8080}

session=$(curl -sS "$api/session.json" -H 'Content-Type: application/json' -d '{
  "application_id": 1, "auth_key": "'"$CUBEAUTH_APP1_KEY"'",
  "user": {"login": "frank", "password": "supersecret"}}')
TOKEN=$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' <<<"$session")
USER_ID=$(sed -n 's/.*"user_id":\([0-9]*\).*/\1/p' <<<"$session")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/chat-client" ./examples/chat/cmd/chat-client

# Log out two seconds in, while the client is connected.
(sleep 2 && curl -sS -o /dev/null -w '%{http_code}' -X DELETE "$api/session.json" -H "CB-Token: $TOKEN" >"$tmp/logout") &
status=0
(echo hello && sleep 5) | "$tmp/chat-client" -url "${api/http/ws}/chat" -token "$TOKEN" -user-id "$USER_ID" 2>&1 || status=$?
wait
echo "logout: DELETE /session.json → $(cat "$tmp/logout")"
echo "chat-client exited with status $status"
