#!/usr/bin/env bash
# Fault injection (issue 11): OPS create/start/stop/pause/rm operations through
# the Engine API against one berthd, killed with SIGKILL at random points (one
# kill in four takes every container supervisor with it, as a host crash
# would), restarted, and checked after each restart: every container
# accounted for, no leaked process, mount, veth or cgroup, every state file
# readable. See bench/faults.py for the operations and the checks.
#   sudo bench/faults.sh [OPS [SEED]]        (default: 200, a random seed)
# BERTHD=path picks the daemon (default: target/debug/berthd, built here
# with `cargo build --bins`; BERTHD=target/release/berthd after a release
# build is as good). Not a timing benchmark: it does not wait for a quiet
# machine. Everything lives under /tmp/berth-bench-faults-*; berthd gets a
# bridge of its own (berthb<random>, a free /24 in 198.18.0.0/15, with its
# nft table) and a cgroup parent of its own; all is removed on exit,
# failure included. Exits 1 if a check failed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
# shellcheck source=bench/lib.sh
. bench/lib.sh
OPS=${1:-200}
SEED=${2:-$RANDOM}
IMG=berthfaults/busybox:latest

[ "$(id -u)" = 0 ] || { echo "$BENCH_NAME: run as root" >&2; exit 1; }
command -v python3 >/dev/null || { echo "$BENCH_NAME: python3 missing" >&2; exit 1; }
if [ -z "${BERTHD:-}" ]; then
  cargo build --bins >&2
  BERTHD=$PWD/target/debug/berthd
fi
BERTH=$(dirname "$BERTHD")/berth
BUILD="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' + uncommitted src changes')"

bench_work faults
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
berthd_net
# The daemon's files sit where bench/faults.py expects them: WORK/berth.sock,
# WORK/data, WORK/exec, WORK/daemon.json (BD=WORK for bench_cleanup).
# shellcheck disable=SC2034 # read by bench_cleanup
BD=$WORK
BSOCK=$WORK/berth.sock
# shellcheck disable=SC2034 # read by bench_cleanup
B=("$BERTH" -H "unix://$BSOCK")
BENCH_CGROUPS+=("$(basename "$WORK")-berthd")
echo "{\"cgroup-parent\": \"/${BENCH_CGROUPS[-1]}\"}" > "$WORK/daemon.json"

# The image, loaded by a first daemon that the run's first start replaces.
"$BERTHD" -H "unix://$BSOCK" --data-root "$WORK/data" --exec-root "$WORK/exec" \
  --pidfile "$WORK/berthd.pid" --config-file "$WORK/daemon.json" "${BERTHD_NET[@]}" \
  >"$WORK/berthd.log" 2>&1 &
BERTHD_PID=$!
wait_sock "$BSOCK" "$BERTHD_PID" "$WORK/berthd.log"
BERTH_CLI=$BERTH BERTH_HOST="unix://$BSOCK" scripts/busybox-image.sh "$IMG" >&2
stop_pid "$BERTHD_PID"
BERTHD_PID=

echo "$BENCH_NAME: $OPS operations, seed $SEED, berthd $BERTHD (build $BUILD), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
python3 bench/faults.py "$WORK" "$BERTHD" "$IMG" "$OPS" "$SEED" -- "${BERTHD_NET[@]}" || status=$?
if [ "$status" != 0 ]; then
  kept=$(mktemp -d /tmp/berth-faults-failed-XXXXXX)
  cp "$WORK/berthd.log" "$WORK/ops.log" "$kept/" 2>/dev/null || true
  echo "$BENCH_NAME: FAILED; the daemon's log and the operations are kept in $kept" >&2
fi
exit "$status"
