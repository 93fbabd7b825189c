#!/usr/bin/env bash
# Times `load` of a ~200 MB, 5-layer docker-save archive (bench/make-archive.py):
# `berth load -i` into a fresh release-built berthd versus `docker load -i`
# into a fresh dockerd (Debian docker.io), each with a new data root per run.
#   sudo bench/load.sh [RUNS] [disk|tmpfs]     (defaults: 3, disk)
# Prints each run, the medians and berthd/dockerd (goal: <= 0.5). `disk` puts
# the data roots on /tmp's filesystem; `tmpfs` on a tmpfs mounted for the run,
# which takes the disk (and its write-back and throttling) out of the picture
# and compares the engines' own work.
# Everything lives under /tmp/berth-bench-*; the dockerd gets a bridge of its
# own (berthi<random>, a /30 in the 198.18.0.0/15 benchmark range) and no
# iptables rules, each berthd one too (berthb<random>, a free /24 there, with
# its nft table berth_<bridge>, deleted after each run); all removed on exit.
# Concurrent runs do not collide.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
# shellcheck source=bench/lib.sh
. bench/lib.sh
RUNS=${1:-3}
MEDIUM=${2:-disk}
case "$MEDIUM" in disk|tmpfs) ;; *) echo "load.sh: medium must be disk or tmpfs, not $MEDIUM" >&2; exit 1;; esac
BRIDGE=berthi$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')

need_engines
build_release

WORK=$(mktemp -d /tmp/berth-bench-XXXXXX)
DAEMON_PID=
DOCKERD_BRIDGE=
stop_daemon() {
  stop_pid "$DAEMON_PID"
  DAEMON_PID=
  # Leftovers (dockerd's containerd) name the run's directory on their command line.
  grep -lsF "$WORK/" /proc/[0-9]*/cmdline | cut -d/ -f3 | while read -r p; do
    [ "$p" = "$$" ] || kill -KILL "$p" 2>/dev/null || true
  done
  # Unmount anything below the work dir, deepest first.
  awk -v w="$WORK/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount -l "$m" || true
  done
}
cleanup() {
  stop_daemon
  berthd_net_cleanup "$WORK"/berthd-*/data
  if [ "$MEDIUM" = tmpfs ] && mountpoint -q "$WORK"; then umount -l "$WORK"; fi
  rm -rf "$WORK"
  if [ -n "$DOCKERD_BRIDGE" ]; then ip link del "$DOCKERD_BRIDGE"; fi
}
trap cleanup EXIT

if [ "$MEDIUM" = tmpfs ]; then
  mount -t tmpfs -o size=4g,mode=0700 berth-bench "$WORK"
fi

dockerd_bridge "$BRIDGE"
berthd_net # a bridge and nft table of berthd's own (bench/lib.sh)

ARCHIVE=$WORK/image.tar
python3 bench/make-archive.py "$ARCHIVE" berthbench/load:latest >&2
echo "archive: $(du -m "$ARCHIVE" | cut -f1) MiB, 5 layers; data roots on $MEDIUM" >&2

now() { date +%s.%N; }

run_berthd() { # run number -> seconds on stdout
  local d=$WORK/berthd-$1
  start_berthd "$d" "$d/exec" "${BERTHD_NET[@]}"
  DAEMON_PID=$BERTHD_PID
  local t0 t1
  t0=$(now)
  "$BERTH" -H "unix://$d/berth.sock" load -i "$ARCHIVE" >"$d/out" 2>&1 || { cat "$d/out" >&2; exit 1; }
  t1=$(now)
  grep -q 'Loaded image: berthbench/load:latest' "$d/out" || { cat "$d/out" >&2; exit 1; }
  stop_daemon; berthd_net_cleanup "$d/data"; rm -rf "$d"
  echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}'
}

run_dockerd() {
  local d=$WORK/dockerd-$1
  mkdir -p "$d/cfg"
  start_dockerd "$d" "$d/exec" "$BRIDGE"
  DAEMON_PID=$DOCKERD_PID
  local t0 t1
  t0=$(now)
  DOCKER_HOST="unix://$d/docker.sock" DOCKER_CONFIG="$d/cfg" "$DOCKER" load -i "$ARCHIVE" >"$d/out" 2>&1 || { cat "$d/out" >&2; exit 1; }
  t1=$(now)
  grep -q 'Loaded image: berthbench/load:latest' "$d/out" || { cat "$d/out" >&2; exit 1; }
  stop_daemon; rm -rf "$d"
  echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}'
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

B=(); D=()
for i in $(seq "$RUNS"); do
  sync
  b=$(run_berthd "$i"); B+=("$b")
  sync
  d=$(run_dockerd "$i"); D+=("$d")
  echo "run $i: berthd ${b}s  dockerd ${d}s"
done
mb=$(printf '%s\n' "${B[@]}" | median)
md=$(printf '%s\n' "${D[@]}" | median)
echo "median: berthd ${mb}s  dockerd ${md}s  ratio berthd/dockerd $(awk -v a="$mb" -v b="$md" 'BEGIN {printf "%.2f", a / b}')"
