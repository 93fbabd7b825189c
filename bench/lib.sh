# shellcheck shell=bash
# Shared helpers of the side-by-side benchmarks (bench/*.sh).
# Sourced, not run. Messages name the calling script ($BENCH_NAME).

BENCH_NAME=${BENCH_NAME:-$(basename "$0")}

pgid() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $3}'; }
MYPGID=$(pgid $$)
heavy() { # prints what keeps the machine busy (not this run: its process group)
  local p pg n
  for p in $( (for n in cargo cargo-clippy rustc cargo-nextest clippy-driver rustdoc cc1 ld; do pgrep -x "$n"; done
               pgrep -f 'bench/[a-z0-9]+\.sh') || true); do
    pg=$(pgid "$p")
    if [ -z "$pg" ] || [ "$pg" = "$MYPGID" ]; then continue; fi
    echo "$p $( { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null | cut -c1-100)"
  done
}
cpu_busy() { # percent of all CPUs busy over 2 s
  local a b
  a=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
  sleep 2
  b=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
  echo "$a $b" | awk '{printf "%d\n", 100 * ($3 - $1) / ($4 - $2)}'
}
# Waits (up to $QUIET_WAIT s, default 600) for no compiler, test run or other
# benchmark and < 25 % CPU; sets START_STATE, and QUIET_NOTE when it gave up.
wait_quiet() {
  local h busy deadline=$((SECONDS + ${QUIET_WAIT:-600}))
  QUIET_NOTE=
  while :; do
    h=$(heavy); busy=$(cpu_busy)
    [ -z "$h" ] && [ "$busy" -lt 25 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      QUIET_NOTE="machine NOT quiet: cpu ${busy}% busy; $(echo "$h" | head -3 | tr '\n' ';')"
      echo "$BENCH_NAME: WARNING: $QUIET_NOTE" >&2
      break
    fi
    echo "$BENCH_NAME: waiting for a quiet machine (cpu ${busy}% busy)${h:+: $(echo "$h" | head -1)}" >&2
    sleep 10
  done
  # shellcheck disable=SC2034 # read by the calling script
  START_STATE="load $(cut -d' ' -f1-3 /proc/loadavg), cpu ${busy}% busy"
}

descendants() { # pids of all descendants of the given pids
  local all kids p
  all=$(awk '{print $1, $4}' /proc/[0-9]*/stat 2>/dev/null || true)
  for p in "$@"; do
    kids=$(echo "$all" | awk -v p="$p" '$2 == p {print $1}')
    for k in $kids; do echo "$k"; descendants "$k"; done
  done
}
remove_all() { # cli... : removes every container, one at a time
  local id
  for id in $("$@" ps -aq 2>/dev/null); do "$@" rm -f "$id" >/dev/null 2>&1 || true; done
}
stop_pid() {
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid"
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
wait_sock() { # socket, pid, log
  for _ in $(seq 600); do
    [ -S "$1" ] && curl -sf --unix-socket "$1" http://d/_ping >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  echo "$BENCH_NAME: daemon did not start; log:" >&2; tail -n 30 "$3" >&2; exit 1
}

# berthd sets up a default bridge (--bridge, default berth0) and an nftables
# table at start and, like dockerd with docker0, leaves both behind when it
# stops. A throw-away berthd gets a bridge of its own so that it neither
# collides with an installed berthd nor leaves berth0 behind:
#   berthd_net            sets BERTHD_BRIDGE (berthb<6 hex>) and BERTHD_NET,
#                         the flags `--bridge BERTHD_BRIDGE --bip A.B.C.1/24`
#                         with a /24 in 198.18.0.0/15 that overlaps no route
#                         or address of the host;
#   berthd_net_cleanup D... (exit trap, after berthd stopped and before its
#                         data root D is removed) deletes that bridge, every
#                         bridge of the networks recorded under D, and the daemon's
#                         nft table (`table ip berth_<bridge>`, src/network/nft.rs).
berthd_net() {
  local p
  BERTHD_BRIDGE=berthb$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
  while ip link show "$BERTHD_BRIDGE" >/dev/null 2>&1; do
    BERTHD_BRIDGE=berthb$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
  done
  p=$( { ip -4 route; ip -4 -o addr; } | python3 -c '
import ipaddress, random, re, sys
used = [ipaddress.ip_network(a, strict=False)
        for a in re.findall(r"\b\d+\.\d+\.\d+\.\d+(?:/\d+)?", sys.stdin.read())]
free = [n for n in ipaddress.ip_network("198.18.0.0/15").subnets(new_prefix=24)
        if not any(n.overlaps(u) for u in used)]
print(random.choice(free).network_address)')
  # shellcheck disable=SC2034 # read by the calling script
  BERTHD_NET=(--bridge "$BERTHD_BRIDGE" --bip "${p%.0}.1/24")
}
berthd_net_cleanup() { # data root...
  local d
  [ -n "${BERTHD_BRIDGE:-}" ] || return 0
  for d in "$@"; do
    cat "$d"/network/networks/*.json 2>/dev/null | sed -n 's/^ *"bridge": *"\([^"]*\)".*/\1/p' |
      while read -r br; do
        if [ -d "/sys/class/net/$br/bridge" ]; then ip link del "$br" 2>/dev/null || true; fi
      done || true
  done
  ip link del "$BERTHD_BRIDGE" 2>/dev/null || true
  nft delete table ip "berth_$BERTHD_BRIDGE" 2>/dev/null || true
}

# --- the two engines ----------------------------------------------------------
DOCKER=${BERTH_DOCKER_CLI:-/usr/local/bin/docker}
DOCKERD=/usr/sbin/dockerd
need_engines() { # command...: root, dockerd, the docker CLI and the commands named
  local c
  [ "$(id -u)" = 0 ] || { echo "$BENCH_NAME: run as root" >&2; exit 1; }
  [ -x "$DOCKERD" ] || { echo "$BENCH_NAME: $DOCKERD missing (apt-get install docker.io)" >&2; exit 1; }
  [ -x "$DOCKER" ] || { echo "$BENCH_NAME: docker CLI missing at $DOCKER (set BERTH_DOCKER_CLI)" >&2; exit 1; }
  for c; do
    command -v "$c" >/dev/null || { echo "$BENCH_NAME: $c missing (apt-get install $c)" >&2; exit 1; }
  done
}
build_release() { # builds the release binaries; sets BERTHD, BERTH and BUILD (commit + dirty mark)
  cargo build --release --locked --bins >&2
  BERTHD=$PWD/target/release/berthd
  BERTH=$PWD/target/release/berth
  # shellcheck disable=SC2034 # read by the calling script
  BUILD="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' + uncommitted src changes')"
}

# A run with one berthd and one dockerd keeps all in WORK=/tmp/berth-bench-NAME-*:
#   bench_work NAME       sets WORK, BD and DD (the daemons' dirs), RUN (for
#                         exec roots), BSOCK, DSOCK and the CLIs B (berth ->
#                         berthd), DB (docker -> berthd), DK (docker -> dockerd);
#   dockerd_bridge NAME   a bridge for dockerd with a random /30 in
#                         198.18.0.0/15 (before berthd_net, which avoids it);
#   start_berthd DIR EXEC_ROOT [flag...]
#   start_dockerd DIR EXEC_ROOT BRIDGE [USERLAND_PROXY [CONTAINERD_NS]]
#                         start a daemon with its socket, data root, pid file,
#                         config (DIR/daemon.json, `{}` unless written before)
#                         and log in DIR, and wait for its socket; they set
#                         BERTHD_PID / DOCKERD_PID. dockerd never touches the
#                         host's iptables; no userland proxy and containerd
#                         namespace berthbench unless told;
#   load_image_both       builds $IMG (busybox) into berthd and loads it into
#                         dockerd through $WORK/busybox.tar (kept with `keep`);
#   bench_cleanup         (exit trap) removes all containers, stops both
#                         daemons, kills what still names WORK (supervisors,
#                         shims, containerd) and its descendants, unmounts all
#                         below WORK, deletes berthd's and dockerd's bridges and
#                         WORK itself.
bench_work() {
  WORK=$(mktemp -d "/tmp/berth-bench-$1-XXXXXX")
  BD=$WORK/berthd
  DD=$WORK/dockerd
  # shellcheck disable=SC2034 # read by the calling script
  RUN=$WORK/run
  BSOCK=$BD/berth.sock
  DSOCK=$DD/docker.sock
  BERTHD_PID=
  DOCKERD_PID=
  DOCKERD_BRIDGE=
  # shellcheck disable=SC2034 # read by the calling script
  B=("$BERTH" -H "unix://$BSOCK")
  # shellcheck disable=SC2034
  DB=("$DOCKER" --config "$WORK/cfg" -H "unix://$BSOCK")
  DK=("$DOCKER" --config "$WORK/cfg" -H "unix://$DSOCK")
}
dockerd_bridge() {
  ip link add "$1" type bridge
  DOCKERD_BRIDGE=$1
  ip addr add "198.$((18 + RANDOM % 2)).$((RANDOM % 256)).$((RANDOM % 64 * 4 + 1))/30" dev "$1"
}
BENCH_CGROUPS=() # cgroup parents start_berthd/start_dockerd made up
start_berthd() {
  local dir=$1 exec_root=$2; shift 2
  mkdir -p "$dir"
  # A cgroup parent of this run's own (removed by bench_cleanup), unless
  # the script wrote a daemon.json with its own.
  if [ ! -f "$dir/daemon.json" ]; then
    BENCH_CGROUPS+=("$(basename "$WORK")-berthd")
    echo "{\"cgroup-parent\": \"/${BENCH_CGROUPS[-1]}\"}" > "$dir/daemon.json"
  fi
  "$BERTHD" -H "unix://$dir/berth.sock" --data-root "$dir/data" --exec-root "$exec_root" \
    --pidfile "$dir/berthd.pid" --config-file "$dir/daemon.json" "$@" >"$dir/log" 2>&1 &
  BERTHD_PID=$!
  wait_sock "$dir/berth.sock" "$BERTHD_PID" "$dir/log"
}
start_dockerd() {
  local dir=$1 exec_root=$2 bridge=$3 proxy=${4:-false} ns=${5:-berthbench}
  mkdir -p "$dir"
  if [ ! -f "$dir/daemon.json" ]; then
    BENCH_CGROUPS+=("$(basename "$WORK")-dockerd")
    echo "{\"cgroup-parent\": \"/${BENCH_CGROUPS[-1]}\"}" > "$dir/daemon.json"
  fi
  "$DOCKERD" -H "unix://$dir/docker.sock" --data-root "$dir/data" --exec-root "$exec_root" \
    --pidfile "$dir/docker.pid" --config-file "$dir/daemon.json" --bridge "$bridge" \
    --iptables=false --ip-masq=false --ip-forward=false --userland-proxy="$proxy" \
    --containerd-namespace "$ns" --containerd-plugins-namespace "$ns-plugins" >"$dir/log" 2>&1 &
  DOCKERD_PID=$!
  wait_sock "$dir/docker.sock" "$DOCKERD_PID" "$dir/log"
}
# shellcheck disable=SC2120 # `keep` is optional
load_image_both() { # [keep]
  BERTH_CLI=$BERTH BERTH_HOST="unix://$BSOCK" scripts/busybox-image.sh "$IMG" >&2
  "${B[@]}" save -o "$WORK/busybox.tar" "$IMG"
  "${DK[@]}" load -i "$WORK/busybox.tar" >&2
  if [ $# = 0 ]; then rm -f "$WORK/busybox.tar"; fi # `keep`: stays
}
bench_cleanup() {
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
  if mountpoint -q "$WORK"; then umount -l "$WORK"; fi # run.sh tmpfs
  rm -rf "$WORK"
  if [ -n "$DOCKERD_BRIDGE" ]; then ip link del "$DOCKERD_BRIDGE"; fi
  local cg
  for cg in "${BENCH_CGROUPS[@]}"; do rm_cgroups "$cg"; done
}
rm_cgroups() { # parent: removes a cgroup parent from every hierarchy, deepest first
  local root
  awk -F' - ' '{split($1, a, " "); split($2, b, " "); if (b[1] ~ /^cgroup2?$/) print a[5]}' /proc/self/mountinfo |
    while read -r root; do
      if [ -d "$root/$1" ]; then find "$root/$1" -depth -type d -exec rmdir {} + 2>/dev/null; fi
    done
  return 0
}
