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
REPS=${1:-5}
DOCKER=${BERTH_DOCKER_CLI:-/usr/local/bin/docker}
DOCKERD=/usr/sbin/dockerd
BRIDGE=berthp$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
IMG=berthbench/busybox:latest

[ "$(id -u)" = 0 ] || { echo "cp.sh: run as root" >&2; exit 1; }
[ -x "$DOCKERD" ] || { echo "cp.sh: $DOCKERD missing (apt-get install docker.io)" >&2; exit 1; }
[ -x "$DOCKER" ] || { echo "cp.sh: docker CLI missing at $DOCKER (set BERTH_DOCKER_CLI)" >&2; exit 1; }

cargo build --release --locked --bins >&2
BERTHD=$PWD/target/release/berthd
BERTH=$PWD/target/release/berth
BUILD="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' + uncommitted src changes')"

# shellcheck source=bench/lib.sh
. bench/lib.sh
wait_quiet

# --- set-up and clean-up ------------------------------------------------------
WORK=$(mktemp -d /tmp/berth-bench-cp-XXXXXX)
BD=$WORK/berthd
DD=$WORK/dockerd
RUN=$WORK/run
TREE=$WORK/tree
OUT=$WORK/out
BSOCK=$BD/berth.sock
DSOCK=$DD/docker.sock
BERTHD_PID=
DOCKERD_PID=
BRIDGE_MADE=
B=("$BERTH" -H "unix://$BSOCK")
DB=("$DOCKER" --config "$WORK/cfg" -H "unix://$BSOCK")
DK=("$DOCKER" --config "$WORK/cfg" -H "unix://$DSOCK")

cleanup() {
  set +e
  if [ -S "$BSOCK" ]; then remove_all "${B[@]}"; fi
  if [ -S "$DSOCK" ]; then remove_all "${DK[@]}"; fi
  stop_pid "$BERTHD_PID"
  stop_pid "$DOCKERD_PID"
  local left
  left=$(grep -lsF "$WORK/" /proc/[0-9]*/cmdline | cut -d/ -f3 | grep -vx "$$")
  if [ -n "$left" ]; then
    # shellcheck disable=SC2046,SC2086
    kill -KILL $left $(descendants $left) 2>/dev/null
  fi
  awk -v w="$WORK/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount -l "$m"
  done
  berthd_net_cleanup "$BD/data"
  rm -rf "$WORK"
  if [ -n "$BRIDGE_MADE" ]; then ip link del "$BRIDGE"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$BD" "$DD" "$WORK/cfg" "$RUN" "$OUT"
mount -t tmpfs -o size=256m,mode=0700 berth-bench-run "$RUN"
ip link add "$BRIDGE" type bridge
BRIDGE_MADE=1
ip addr add "198.$((18 + RANDOM % 2)).$((RANDOM % 256)).$((RANDOM % 64 * 4 + 1))/30" dev "$BRIDGE"
berthd_net # a bridge and nft table of berthd's own (bench/lib.sh)

echo '{}' > "$BD/daemon.json"
"$BERTHD" -H "unix://$BSOCK" --data-root "$BD/data" --exec-root "$RUN/berthd" \
  --pidfile "$BD/berthd.pid" --config-file "$BD/daemon.json" "${BERTHD_NET[@]}" >"$BD/log" 2>&1 &
BERTHD_PID=$!
wait_sock "$BSOCK" "$BERTHD_PID" "$BD/log"

echo '{}' > "$DD/daemon.json"
"$DOCKERD" -H "unix://$DSOCK" --data-root "$DD/data" --exec-root "$RUN/dockerd" \
  --pidfile "$DD/docker.pid" --config-file "$DD/daemon.json" --bridge "$BRIDGE" \
  --iptables=false --ip-masq=false --ip-forward=false --userland-proxy=false \
  --containerd-namespace berthbench --containerd-plugins-namespace berthbench-plugins >"$DD/log" 2>&1 &
DOCKERD_PID=$!
wait_sock "$DSOCK" "$DOCKERD_PID" "$DD/log"

BERTH_CLI=$BERTH BERTH_HOST="unix://$BSOCK" scripts/busybox-image.sh "$IMG" >&2
"${B[@]}" save -o "$WORK/busybox.tar" "$IMG"
"${DK[@]}" load -i "$WORK/busybox.tar" >&2
rm -f "$WORK/busybox.tar"
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
