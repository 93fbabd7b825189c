#!/usr/bin/env bash
# `stats --no-stream` over many running containers, side by side: a fresh
# release-built berthd and a fresh dockerd (Debian docker.io 20.10, runc),
# same busybox image, N containers `run -d -m 64m IMG sleep 3600` in each
# (both with --network none: dockerd's bridge here is a /30, one address).
#   sudo bench/stats.sh [N] [RUNS]     (defaults: 50, 10)
# Measures (hyperfine -N, 1 warm-up, RUNS runs, median):
#   - docker 28 CLI `stats --no-stream` -> berthd and -> dockerd (the issue's
#     target: berthd <= 0.2x dockerd), and `berth stats --no-stream` -> berthd;
#   - the daemon's part alone (bench/stats-api.py): one `GET
#     /containers/{id}/stats?stream=0` per running container, all at once,
#     until the last answer (RUNS times, 1 s apart; first run and median).
#     The docker CLI renders `--no-stream` on its first 500 ms tick, so no
#     daemon can make the CLI command faster than ~0.5 s;
#   - CPU time the engines spend per call (utime+stime over the timed runs,
#     divided by the number of calls): berthd + its supervisors, and dockerd +
#     containerd + the containerd shims (dockerd 20.10 gets cgroup figures
#     through containerd's task metrics, which the shims read).
# Each output is checked: a header and N rows, every row with a 64MiB limit.
# Waits (up to QUIET_WAIT s, default 600) for a quiet machine first.
# Everything lives under /tmp/berth-bench-stats-*; each daemon has a cgroup
# parent of its own (berth-bench-stats-*); dockerd a bridge of its own
# (berths<random>, a /30 in 198.18.0.0/15) and no iptables rules, berthd one
# too (berthb<random>, a free /24 there, with its nft table berth_<bridge>);
# all is removed on exit, failure included (dockerd's containers one at a time,
# moby#46661).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
# shellcheck source=bench/lib.sh
. bench/lib.sh
N=${1:-50}
RUNS=${2:-10}
RND=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
BRIDGE=berths$RND
IMG=berthbench/busybox:latest

need_engines hyperfine
build_release
wait_quiet

# --- set-up and clean-up ------------------------------------------------------
bench_work stats
BCG=berth-bench-stats-b$RND
DCG=berth-bench-stats-d$RND

