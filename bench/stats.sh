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
N=${1:-50}
RUNS=${2:-10}
DOCKER=${BERTH_DOCKER_CLI:-/usr/local/bin/docker}
DOCKERD=/usr/sbin/dockerd
RND=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
BRIDGE=berths$RND
IMG=berthbench/busybox:latest

[ "$(id -u)" = 0 ] || { echo "stats.sh: run as root" >&2; exit 1; }
[ -x "$DOCKERD" ] || { echo "stats.sh: $DOCKERD missing (apt-get install docker.io)" >&2; exit 1; }
[ -x "$DOCKER" ] || { echo "stats.sh: docker CLI missing at $DOCKER (set BERTH_DOCKER_CLI)" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "stats.sh: hyperfine missing (apt-get install hyperfine)" >&2; exit 1; }

cargo build --release --locked --bins >&2
BERTHD=$PWD/target/release/berthd
BERTH=$PWD/target/release/berth
BUILD="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' + uncommitted src changes')"

# shellcheck source=bench/lib.sh
. bench/lib.sh
wait_quiet

# --- set-up and clean-up ------------------------------------------------------
WORK=$(mktemp -d /tmp/berth-bench-stats-XXXXXX)
BD=$WORK/berthd
DD=$WORK/dockerd
RUN=$WORK/run
BSOCK=$BD/berth.sock
DSOCK=$DD/docker.sock
BCG=berth-bench-stats-b$RND
DCG=berth-bench-stats-d$RND
BERTHD_PID=
DOCKERD_PID=
BRIDGE_MADE=
B=("$BERTH" -H "unix://$BSOCK")
DB=("$DOCKER" --config "$WORK/cfg" -H "unix://$BSOCK")
DK=("$DOCKER" --config "$WORK/cfg" -H "unix://$DSOCK")

rm_cgroups() { # removes a cgroup parent from every hierarchy, deepest first
  local root
  awk -F' - ' '{split($1, a, " "); split($2, b, " "); if (b[1] ~ /^cgroup2?$/) print a[5]}' /proc/self/mountinfo |
    while read -r root; do
      if [ -d "$root/$1" ]; then find "$root/$1" -depth -type d -exec rmdir {} + 2>/dev/null; fi
    done
  return 0
}
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
  rm_cgroups "$BCG"; rm_cgroups "$DCG"
  if [ -n "$BRIDGE_MADE" ]; then ip link del "$BRIDGE"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$BD" "$DD" "$WORK/cfg" "$RUN"
mount -t tmpfs -o size=256m,mode=0700 berth-bench-stats "$RUN"
ip link add "$BRIDGE" type bridge
BRIDGE_MADE=1
ip addr add "198.$((18 + RANDOM % 2)).$((RANDOM % 256)).$((RANDOM % 64 * 4 + 1))/30" dev "$BRIDGE"
berthd_net # a bridge and nft table of berthd's own (bench/lib.sh)

# Absolute parents: runc places a relative one below its own cgroup (here
# inside the invoking shell's memory cgroup), berthd below the root.
echo "{\"cgroup-parent\": \"/$BCG\"}" > "$BD/daemon.json"
"$BERTHD" -H "unix://$BSOCK" --data-root "$BD/data" --exec-root "$RUN/berthd" \
  --pidfile "$BD/berthd.pid" --config-file "$BD/daemon.json" "${BERTHD_NET[@]}" >"$BD/log" 2>&1 &
BERTHD_PID=$!
wait_sock "$BSOCK" "$BERTHD_PID" "$BD/log"

echo "{\"cgroup-parent\": \"/$DCG\"}" > "$DD/daemon.json"
"$DOCKERD" -H "unix://$DSOCK" --data-root "$DD/data" --exec-root "$RUN/dockerd" \
  --pidfile "$DD/docker.pid" --config-file "$DD/daemon.json" --bridge "$BRIDGE" \
  --iptables=false --ip-masq=false --ip-forward=false --userland-proxy=false \
  --containerd-namespace berthbench --containerd-plugins-namespace berthbench-plugins >"$DD/log" 2>&1 &
DOCKERD_PID=$!
wait_sock "$DSOCK" "$DOCKERD_PID" "$DD/log"

# The same image in both: built into berthd, saved, loaded into dockerd.
BERTH_CLI=$BERTH BERTH_HOST="unix://$BSOCK" scripts/busybox-image.sh "$IMG" >&2
"${B[@]}" save -o "$WORK/busybox.tar" "$IMG"
"${DK[@]}" load -i "$WORK/busybox.tar" >&2
rm -f "$WORK/busybox.tar"

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
