#!/usr/bin/env bash
# Every benchmark in one run (not part of the test command): release binary
# sizes (arm64, as deployed), each function's cold start under a local Lambda
# Runtime API, the codes handlers' latency, load tests of the local API on
# the in-memory store and on DynamoDB Local, then the keycode and batch
# benchmarks. Writes the tables in docs/benchmarks.md.
#   scripts/bench.sh            everything (about 30-40 minutes cold on 2 cores)
#   SKIP_SLOW=1 scripts/bench.sh   without the keycode and batch benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."
functions=(auth codes batch batch-worker licenses activation-challenges cleanup mpesa)
work=target/bench-run
rm -rf "$work" && mkdir -p "$work"
results="$work/results.jsonl"
: >"$results"
duration="${LOAD_SECONDS:-10}"

# Tools: cargo-lambda (with Zig) from PyPI, wrk from Debian.
venv=.venv-bench
if [ ! -x "$venv/bin/cargo-lambda" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "cargo-lambda==1.9.2"
fi
if ! command -v wrk >/dev/null 2>&1; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get install -y -qq wrk >&2
fi

bins=()
for f in "${functions[@]}"; do bins+=(--bin "$f"); done

echo "== arm64 release binaries (as deployed)" >&2
# One build per function, as `sam build` does: each then links only the
# storage adapters and SDKs its own crate enables (one build of all of
# them would unify their features).
for f in "${functions[@]}"; do
  PATH="$PWD/$venv/bin:$PATH" cargo lambda build --release --arm64 --bin "$f" >&2
  size=$(stat -c %s "target/lambda/$f/bootstrap")
  echo "{\"kind\": \"size\", \"function\": \"$f\", \"bytes\": $size}" >>"$results"
done

echo "== native release binaries" >&2
cargo build --release --locked "${bins[@]}" --bin local-api --bin platform-admin >&2
cargo build --release --locked -p api-tests --example handler_latency >&2

echo "== DynamoDB Local, a client, 1,000 devices" >&2
eval "$(scripts/dynamodb-local.sh)"
server_pid=""
trap 'kill $server_pid "$DYNAMODB_PID" 2>/dev/null || true' EXIT
admin=target/release/platform-admin
dyn=(--dynamodb-endpoint "$DYNAMODB_ENDPOINT" --table bench)
seed=(--seed "$work/seed.json")
for key in platform client certificates; do "$admin" keygen --out "$work/$key.pem" >/dev/null; done
python3 - "$work/devices.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("Serial Number,Starting Code,Key,Count,Time Divider,Restricted Digit Mode\n")
    for d in range(1000):
        f.write(f"L{d:04d},{516959010 + d},{d:032x},1,1,0\n")
PY
"$admin" "${dyn[@]}" create-table >/dev/null
for where in "${dyn[*]}" "${seed[*]}"; do
  read -r -a args <<<"$where"
  "$admin" "${args[@]}" create-client --name Bench --client-key ck_bench --public-key "$work/client.pub" >/dev/null
  "$admin" "${args[@]}" import-devices --client-key ck_bench --csv "$work/devices.csv" >/dev/null
done
sign() { "$admin" sign-auth-token --client-key ck_bench --private-key "$work/client.pem" --count "$1"; }

echo "== cold starts" >&2
env_all=(
  TABLE_NAME=bench DYNAMODB_ENDPOINT="$DYNAMODB_ENDPOINT"
  "ACCESS_TOKEN_PRIVATE_KEY=$(cat "$work/platform.pem")"
  "ACCESS_TOKEN_PUBLIC_KEY=$(cat "$work/platform.pub")"
  "LICENSE_CERTIFICATE_PRIVATE_KEY=$(cat "$work/certificates.pem")"
  QUEUE_URL=http://127.0.0.1:9/queue/bench SQS_ENDPOINT=http://127.0.0.1:9
)
runs=10
# Twice the runs: the plain ones, then as many through the store proxy.
sign $((2 * runs)) >"$work/auth-tokens.txt"
auth_run=$(python3 scripts/coldstart.py target/release/auth events/post-auth.json $runs \
  --tokens "$work/auth-tokens.txt" --store-split "${env_all[@]}")
echo "$auth_run" | python3 -c 'import json,sys; r=json.load(sys.stdin); r["kind"]="cold"; r["event"]="post-auth.json"; a=r.pop("answer"); print(json.dumps(r))' >>"$results"
access=$(echo "$auth_run" | python3 -c 'import json,sys; a=json.load(sys.stdin)["answer"][1]; print(json.loads(json.loads(a)["body"])["accessToken"])')
cold() {
  local fn=$1 event=$2
  sed -e "s|REPLACE_WITH_ACCESS_TOKEN|$access|" -e "s|REPLACE_WITH_CLIENT_KEY|ck_bench|" \
    -e "s|REPLACE_WITH_BATCH_ID|none|" "events/$event" >"$work/$event"
  python3 scripts/coldstart.py "target/release/$fn" "$work/$event" $runs --store-split "${env_all[@]}" \
    | python3 -c "import json,sys; r=json.load(sys.stdin); s=r.pop('answer'); r['kind']='cold'; r['event']='$event'; r['answered']=s[0]; print(json.dumps(r))" \
    >>"$results"
}
cold codes get-codes.json
cold batch get-batches.json
cold batch-worker sqs-batch-chunk.json
cold licenses get-products.json
cold activation-challenges get-activation-challenges.json
cold cleanup scheduled-cleanup.json

echo "== handler latency (in process, in-memory store)" >&2
target/release/examples/handler_latency | sed 's/^{/{"kind": "handler", /' >>"$results"

echo "== load tests" >&2
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
wrk_run() {
  local store=$1 route=$2 script=$3
  local out
  out=$(wrk -t2 -c64 -d"${duration}s" --latency -s "scripts/load/$script" "$base")
  echo "$out" >&2
  python3 - "$store" "$route" "$out" >>"$results" <<'PY'
import json, re, sys
store, route, out = sys.argv[1], sys.argv[2], sys.argv[3]
def ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
print(json.dumps({
    "kind": "load", "store": store, "route": route,
    "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
    "p50_ms": ms(latency["50"]), "p99_ms": ms(latency["99"]),
    "non_2xx": int(bad.group(1)) if bad else 0,
}))
PY
}
for store in memory dynamodb-local; do
  if [ "$store" = memory ]; then
    backend=("${seed[@]}")
  else
    backend=(--dynamodb-endpoint "$DYNAMODB_ENDPOINT" --table bench)
  fi
  # The per-client limits would turn the auth load test into a 429 test.
  RATE_LIMIT_AUTH_PER_MINUTE=0 RATE_LIMIT_BATCH_PER_MINUTE=0 \
  RUST_LOG=warn target/release/local-api --listen "127.0.0.1:$port" "${backend[@]}" \
    --signing-key "$work/platform.pem" --certificate-key "$work/certificates.pem" \
    --cleanup-interval-secs 3600 >"$work/local-api-$store.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "$base/auth" && break; sleep 0.1; done
  token=$(sign 1)
  access=$(curl -s "$base/auth" -d "{\"token\": \"$token\", \"tokenType\": \"auth\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')
  export ACCESS="$access" DEVICES=1000 THREADS=2
  wrk_run "$store" "POST /codes" post_codes.lua
  wrk_run "$store" "GET /codes" get_codes.lua
  sign 150000 >"$work/load-tokens.txt"
  TOKENS="$work/load-tokens.txt" wrk_run "$store" "POST /auth" post_auth.lua
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
  server_pid=""
done

python3 scripts/bench_report.py "$results" docs/benchmarks.md
cat "$results"

if [ -z "${SKIP_SLOW:-}" ]; then
  echo "== keycode and batch benchmarks" >&2
  scripts/bench_keycode.sh
  scripts/bench_batch.sh
  scripts/bench_webhooks.sh
fi