cleanup() { bench_cleanup; rm_cgroups "$BCG"; rm_cgroups "$DCG"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$BD" "$DD" "$WORK/cfg" "$RUN"
mount -t tmpfs -o size=256m,mode=0700 berth-bench-stats "$RUN"
dockerd_bridge "$BRIDGE"
berthd_net # a bridge and nft table of berthd's own (bench/lib.sh)

# Absolute parents: runc places a relative one below its own cgroup (here
# inside the invoking shell's memory cgroup), berthd below the root.
echo "{\"cgroup-parent\": \"/$BCG\"}" > "$BD/daemon.json"
start_berthd "$BD" "$RUN/berthd" "${BERTHD_NET[@]}"
echo "{\"cgroup-parent\": \"/$DCG\"}" > "$DD/daemon.json"
start_dockerd "$DD" "$RUN/dockerd" "$BRIDGE"
# The same image in both: built into berthd, saved, loaded into dockerd.
load_image_both

echo "== starting $N containers in each engine" >&2
for i in $(seq "$N"); do
  "${B[@]}" run -d --name "bs$i" --network none -m 64m "$IMG" sleep 3600 >/dev/null
  "${DK[@]}" run -d --name "bs$i" --network none -m 64m "$IMG" sleep 3600 >/dev/null
done
nb=$("${B[@]}" ps -q | wc -l); nd=$("${DK[@]}" ps -q | wc -l)
if [ "$nb" != "$N" ] || [ "$nd" != "$N" ]; then
  echo "stats.sh: running: berthd $nb, dockerd $nd, want $N" >&2; exit 1
fi

# --- measurements -------------------------------------------------------------
# A stats table must have a header and N rows, each with the 64MiB limit.
check_table() { # name, command...
  local name=$1 out rows; shift
  out=$("$@")
  rows=$(echo "$out" | tail -n +2 | grep -c ' / 64MiB ' || true)
  [ "$rows" = "$N" ] || { echo "stats.sh: $name: $rows rows with a 64MiB limit, want $N:" >&2; echo "$out" >&2; exit 1; }
}
# CPU ticks (utime+stime) of the pids given, summed.
ticks() { local p t=0 s; for p in "$@"; do s=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue; t=$((t + $(echo "$s" | awk '{print $12 + $13}'))); done; echo "$t"; }
berth_pids() { echo "$BERTHD_PID"; grep -lsF __berth_supervisor /proc/[0-9]*/cmdline | cut -d/ -f3; }
docker_pids() { # dockerd, its containerd, and the bench namespace's shims
  echo "$DOCKERD_PID"
  grep -lsF "$RUN/dockerd" /proc/[0-9]*/cmdline | cut -d/ -f3
  for p in $(grep -lsF containerd-shim /proc/[0-9]*/cmdline | cut -d/ -f3); do
    grep -qsF berthbench "/proc/$p/cmdline" && echo "$p"
  done | sort -u
}
HZ=$(getconf CLK_TCK)
declare -A R
bench() { # name, pid-lister, command...
  local name=$1 lister=$2 t0 t1 calls=$((RUNS + 1)); shift 2
  check_table "$name" "$@"
  # shellcheck disable=SC2046
  t0=$(ticks $($lister))
  echo "== $name: $*" >&2
  hyperfine -N --style basic --warmup 1 --runs "$RUNS" --export-json "$WORK/hf-$name.json" "$*" >&2
  # shellcheck disable=SC2046
  t1=$(ticks $($lister))
  R[$name]=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.1f" % (r["median"]*1000))' "$WORK/hf-$name.json")
  R[$name-runs]=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print(" ".join("%.0f" % (t*1000) for t in r["times"]))' "$WORK/hf-$name.json")
  R[$name-cpu]=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v n="$calls" 'BEGIN {printf "%.1f", (b - a) * 1000 / hz / n}')
}
bench docker-berthd berth_pids "${DB[@]}" stats --no-stream
bench docker-dockerd docker_pids "${DK[@]}" stats --no-stream
bench berth-berthd berth_pids "${B[@]}" stats --no-stream
for e in berthd dockerd; do
  if [ "$e" = berthd ]; then sock=$BSOCK; else sock=$DSOCK; fi
  echo "== api-$e: bench/stats-api.py $sock $RUNS" >&2
  R[api-$e-runs]=$(python3 bench/stats-api.py "$sock" "$RUNS")
  R[api-$e-first]=${R[api-$e-runs]%% *}
  R[api-$e]=$(echo "${R[api-$e-runs]}" | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.0f\n", (a[NR/2]+a[NR/2+1])/2}')
  echo "   ${R[api-$e-runs]} ms" >&2
done

# --- summary ------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
verdict() { awk -v x="$1" -v t="$2" 'BEGIN {print (x <= t) ? "met" : "NOT met"}'; }
echo
echo "# bench/stats.sh $N $RUNS — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r), at start: $START_STATE"
echo "# berth $BUILD"
[ -n "$QUIET_NOTE" ] && echo "# $QUIET_NOTE"
h=$(heavy); [ -n "$h" ] && echo "# busy at the end: $(echo "$h" | head -3 | tr '\n' ';')"
echo "# dockerd $("$DOCKERD" --version); docker CLI $("$DOCKER" --version)"
echo
printf '%-44s %12s %18s  %s\n' "stats --no-stream over $N containers" "median ms" "engine CPU ms/call" "runs (ms)"
for k in docker-berthd docker-dockerd berth-berthd; do
  case $k in
    docker-berthd) label="docker CLI -> berthd";;
    docker-dockerd) label="docker CLI -> dockerd";;
    berth-berthd) label="berth CLI -> berthd";;
  esac
  printf '%-44s %12s %18s  %s\n' "$label" "${R[$k]}" "${R[$k-cpu]}" "${R[$k-runs]}"
done
printf '%-44s %12s %18s  %s\n' "API: $N x stats?stream=0 at once -> berthd" "${R[api-berthd]}" "(first ${R[api-berthd-first]})" "${R[api-berthd-runs]}"
printf '%-44s %12s %18s  %s\n' "API: $N x stats?stream=0 at once -> dockerd" "${R[api-dockerd]}" "(first ${R[api-dockerd-first]})" "${R[api-dockerd-runs]}"
echo
x=$(ratio "${R[docker-berthd]}" "${R[docker-dockerd]}")
printf '%-58s %8s  %s\n' "docker stats --no-stream: berthd / dockerd" "$x" "<= 0.2: $(verdict "$x" 0.2)"
x=$(ratio "${R[berth-berthd]}" "${R[docker-dockerd]}")
printf '%-58s %8s\n' "berth stats (berthd) / docker stats (dockerd)" "$x"
x=$(ratio "${R[api-berthd]}" "${R[api-dockerd]}")
printf '%-58s %8s\n' "API, all containers' stats at once: berthd / dockerd" "$x"
x=$(ratio "${R[docker-berthd-cpu]}" "${R[docker-dockerd-cpu]}")
printf '%-58s %8s\n' "engine CPU per call: berthd / dockerd" "$x"
