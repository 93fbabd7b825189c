#!/usr/bin/env bash
# Container logging, side by side: a fresh release-built berthd (json-file
# driver in the container's supervisor) and a fresh dockerd (Debian docker.io
# 20.10, json-file driver in dockerd), same busybox image in both.
#   sudo bench/logs.sh [MB] [TAIL_MIB]     (defaults: 500, 1024)
# Workload: `yes LINE | head -n N` in a container (`--network none` in both), LINE 99
# bytes + newline, N = MB * 10^6 / 100 lines (500 MB -> 5,000,000 lines).
# Measures, for each engine:
#   1. write: wall time from `start` to `wait` returning (container exited,
#      log written), no rotation and `--log-opt max-size=10m --log-opt
#      max-file=3`; MB/s of container output; lines in `logs C | wc -l` must
#      equal N (no-rotation case); max VmRSS of berth's supervisor (and, for
#      dockerd, of the containerd shim and of dockerd itself, which writes the
#      log) sampled every 100 ms during the write;
#   2. `logs C > /dev/null` of the no-rotation 500 MB result (wall time);
#   3. `logs --tail 100 C > /dev/null` of a log made by a container writing
#      TAIL_MIB MiB of lines: 10 runs, median (and the check: 100 lines).
# Clients: berth CLI -> berthd, docker 28 CLI -> dockerd. Data roots on /tmp's
# filesystem, exec roots on a tmpfs (as /var/lib and /run on a host).
# Waits (up to QUIET_WAIT s, default 600) for a quiet machine first.
# Everything lives under /tmp/berth-bench-logs-*; dockerd gets a bridge of its
# own (berthl<random>, a /30 in 198.18.0.0/15) and no iptables rules, and
# berthd one too (berthb<random>, a free /24 there, with its nft table
# berth_<bridge>); all is removed on exit, failure included. Each log is
# deleted once measured.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
# shellcheck source=bench/lib.sh
. bench/lib.sh
MB=${1:-500}
TAIL_MIB=${2:-1024}
BRIDGE=berthl$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
IMG=berthbench/busybox:latest
# 99 bytes + newline.
LINE=$(printf 'berth-bench log line %078d' 0)
[ ${#LINE} = 99 ] || { echo "logs.sh: line is ${#LINE} bytes, not 99" >&2; exit 1; }
N=$((MB * 1000000 / 100))
NT=$((TAIL_MIB * 1048576 / 100))

need_engines
build_release
wait_quiet

# --- set-up and clean-up ------------------------------------------------------
bench_work logs
SAMPLER=

cleanup() {
  set +e
  if [ -n "$SAMPLER" ]; then kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null; fi
  bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$BD" "$DD" "$WORK/cfg" "$RUN"
mount -t tmpfs -o size=256m,mode=0700 berth-bench-logs "$RUN"
dockerd_bridge "$BRIDGE"
berthd_net # a bridge and nft table of berthd's own (bench/lib.sh)
start_berthd "$BD" "$RUN/berthd" "${BERTHD_NET[@]}"
start_dockerd "$DD" "$RUN/dockerd" "$BRIDGE"
# The same image in both: built into berthd, saved, loaded into dockerd.
load_image_both

# --- measurements -------------------------------------------------------------
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.4f\n", (a[NR/2]+a[NR/2+1])/2}'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true; }

# Writes "max_kib" per pid-finding function into $1 every 100 ms until killed.
# $2: berth or docker. The pids are looked up on each tick (the supervisor
# or shim appears only once the container starts).
sampler() {
  local out=$1 engine=$2 p r a=0 b=0 c=0
  while :; do
    if [ "$engine" = berth ]; then
      for p in $(grep -lsF __berth_supervisor /proc/[0-9]*/cmdline | cut -d/ -f3); do
        r=$(rss_kib "$p"); [ -n "$r" ] && [ "$r" -gt "$a" ] && a=$r
      done
    else
      for p in $(grep -lsF containerd-shim /proc/[0-9]*/cmdline | cut -d/ -f3); do
        grep -qsF berthbench "/proc/$p/cmdline" || continue
        r=$(rss_kib "$p"); [ -n "$r" ] && [ "$r" -gt "$b" ] && b=$r
      done
      r=$(rss_kib "$DOCKERD_PID"); [ -n "$r" ] && [ "$r" -gt "$c" ] && c=$r
    fi
    echo "$a $b $c" > "$out.tmp"; mv "$out.tmp" "$out"
    sleep 0.1
  done
}

# write ENGINE NAME LINES [log-opt...] -> "seconds rss_sup rss_shim rss_dockerd" on stdout
write_run() {
  local engine=$1 name=$2 lines=$3; shift 3
  local cli opts=() o t0 t1 rc
  # --network none in both: logging does not touch the network, and dockerd's
  # bridge here is a /30 (one address).
  opts=(--network none)
  if [ "$engine" = berth ]; then cli=("${B[@]}"); else cli=("${DK[@]}"); fi
  for o in "$@"; do opts+=(--log-opt "$o"); done
  "${cli[@]}" create --name "$name" "${opts[@]}" "$IMG" \
    sh -c "yes '$LINE' | head -n $lines" >/dev/null
  sync
  sampler "$WORK/rss" "$engine" & SAMPLER=$!
  t0=$(now)
  "${cli[@]}" start "$name" >/dev/null
  rc=$("${cli[@]}" wait "$name")
  t1=$(now)
  kill "$SAMPLER"; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=
  [ "$rc" = 0 ] || { echo "logs.sh: $engine $name exited $rc" >&2; exit 1; }
  echo "$t0 $t1 $(cat "$WORK/rss")" | awk '{printf "%.3f %d %d %d\n", $2 - $1, $3, $4, $5}'
}
declare -A cli_of
cli_of[berth]="$BERTH -H unix://$BSOCK"
cli_of[docker]="$DOCKER --config $WORK/cfg -H unix://$DSOCK"
# shellcheck disable=SC2206
cli() { local c=(${cli_of[$1]}); shift; "${c[@]}" "$@"; }
log_bytes() { # engine name -> bytes of the container's log files
  local d id
  if [ "$1" = berth ]; then d=$BD/data; else d=$DD/data; fi
  id=$(cli "$1" inspect -f '{{.Id}}' "$2")
  du -cb "$d/containers/$id"/*-json.log* | tail -1 | cut -f1
}

declare -A R
for engine in berth docker; do
  echo "== $engine: write $MB MB, no rotation" >&2
  read -r t s sh dd < <(write_run "$engine" bl-plain "$N")
  R[$engine,plain]=$t; R[$engine,plain_rss]="$s $sh $dd"
  R[$engine,plain_bytes]=$(log_bytes "$engine" bl-plain)
  t0=$(now); cli "$engine" logs bl-plain >/dev/null 2>&1; t1=$(now)
  R[$engine,cat]=$(echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}')
  R[$engine,lines]=$(cli "$engine" logs bl-plain 2>&1 | wc -l)
  cli "$engine" rm -f bl-plain >/dev/null
  echo "   ${R[$engine,plain]} s, rss ${R[$engine,plain_rss]} KiB, log ${R[$engine,plain_bytes]} B, logs ${R[$engine,cat]} s, ${R[$engine,lines]} lines" >&2

  echo "== $engine: write $MB MB, max-size=10m max-file=3" >&2
  read -r t s sh dd < <(write_run "$engine" bl-rot "$N" max-size=10m max-file=3)
  R[$engine,rot]=$t; R[$engine,rot_rss]="$s $sh $dd"
  R[$engine,rot_bytes]=$(log_bytes "$engine" bl-rot)
  R[$engine,rot_tail]=$(cli "$engine" logs --tail 1 bl-rot 2>&1 | head -c 60)
  cli "$engine" rm -f bl-rot >/dev/null
  echo "   ${R[$engine,rot]} s, rss ${R[$engine,rot_rss]} KiB, retained ${R[$engine,rot_bytes]} B" >&2

  echo "== $engine: $TAIL_MIB MiB log, logs --tail 100 x10" >&2
  read -r t s sh dd < <(write_run "$engine" bl-big "$NT")
  R[$engine,big]=$t; R[$engine,big_bytes]=$(log_bytes "$engine" bl-big)
  sync
  cli "$engine" logs --tail 100 bl-big >/dev/null 2>&1 # warm-up
  T=()
  for _ in $(seq 10); do
    t0=$(now); cli "$engine" logs --tail 100 bl-big >/dev/null 2>&1; t1=$(now)
    T+=("$(echo "$t0 $t1" | awk '{printf "%.4f", $2 - $1}')")
  done
  R[$engine,tail_runs]="${T[*]}"
  R[$engine,tail]=$(printf '%s\n' "${T[@]}" | median)
  R[$engine,tail_lines]=$(cli "$engine" logs --tail 100 bl-big 2>&1 | wc -l)
  cli "$engine" rm -f bl-big >/dev/null
  echo "   write ${R[$engine,big]} s, log ${R[$engine,big_bytes]} B, tail median ${R[$engine,tail]} s (${R[$engine,tail_runs]}), ${R[$engine,tail_lines]} lines" >&2
done

# --- summary ------------------------------------------------------------------
mbs() { awk -v mb="$1" -v t="$2" 'BEGIN {printf "%.1f", mb / t}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo
echo "machine at start: $START_STATE${QUIET_NOTE:+; $QUIET_NOTE}"
echo "build: $BUILD"
echo "workload: yes <99-byte line> | head -n $N  ($MB MB); tail log: $NT lines ($TAIL_MIB MiB of output)"
printf '%-34s %14s %14s %10s\n' "" berthd dockerd "speed-up"
printf '%-34s %14s %14s %10s\n' "write, no rotation (s)" "${R[berth,plain]}" "${R[docker,plain]}" ""
printf '%-34s %14s %14s %10s\n' "  MB/s" "$(mbs "$MB" "${R[berth,plain]}")" "$(mbs "$MB" "${R[docker,plain]}")" "$(ratio "${R[docker,plain]}" "${R[berth,plain]}")x"
printf '%-34s %14s %14s %10s\n' "  lines in logs (want $N)" "${R[berth,lines]}" "${R[docker,lines]}" ""
printf '%-34s %14s %14s %10s\n' "  log bytes" "${R[berth,plain_bytes]}" "${R[docker,plain_bytes]}" ""
printf '%-34s %14s %14s %10s\n' "write, max-size=10m max-file=3 (s)" "${R[berth,rot]}" "${R[docker,rot]}" ""
printf '%-34s %14s %14s %10s\n' "  MB/s" "$(mbs "$MB" "${R[berth,rot]}")" "$(mbs "$MB" "${R[docker,rot]}")" "$(ratio "${R[docker,rot]}" "${R[berth,rot]}")x"
printf '%-34s %14s %14s %10s\n' "  retained log bytes" "${R[berth,rot_bytes]}" "${R[docker,rot_bytes]}" ""
printf '%-34s %14s %14s %10s\n' "logs of $MB MB log > /dev/null (s)" "${R[berth,cat]}" "${R[docker,cat]}" "$(ratio "${R[docker,cat]}" "${R[berth,cat]}")x"
printf '%-34s %14s %14s %10s\n' "logs --tail 100, median of 10 (s)" "${R[berth,tail]}" "${R[docker,tail]}" "$(ratio "${R[docker,tail]}" "${R[berth,tail]}")x"
printf '%-34s %14s %14s %10s\n' "  log bytes" "${R[berth,big_bytes]}" "${R[docker,big_bytes]}" ""
printf '%-34s %14s %14s %10s\n' "  lines (want 100)" "${R[berth,tail_lines]}" "${R[docker,tail_lines]}" ""
read -r bs _ _ <<<"${R[berth,plain_rss]}"; read -r br _ _ <<<"${R[berth,rot_rss]}"
read -r _ ds dd <<<"${R[docker,plain_rss]}"; read -r _ drs drd <<<"${R[docker,rot_rss]}"
echo "max VmRSS while writing (KiB), no rotation / rotation:"
echo "  berth supervisor: $bs / $br"
echo "  dockerd's containerd-shim: $ds / $drs; dockerd (writes the log): $dd / $drd"
echo "tail runs (s): berthd ${R[berth,tail_runs]}; dockerd ${R[docker,tail_runs]}"
echo "rotated tail line: berthd '${R[berth,rot_tail]}'; dockerd '${R[docker,rot_tail]}'"
