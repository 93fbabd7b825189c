#!/usr/bin/env bash
# The test command: formatting, lints, then every test (unit, privileged and
# end-to-end) with cargo-nextest. Every stage runs even if an earlier one
# fails, so one run shows everything; the output ends with nextest's summary
# line ("Summary [...] N tests run: N passed, ...") and the tally of the
# compatibility scenarios ("compat: N passed, N failed"); the exit status is
# non-zero if any stage failed. Extra arguments go to `cargo nextest run`.
# Run as root: the integration tests start berthd, mount and create
# namespaces, and fail (never skip) without root. Prerequisites:
# scripts/deps.sh (scripts/install.sh and .ci/run call it).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export PATH="${HOME:-/root}/.cargo/bin:$PATH"

if [ "$(id -u)" != 0 ]; then
  echo "test.sh: run as root (sudo $0): the integration tests start daemons that mount and create namespaces" >&2
  exit 1
fi

failed=()
echo "== cargo fmt --check"
cargo fmt --all --check || failed+=("cargo fmt --check")
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings || failed+=("cargo clippy")
if [ "${#failed[@]}" -gt 0 ]; then
  echo "== FAILED: ${failed[*]} (tests run anyway)"
fi
echo "== cargo nextest run"
# nextest keeps its store (and the report) under the workspace's target/,
# whatever CARGO_TARGET_DIR says.
junit="target/nextest/default/junit.xml"
rm -f "$junit"
cargo nextest run --all-targets --locked --no-fail-fast \
  --tool-config-file "berth:$PWD/scripts/nextest.toml" "$@" || failed+=("cargo nextest")
# The tally of the compatibility scenarios (docker CLI, docker-py,
# docker-compose against berthd), from nextest's JUnit report; only for a
# full run, since a filtered one may leave them out.
if [ $# -eq 0 ]; then
  echo "== compatibility scenarios"
  /usr/bin/python3 scripts/compat-summary.py "$junit" || failed+=("compat scenarios")
fi
[ "${#failed[@]}" -eq 0 ]
