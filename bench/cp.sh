#!/usr/bin/env bash
# `cp` of a ~200 MB tree into and out of a running container, side by side: a
# fresh release-built berthd and a fresh dockerd (Debian docker.io 20.10,
# containerd, runc), same busybox image, one running `sleep 3600` container in
# each.
#   sudo bench/cp.sh [REPS]     (default: 5)
# The tree: 190 files of 1 MiB and 2560 files of 4 KiB in 10 directories
# (200 MiB of content). Measured, REPS times each, medians:
#   - in:  `cp TREE C:/tmp/in-N` (a new directory each time);
#   - out: `cp C:/data OUT/N` (the tree copied in once beforehand);
# with the berth CLI -> berthd, the docker 28 CLI -> berthd and the docker CLI
# -> dockerd. Every copy is checked (file count and bytes) after it is timed.
# Both containers run with `--network none` (cp does not touch the network).
# Page caches stay warm for both engines alike. Waits (up to QUIET_WAIT s,
# default 600) for a quiet machine first. Everything lives under
# /tmp/berth-bench-cp-*; dockerd gets a bridge of its own (berthp<random>, a
# /30 in 198.18.0.0/15) and no iptables rules, and berthd one too
# (berthb<random>, a free /24 there, with its nft table berth_<bridge>); all
# is removed on exit, failure included.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
# shellcheck source=bench/lib.sh
. bench/lib.sh
REPS=${1:-5}
BRIDGE=berthp$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
IMG=berthbench/busybox:latest

need_engines
build_release
wait_quiet

# --- set-up and clean-up ------------------------------------------------------
bench_work cp
TREE=$WORK/tree
OUT=$WORK/out

trap bench_cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$BD" "$DD" "$WORK/cfg" "$RUN" "$OUT"
mount -t tmpfs -o size=256m,mode=0700 berth-bench-run "$RUN"
dockerd_bridge "$BRIDGE"
berthd_net # a bridge and nft table of berthd's own (bench/lib.sh)
start_berthd "$BD" "$RUN/berthd" "${BERTHD_NET[@]}"
start_dockerd "$DD" "$RUN/dockerd" "$BRIDGE"
load_image_both
"${B[@]}" run -d --network none --name berthbench-cp "$IMG" sleep 3600 >/dev/null
"${DK[@]}" run -d --network none --name berthbench-cp "$IMG" sleep 3600 >/dev/null

# The tree.
for d in $(seq 0 9); do
  mkdir -p "$TREE/d$d/small"
  for i in $(seq 0 18); do head -c 1048576 /dev/urandom > "$TREE/d$d/big$i"; done
  for i in $(seq 0 255); do head -c 4096 /dev/urandom > "$TREE/d$d/small/f$i"; done
done
FILES=$(find "$TREE" -type f | wc -l)
BYTES=$(find "$TREE" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
MB=$(echo "$BYTES" | awk '{printf "%.1f", $1 / 1e6}')
"${B[@]}" cp "$TREE" berthbench-cp:/data
"${DK[@]}" cp "$TREE" berthbench-cp:/data

# --- timing -------------------------------------------------------------------
now_ns() { date +%s%N; }
ms_since() { echo "$1 $(now_ns)" | awk '{printf "%.0f\n", ($2 - $1) / 1e6}'; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.0f\n", (a[NR/2]+a[NR/2+1])/2}'; }
check_in() { # name of a daemon cli array, path: the copy in the container is whole
  local -n c=$1
  local n
  n=$("${c[@]}" exec berthbench-cp sh -c "find $2 -type f | wc -l")
  [ "$n" = "$FILES" ] || { echo "cp.sh: $2: $n files in the container, want $FILES" >&2; exit 1; }
}
check_out() { # dir
  local n b
  n=$(find "$1" -type f | wc -l)
  b=$(find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
  if [ "$n" != "$FILES" ] || [ "$b" != "$BYTES" ]; then
    echo "cp.sh: $1: $n files, $b bytes; want $FILES, $BYTES" >&2; exit 1
  fi
}
declare -A R
measure() { # name, daemon cli (for checks/cleanup), cp cli...
  local name=$1 dcli=$2; shift 2
  local -n dc=$dcli
  local IN=() OUTS=() t i
  for i in $(seq "$REPS"); do
    t=$(now_ns)
    "$@" cp "$TREE" "berthbench-cp:/tmp/in-$name-$i"
    IN+=("$(ms_since "$t")")
    check_in "$dcli" "/tmp/in-$name-$i"
    "${dc[@]}" exec berthbench-cp rm -rf "/tmp/in-$name-$i"
    t=$(now_ns)
    "$@" cp berthbench-cp:/data "$OUT/$name-$i"
    OUTS+=("$(ms_since "$t")")
    check_out "$OUT/$name-$i"
    rm -rf "${OUT:?}/$name-$i"
  done
  R[$name-in]=$(printf '%s\n' "${IN[@]}" | median)
  R[$name-out]=$(printf '%s\n' "${OUTS[@]}" | median)
  echo "== $name: in ${IN[*]} ms; out ${OUTS[*]} ms" >&2
}
measure berth-berthd B "${B[@]}"
measure docker-berthd B "${DB[@]}"
measure docker-dockerd DK "${DK[@]}"

mbps() { awk -v b="$BYTES" -v ms="${R[$1]}" 'BEGIN {printf "%.0f", b / 1e6 / (ms / 1000)}'; }
ratio() { awk -v a="${R[$1]}" -v b="${R[$2]}" 'BEGIN {printf "%.2f", b / a}'; }
cat <<EOF

cp of a $MB MB tree ($FILES files), medians of $REPS (build $BUILD; $(nproc) CPUs; start: $START_STATE${QUIET_NOTE:+; $QUIET_NOTE})
| path | in: ms (MB/s) | out: ms (MB/s) | throughput vs docker CLI -> dockerd (in / out) |
|---|---|---|---|
| berth CLI -> berthd | ${R[berth-berthd-in]} ($(mbps berth-berthd-in)) | ${R[berth-berthd-out]} ($(mbps berth-berthd-out)) | $(ratio berth-berthd-in docker-dockerd-in)x / $(ratio berth-berthd-out docker-dockerd-out)x |
| docker 28 CLI -> berthd | ${R[docker-berthd-in]} ($(mbps docker-berthd-in)) | ${R[docker-berthd-out]} ($(mbps docker-berthd-out)) | $(ratio docker-berthd-in docker-dockerd-in)x / $(ratio docker-berthd-out docker-dockerd-out)x |
| docker 28 CLI -> dockerd 20.10 | ${R[docker-dockerd-in]} ($(mbps docker-dockerd-in)) | ${R[docker-dockerd-out]} ($(mbps docker-dockerd-out)) | 1 / 1 |
EOF
