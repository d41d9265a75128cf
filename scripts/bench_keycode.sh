#!/usr/bin/env bash
# Keycode benchmarks: the Rust engine (criterion) and the Python reference
# packages on the same work, in one run, on this machine. Writes the table
# between the keycode markers in docs/benchmarks.md. Not part of the tests.
#
#   scripts/bench_keycode.sh
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-reference
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r scripts/requirements-vectors.txt
  # nexus-keycode drags in the enum34 and typing backports, which shadow
  # Python 3's own modules.
  "$venv/bin/pip" uninstall -q -y enum34 typing
fi

cargo bench -p keycode --bench keycode -- --warm-up-time 1 --measurement-time 3 >/dev/null
"$venv/bin/python" scripts/bench_reference.py > target/keycode-reference.json
python3 scripts/write_keycode_benchmarks.py target/criterion target/keycode-reference.json docs/benchmarks.md
sed -n '/<!-- keycode:start -->/,/<!-- keycode:end -->/p' docs/benchmarks.md
