#!/usr/bin/env bash
# `system prune -a -f` over 200 stopped containers and 50 unused images, side
# by side: a fresh release-built berthd and a fresh dockerd (Debian docker.io
# 20.10, containerd, runc), same busybox image.
#   sudo bench/prune.sh [ROUNDS]     (default: 3)
# Each round, on each daemon and before each timed prune (untimed set-up):
#   - busybox is loaded (from one saved archive);
#   - 50 images, each a distinct small commit on busybox: one running
#     container writes its number into /berth-n and is committed, 50 times
#     (every image has a layer of its own), then removed, so no container
#     uses them;
#   - 200 containers are created from busybox (`true`) and started; the
#     round waits until all 200 have exited.
# Timed: one `system prune -a -f` (containers, then images, networks and build
# cache; no volumes) with the berth CLI -> berthd, the docker 28 CLI ->
# berthd and the docker CLI -> dockerd. After each, nothing may be left
# (`ps -aq` and `images -aq` empty). Medians of ROUNDS; ratios are
# berthd / dockerd time (the issue's target: <= 0.3).
# Waits (up to QUIET_WAIT s, default 600) for a quiet machine first.
# Everything lives under /tmp/berth-bench-prune-*; dockerd gets a bridge of
# its own (berthq<random>, a /30 in 198.18.0.0/15) and no iptables rules,
# berthd one too (berthb<random>, a free /24 there, with its nft table); all
# is removed on exit, failure included.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${1:-3}
CONTAINERS=${BENCH_CONTAINERS:-200}
IMAGES=${BENCH_IMAGES:-50}
BRIDGE=berthq$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
IMG=berthbench/busybox:latest

need_engines curl
build_release
wait_quiet

# --- set-up and clean-up ------------------------------------------------------
bench_work prune
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$BD" "$DD" "$WORK/cfg" "$RUN"
mount -t tmpfs -o size=256m,mode=0700 berth-bench-run "$RUN"
dockerd_bridge "$BRIDGE"
berthd_net # a bridge and nft table of berthd's own (bench/lib.sh)
start_berthd "$BD" "$RUN/berthd" "${BERTHD_NET[@]}"
start_dockerd "$DD" "$RUN/dockerd" "$BRIDGE"
load_image_both keep

api() { # socket, method, path[, json body]: the answer's body
  if [ $# = 4 ]; then
    curl -sf --unix-socket "$1" -X "$2" -H 'Content-Type: application/json' -d "$4" "http://d/v1.41$3"
  else
    curl -sf --unix-socket "$1" -X "$2" "http://d/v1.41$3"
  fi
}
setup() { # socket, name of a daemon cli array: IMAGES unused images, CONTAINERS stopped containers
  local sock=$1 i id ids=()
  local -n c=$2
  "${c[@]}" load -q -i "$WORK/busybox.tar" >/dev/null
  "${c[@]}" run -d --network none --name berthbench-maker "$IMG" sleep 3600 >/dev/null
  for i in $(seq "$IMAGES"); do
    "${c[@]}" exec berthbench-maker sh -c "echo $i > /berth-n"
    "${c[@]}" commit berthbench-maker "berthbench/img:$i" >/dev/null
  done
  "${c[@]}" rm -f berthbench-maker >/dev/null
  for i in $(seq "$CONTAINERS"); do
    id=$(api "$sock" POST /containers/create \
      "{\"Image\":\"$IMG\",\"Cmd\":[\"true\"],\"HostConfig\":{\"NetworkMode\":\"none\"}}" |
      sed 's/.*"Id":"\([0-9a-f]*\)".*/\1/')
    ids+=("$id")
  done
  for id in "${ids[@]}"; do api "$sock" POST "/containers/$id/start" >/dev/null; done
  for id in "${ids[@]}"; do api "$sock" POST "/containers/$id/wait" >/dev/null; done
  local n
  n=$("${c[@]}" ps -aq --filter status=exited | wc -l)
  [ "$n" = "$CONTAINERS" ] || { echo "prune.sh: $n exited containers, want $CONTAINERS" >&2; exit 1; }
  n=$("${c[@]}" images -q berthbench/img | wc -l)
  [ "$n" = "$IMAGES" ] || { echo "prune.sh: $n images, want $IMAGES" >&2; exit 1; }
}
check_empty() { # name of a daemon cli array
  local -n c=$1
  local left
  left=$( { "${c[@]}" ps -aq; "${c[@]}" images -aq; } | wc -l)
  [ "$left" = 0 ] || { echo "prune.sh: $left containers/images left after the prune" >&2; exit 1; }
}

# --- timing -------------------------------------------------------------------
now_ns() { date +%s%N; }
ms_since() { echo "$1 $(now_ns)" | awk '{printf "%.0f\n", ($2 - $1) / 1e6}'; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.0f\n", (a[NR/2]+a[NR/2+1])/2}'; }
declare -A T R
PATHS=()
if "${B[@]}" system prune --help >/dev/null 2>&1; then PATHS+=(berth-berthd); fi
PATHS+=(docker-berthd docker-dockerd)
for round in $(seq "$ROUNDS"); do
  for p in "${PATHS[@]}"; do
    case $p in
      berth-berthd) sock=$BSOCK; dcli=B; cli=("${B[@]}") ;;
      docker-berthd) sock=$BSOCK; dcli=B; cli=("${DB[@]}") ;;
      docker-dockerd) sock=$DSOCK; dcli=DK; cli=("${DK[@]}") ;;
    esac
    setup "$sock" "$dcli"
    sync
    t=$(now_ns)
    out=$("${cli[@]}" system prune -a -f)
    T[$p]="${T[$p]:-} $(ms_since "$t")"
    R[$p]=$(echo "$out" | sed -n 's/^Total reclaimed space: //p')
    check_empty "$dcli"
  done
  echo "== round $round:$(for p in "${PATHS[@]}"; do printf ' %s %s ms (%s);' "$p" "${T[$p]##* }" "${R[$p]}"; done)" >&2
done

declare -A M
# shellcheck disable=SC2086 # the list of round times
for p in "${PATHS[@]}"; do M[$p]=$(printf '%s\n' ${T[$p]} | median); done
ratio() { awk -v a="${M[$1]}" -v b="${M[docker-dockerd]}" 'BEGIN {printf "%.2f", a / b}'; }
label() {
  case $1 in
    berth-berthd) echo "berth CLI -> berthd" ;;
    docker-berthd) echo "docker 28 CLI -> berthd" ;;
    docker-dockerd) echo "docker 28 CLI -> dockerd 20.10" ;;
  esac
}
echo
echo "system prune -a -f over $CONTAINERS stopped containers and $IMAGES unused images, medians of $ROUNDS (build $BUILD; $(nproc) CPUs; start: $START_STATE${QUIET_NOTE:+; $QUIET_NOTE})"
echo "| path | ms per round | median ms | reclaimed (last round) | time vs dockerd |"
echo "|---|---|---|---|---|"
for p in "${PATHS[@]}"; do
  # shellcheck disable=SC2086 # the list of round times
  echo "| $(label "$p") | $(echo ${T[$p]} | tr ' ' '/') | ${M[$p]} | ${R[$p]} | $(ratio "$p")x |"
done
