#!/usr/bin/env bash
# The README's import example, against ./examples/demo.sh: users.jsonl holds
# a bcrypt user (ann, password "ann's old password", made by Python's
# bcrypt), a Django PBKDF2 user (dan, "dan's old password"), an argon2-cffi
# user (ari, "ari's old password") and Firebase's own example user
# (fay@example.com, "user1password"), which needs its project's hash
# parameters. TestImportExampleLogsIn (e2e) imports this file and logs in.
#
#   ./examples/import/import.sh
set -euo pipefail
cd "$(dirname "$0")"
PATH=${CUBEAUTH_DEMO_DIR:-$PWD/../../.demo}/bin:$PATH
SIGNER_KEY=jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==

caddy cubeauth users import 1 users.jsonl \
  --firebase-signer-key "$SIGNER_KEY" --firebase-salt-separator Bw== \
  --firebase-rounds 8 --firebase-mem-cost 14
caddy cubeauth users export 1 > exported.jsonl
