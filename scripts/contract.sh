#!/usr/bin/env bash
# The API contract check the test command runs: Schemathesis (PyPI, in
# .ci-venv) generates requests for every operation of openapi/openapi.json
# and sends them, authenticated, to a fresh local API on each storage
# backend. It fails on any 5xx, any status the document does not list, and
# any response that breaks its schema or content type. Then
# scripts/contract_examples.py walks every operation's success path with
# real data and checks each answer against the document the same way.
#   scripts/contract.sh [memory|dynamodb]...   (both by default; dynamodb
#   needs DYNAMODB_ENDPOINT, which scripts/test.sh exports)
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.ci-venv
examples=${CONTRACT_MAX_EXAMPLES:-20}
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(memory dynamodb)

cargo build --quiet --locked -p local-api -p admin-cli
admin=target/debug/platform-admin
work=$(mktemp -d)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

for backend in "${backends[@]}"; do
  echo "== contract on $backend"
  store=(--seed "$work/seed-$backend.json")
  if [ "$backend" = dynamodb ]; then
    store=(--dynamodb-endpoint "$DYNAMODB_ENDPOINT" --table "contract-$RANDOM$RANDOM")
    "$admin" "${store[@]}" create-table >/dev/null
  fi
  # Two clients, so the fuzzing cannot use up the walk's rate limits.
  "$admin" keygen --out "$work/client.pem" >/dev/null
  for client in ck_fuzz ck_contract; do
    "$admin" "${store[@]}" create-client --name "$client" --client-key "$client" \
      --public-key "$work/client.pub" >/dev/null
  done
  api_key=$("$admin" "${store[@]}" create-api-key --client-key ck_contract --label contract \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["apiKey"])')
  callback_token=$("$admin" "${store[@]}" create-mpesa-callback --client-key ck_contract \
    --short-code 600638 | python3 -c 'import json,sys; print(json.load(sys.stdin)["callbackToken"])')
  port=$(free_port)
  base="http://127.0.0.1:$port"
  RUST_LOG=warn target/debug/local-api --listen "127.0.0.1:$port" "${store[@]}" \
    --signing-key "$work/platform.pem" --certificate-key "$work/certificates.pem" \
    --cleanup-interval-secs 3600 --loopback-webhooks-only --no-webhook-dns >"$work/local-api-$backend.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do curl -sf -o /dev/null "$base/openapi.json" && break; sleep 0.1; done
  login() {
    local token
    token=$("$admin" sign-auth-token --client-key ck_fuzz --private-key "$work/client.pem")
    curl -sf "$base/auth" -H 'content-type: application/json' \
      -d "{\"token\": \"$token\", \"tokenType\": \"auth\"}" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])'
  }
  # One worker: Hypothesis parses source files to describe its strategies,
  # and CPython 3.11.7 (this machine's) can raise "AST constructor recursion
  # depth mismatch" when two threads do that at once (CPython gh-106905).
  SCHEMATHESIS_HOOKS=scripts/contract_hooks.py "$venv/bin/st" run "$base/openapi.json" \
    --header "Authorization: Bearer $(login)" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "$examples" --seed 20261123 --workers 1 \
    --phases examples,coverage,fuzzing --generation-database none \
    --no-color --suppress-health-check all
  "$venv/bin/python" scripts/contract_examples.py "$base" \
    "$("$admin" sign-auth-token --client-key ck_contract --private-key "$work/client.pem")" \
    "Apikey $api_key" "$callback_token"
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
done
