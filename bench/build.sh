#!/usr/bin/env bash
# `build` of a 10-step Dockerfile with a 100 MB COPY, side by side: a fresh
# release-built berthd and a fresh dockerd (Debian docker.io 20.10, classic
# builder), same busybox image.
#   sudo bench/build.sh [REPS]     (default: 5)
# The context: 100 MiB of random (incompressible) data in one file and 64
# small files. The Dockerfile (FROM + 9 steps): ENV, WORKDIR, COPY of the
# 100 MB file, RUN, COPY of the small files, LABEL, EXPOSE, a RUN that reads
# the big file, CMD. Measured, REPS times each, medians:
#   - cold:   `build --no-cache -t T CTX` (the base image present, nothing cached);
#   - cached: `build -t T CTX` after one priming build (every step a cache hit);
# with the berth CLI -> berthd, the docker 28 CLI (DOCKER_BUILDKIT=0) ->
# berthd and the docker CLI (DOCKER_BUILDKIT=0) -> dockerd. Each build is
# checked afterwards (the image runs and reports the big file's size; cached
# builds must show "Using cache" for all 9 steps after FROM). Waits (up to
# QUIET_WAIT s, default 600) for a quiet machine first. Everything lives
# under /tmp/berth-bench-build-*; dockerd gets a bridge of its own
# (berthp<random>) and no iptables rules, berthd one too (berthb<random>,
# with its nft table); all is removed on exit, failure included.
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
bench_work build
CTX=$WORK/ctx
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$BD" "$DD" "$WORK/cfg" "$RUN" "$CTX/small"
mount -t tmpfs -o size=256m,mode=0700 berth-bench-run "$RUN"
dockerd_bridge "$BRIDGE"
berthd_net
start_berthd "$BD" "$RUN/berthd" "${BERTHD_NET[@]}"
start_dockerd "$DD" "$RUN/dockerd" "$BRIDGE"
load_image_both

head -c $((100 * 1024 * 1024)) /dev/urandom > "$CTX/big.bin"
for i in $(seq 0 63); do head -c 4096 /dev/urandom > "$CTX/small/f$i"; done
SIZE=$(stat -c %s "$CTX/big.bin")
cat > "$CTX/Dockerfile" <<EOF
FROM $IMG
ENV APP=/app
WORKDIR /app
COPY big.bin /app/big.bin
RUN echo step > /app/step.txt
COPY small/ /app/small/
LABEL bench=build
EXPOSE 8080
RUN busybox wc -c < /app/big.bin > /app/size.txt
CMD ["cat", "/app/size.txt"]
EOF

# --- timing -------------------------------------------------------------------
now_ns() { date +%s%N; }
ms_since() { echo "$1 $(now_ns)" | awk '{printf "%.0f\n", ($2 - $1) / 1e6}'; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.0f\n", (a[NR/2]+a[NR/2+1])/2}'; }
check_image() { # daemon cli array name, tag
  local -n c=$1
  local got
  got=$("${c[@]}" run --rm --network none "$2" | tr -d ' ')
  [ "$got" = "$SIZE" ] || { echo "build.sh: $2 reports '$got', want $SIZE" >&2; exit 1; }
}
declare -A R
measure() { # name, daemon cli array name (checks), build cli...
  local name=$1 dcli=$2; shift 2
  local COLD=() CACHED=() t i out
  for i in $(seq "$REPS"); do
    t=$(now_ns)
    DOCKER_BUILDKIT=0 "$@" build --no-cache -t "berthbench/$name:cold" "$CTX" > "$WORK/out" 2>&1 ||
      { cat "$WORK/out" >&2; exit 1; }
    COLD+=("$(ms_since "$t")")
    check_image "$dcli" "berthbench/$name:cold"
  done
  DOCKER_BUILDKIT=0 "$@" build -t "berthbench/$name:cached" "$CTX" > /dev/null 2>&1
  for i in $(seq "$REPS"); do
    t=$(now_ns)
    DOCKER_BUILDKIT=0 "$@" build -t "berthbench/$name:cached" "$CTX" > "$WORK/out" 2>&1 ||
      { cat "$WORK/out" >&2; exit 1; }
    CACHED+=("$(ms_since "$t")")
    out=$(grep -c -- '---> Using cache' "$WORK/out" || true)
    [ "$out" = 9 ] || { echo "build.sh: $name: $out cache hits, want 9:" >&2; cat "$WORK/out" >&2; exit 1; }
    check_image "$dcli" "berthbench/$name:cached"
  done
  R[$name-cold]=$(printf '%s\n' "${COLD[@]}" | median)
  R[$name-cached]=$(printf '%s\n' "${CACHED[@]}" | median)
  echo "== $name: cold ${COLD[*]} ms; cached ${CACHED[*]} ms" >&2
}
measure berth-berthd B "${B[@]}"
measure docker-berthd B "${DB[@]}"
measure docker-dockerd DK "${DK[@]}"

ratio() { awk -v a="${R[$1]}" -v b="${R[$2]}" 'BEGIN {printf "%.2f", a / b}'; }
cat <<EOF

build of a 10-step Dockerfile with a 100 MiB COPY, medians of $REPS (build $BUILD; $(nproc) CPUs; start: $START_STATE${QUIET_NOTE:+; $QUIET_NOTE})
| path | cold: ms | cached rebuild: ms | time vs docker CLI -> dockerd (cold / cached) |
|---|---|---|---|
| berth CLI -> berthd | ${R[berth-berthd-cold]} | ${R[berth-berthd-cached]} | $(ratio berth-berthd-cold docker-dockerd-cold)x / $(ratio berth-berthd-cached docker-dockerd-cached)x |
| docker 28 CLI -> berthd | ${R[docker-berthd-cold]} | ${R[docker-berthd-cached]} | $(ratio docker-berthd-cold docker-dockerd-cold)x / $(ratio docker-berthd-cached docker-dockerd-cached)x |
| docker 28 CLI -> dockerd 20.10 | ${R[docker-dockerd-cold]} | ${R[docker-dockerd-cached]} | 1 / 1 |
EOF
