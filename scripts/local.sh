#!/usr/bin/env bash
# Sets up and runs the whole API on http://127.0.0.1:3000 with no AWS
# account: builds the local API and platform-admin, creates a demo client
# (ck_demo, private key .local/demo-client.pem) on first run, and serves.
#   scripts/local.sh              embedded in-memory store (seeded from .local/seed.json)
#   scripts/local.sh --dynamodb   DynamoDB Local, started and stopped with the server
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --locked -p local-api -p admin-cli
admin=target/debug/platform-admin
mkdir -p .local

backend=()
if [ "${1:-}" = "--dynamodb" ]; then
  eval "$(scripts/dynamodb-local.sh)"
  trap 'kill "$DYNAMODB_PID" 2>/dev/null || true' EXIT
  backend=(--dynamodb-endpoint "$DYNAMODB_ENDPOINT")
  "$admin" "${backend[@]}" create-table >/dev/null
fi

# The demo client and its key, registered with whichever backend runs now:
# create it, or add the key to an existing ck_demo (already there is fine).
[ -f .local/demo-client.pem ] || "$admin" keygen --out .local/demo-client.pem >/dev/null
"$admin" "${backend[@]}" create-client --name "Demo" --client-key ck_demo \
    --public-key .local/demo-client.pub >/dev/null 2>&1 \
  || "$admin" "${backend[@]}" add-key --client-key ck_demo --public-key .local/demo-client.pub \
    >/dev/null 2>&1 \
  || true

# A fresh demo API key (licensing APIs) and M-Pesa callback token (short
# code 600638, Daraja's sandbox paybill) each run, replacing the last ones,
# so the files in .local/ work with whichever backend runs.
fresh_secret() { # NAME REVOKE-COMMAND FIELD CREATE-COMMAND [ARGS...]
  local name=$1 revoke=$2 field=$3
  shift 3
  if [ -f ".local/$name.json" ]; then
    old_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' ".local/$name.json")
    "$admin" "${backend[@]}" "$revoke" --client-key ck_demo --id "$old_id" >/dev/null 2>&1 || true
  fi
  (umask 077 && "$admin" "${backend[@]}" "$@" --client-key ck_demo >".local/$name.json")
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
    ".local/$name.json" "$field" >".local/$name"
  chmod 600 ".local/$name"
}
fresh_secret demo-api-key revoke-api-key apiKey create-api-key --label demo
fresh_secret demo-mpesa-token revoke-mpesa-callback callbackToken \
  create-mpesa-callback --short-code 600638 --label demo

cat <<'HELP'
Demo client: ck_demo, private key .local/demo-client.pem. An auth token:
  target/debug/platform-admin sign-auth-token --client-key ck_demo --private-key .local/demo-client.pem
Its API key for the licensing APIs (Authorization: Apikey KEY) is in .local/demo-api-key,
its M-Pesa callback token (short code 600638) in .local/demo-mpesa-token.
HELP
exec_args=(--listen "${LISTEN:-127.0.0.1:3000}" --allow-loopback-webhooks)
if [ ${#backend[@]} -gt 0 ]; then
  target/debug/local-api "${exec_args[@]}" "${backend[@]}"
else
  exec target/debug/local-api "${exec_args[@]}"
fi
