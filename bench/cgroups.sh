#!/usr/bin/env bash
# Creating and deleting the cgroups of N containers, side by side: a fresh
# release-built berthd and a fresh dockerd (Debian docker.io 20.10, runc,
# cgroupfs driver), same busybox image.
#   sudo bench/cgroups.sh [N] [REPS]     (defaults: 100, 3)
# An engine creates a container's cgroups when it starts it and removes them
# when the container goes, so the figures are whole-container ones, taken
# twice to show what the limits add:
#   - `run -d --name bcI IMG sleep 3600` N times in sequence, then `rm -f`
#     one at a time (berth CLI -> berthd, docker 28 CLI -> dockerd, both
#     with --network none: the cgroups, not the network set-up, are measured);
#   - the same with `-m 64m --cpus 0.5 --pids-limit 100` (memory, memsw,
#     CFS quota and pids files written on top);
#   - the floor: bench/cgroup-floor.py makes and removes N empty cgroups with
#     the same limits in the same hierarchies, no engine at all.
# After each start phase every hierarchy must hold N container cgroups under
# the engine's parent, and none after the removal phase (checked, not timed).
# REPS repetitions, medians. Waits (up to QUIET_WAIT s, default 600) for a
# quiet machine first. Everything lives under /tmp/berth-bench-cgroups-*;
# the daemons get cgroup parents of their own (berth-bench-cg-*), dockerd a
# bridge of its own (berthc<random>, a /30 in 198.18.0.0/15) and no iptables
# rules, berthd one too (berthb<random>, a free /24 there, with its nft table
# berth_<bridge>); all is removed on exit, failure included.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
# shellcheck source=bench/lib.sh
. bench/lib.sh
N=${1:-100}
REPS=${2:-3}
RND=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
BRIDGE=berthc$RND
IMG=berthbench/busybox:latest
LIMITS=(-m 64m --cpus 0.5 --pids-limit 100)

need_engines
build_release
wait_quiet

# --- set-up and clean-up ------------------------------------------------------
bench_work cgroups
BCG=berth-bench-cg-b$RND
DCG=berth-bench-cg-d$RND
FCG=berth-bench-cg-f$RND

cleanup() { bench_cleanup; rm_cgroups "$BCG"; rm_cgroups "$DCG"; rm_cgroups "$FCG"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$BD" "$DD" "$WORK/cfg" "$RUN"
mount -t tmpfs -o size=256m,mode=0700 berth-bench-cgroups "$RUN"
dockerd_bridge "$BRIDGE"
berthd_net # a bridge and nft table of berthd's own (bench/lib.sh)

# Absolute parents: runc places a relative one below its own cgroup (here
# inside the invoking shell's memory cgroup), berthd below the root.
echo "{\"cgroup-parent\": \"/$BCG\"}" > "$BD/daemon.json"
start_berthd "$BD" "$RUN/berthd" "${BERTHD_NET[@]}"
echo "{\"cgroup-parent\": \"/$DCG\"}" > "$DD/daemon.json"
start_dockerd "$DD" "$RUN/dockerd" "$BRIDGE"
load_image_both

# --- measurements -------------------------------------------------------------
now_ns() { date +%s%N; }
ms_since() { echo "$1 $(now_ns)" | awk '{printf "%.0f\n", ($2 - $1) / 1e6}'; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.0f\n", (a[NR/2]+a[NR/2+1])/2}'; }
# Container cgroups under PARENT in every v1 controller the engines use
# (or the v2 hierarchy): one number per hierarchy.
count_cgroups() {
  local c
  for c in memory cpu cpuacct pids freezer; do
    if [ -d "/sys/fs/cgroup/$c" ]; then
      find "/sys/fs/cgroup/$c/$1" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l
    fi
  done
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    find "/sys/fs/cgroup/$1" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l
  fi
}
declare -A R
one_rep() { # engine variant -> "start_ms rm_ms"
  local engine=$1 variant=$2 cli parent extra=(--network none) t i counts
  if [ "$engine" = berth ]; then cli=("${B[@]}"); parent=$BCG; else cli=("${DK[@]}"); parent=$DCG; fi
  if [ "$variant" = limits ]; then extra+=("${LIMITS[@]}"); fi
  t=$(now_ns)
  for i in $(seq "$N"); do "${cli[@]}" run -d --name "bc$i" "${extra[@]}" "$IMG" sleep 3600 >/dev/null; done
  local start_ms; start_ms=$(ms_since "$t")
  counts=$(count_cgroups "$parent" | sort -u | tr '\n' ' ')
  [ "$counts" = "$N " ] || { echo "cgroups.sh: $engine $variant: cgroups per hierarchy: $counts, want $N" >&2; exit 1; }
  t=$(now_ns)
  for i in $(seq "$N"); do "${cli[@]}" rm -f "bc$i" >/dev/null; done
  local rm_ms; rm_ms=$(ms_since "$t")
  counts=$(count_cgroups "$parent" | sort -u | tr '\n' ' ')
  [ "$counts" = "0 " ] || { echo "cgroups.sh: $engine $variant: left after rm: $counts" >&2; exit 1; }
  echo "$start_ms $rm_ms"
}
for variant in plain limits; do
  for engine in berth docker; do
    S=(); D=()
    for _ in $(seq "$REPS"); do
      read -r s d < <(one_rep "$engine" "$variant")
      S+=("$s"); D+=("$d")
    done
    R[$engine-$variant-start]=$(printf '%s\n' "${S[@]}" | median)
    R[$engine-$variant-rm]=$(printf '%s\n' "${D[@]}" | median)
    R[$engine-$variant-runs]="start ${S[*]}; rm ${D[*]}"
    echo "== $engine $variant: ${R[$engine-$variant-runs]} ms" >&2
  done
done
S=(); D=()
for _ in $(seq "$REPS"); do
  read -r s d < <(python3 bench/cgroup-floor.py "$FCG" "$N")
  S+=("$s"); D+=("$d")
done
R[floor-start]=$(printf '%s\n' "${S[@]}" | median)
R[floor-rm]=$(printf '%s\n' "${D[@]}" | median)
R[floor-runs]="create ${S[*]}; remove ${D[*]}"
echo "== floor: ${R[floor-runs]} ms" >&2

# --- summary ------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
echo
echo "# bench/cgroups.sh $N $REPS — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r), at start: $START_STATE"
echo "# berth $BUILD"
[ -n "$QUIET_NOTE" ] && echo "# $QUIET_NOTE"
h=$(heavy); [ -n "$h" ] && echo "# busy at the end: $(echo "$h" | head -3 | tr '\n' ';')"
echo "# dockerd $("$DOCKERD" --version); docker CLI $("$DOCKER" --version); limits: ${LIMITS[*]}"
echo
printf '%-40s %12s %12s %12s\n' "$N containers, medians of $REPS (ms)" "berthd" "dockerd" "berth/docker"
for variant in plain limits; do
  for phase in start rm; do
    b=${R[berth-$variant-$phase]}; d=${R[docker-$variant-$phase]}
    if [ "$phase" = start ]; then label="run -d x$N ($variant)"; else label="rm -f x$N, one at a time ($variant)"; fi
    printf '%-40s %12s %12s %12s\n' "$label" "$b" "$d" "$(ratio "$b" "$d")"
  done
done
printf '%-40s %12s\n' "floor: create $N cgroup sets + limits" "${R[floor-start]}"
printf '%-40s %12s\n' "floor: remove them" "${R[floor-rm]}"
echo
for k in berth-plain docker-plain berth-limits docker-limits floor; do echo "runs $k: ${R[$k-runs]}"; done
lb=$(awk -v a="${R[berth-limits-start]}" -v b="${R[berth-plain-start]}" -v n="$N" 'BEGIN {printf "%.2f", (a - b) / n}')
ld=$(awk -v a="${R[docker-limits-start]}" -v b="${R[docker-plain-start]}" -v n="$N" 'BEGIN {printf "%.2f", (a - b) / n}')
echo "limits add per container start: berthd $lb ms, dockerd $ld ms; floor per container $(awk -v a="${R[floor-start]}" -v b="${R[floor-rm]}" -v n="$N" 'BEGIN {printf "%.2f", (a + b) / n}') ms"
