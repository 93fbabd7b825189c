#!/usr/bin/env bash
# `exec C true` latency, side by side: a fresh release-built berthd and a
# fresh dockerd (Debian docker.io 20.10, containerd, runc), same busybox
# image, one running `sleep 3600` container in each.
#   sudo bench/exec.sh [RUNS]     (default: 50)
# Measures (hyperfine medians, RUNS runs after 3 warm-ups):
#   - `berth exec C true` (berth CLI -> berthd);
#   - `docker exec C true` (docker 28 CLI -> berthd, and -> dockerd);
#   - the API alone (bench/exec-api.py: exec create, hijacked start, read to
#     the end, inspect; median of RUNS, no CLI process) against each daemon;
#   - the clients alone (`--version`), which every CLI figure contains.
# Both containers run with `--network none` (exec does not touch the network).
# Waits (up to QUIET_WAIT s, default 600) for a quiet machine first; the
# summary says when it gave up waiting. Everything lives under
# /tmp/berth-bench-exec-*; dockerd gets a bridge of its own (berthe<random>,
# a /30 in 198.18.0.0/15) and no iptables rules, and berthd one too
# (berthb<random>, a free /24 there, with its nft table berth_<bridge>); all
# is removed on exit, failure included.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
RUNS=${1:-50}
DOCKER=${BERTH_DOCKER_CLI:-/usr/local/bin/docker}
DOCKERD=/usr/sbin/dockerd
BRIDGE=berthe$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
IMG=berthbench/busybox:latest

[ "$(id -u)" = 0 ] || { echo "exec.sh: run as root" >&2; exit 1; }
[ -x "$DOCKERD" ] || { echo "exec.sh: $DOCKERD missing (apt-get install docker.io)" >&2; exit 1; }
[ -x "$DOCKER" ] || { echo "exec.sh: docker CLI missing at $DOCKER (set BERTH_DOCKER_CLI)" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "exec.sh: hyperfine missing (apt-get install hyperfine)" >&2; exit 1; }

cargo build --release --locked --bins >&2
BERTHD=$PWD/target/release/berthd
BERTH=$PWD/target/release/berth
BUILD="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' + uncommitted src changes')"

# shellcheck source=bench/lib.sh
. bench/lib.sh
wait_quiet

# --- set-up and clean-up ------------------------------------------------------
WORK=$(mktemp -d /tmp/berth-bench-exec-XXXXXX)
BD=$WORK/berthd
DD=$WORK/dockerd
RUN=$WORK/run
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

mkdir -p "$BD" "$DD" "$WORK/cfg" "$RUN"
# Exec roots (sockets, runtime state) on a tmpfs, as /run is.
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

# The same image in both: built into berthd, saved, loaded into dockerd.
BERTH_CLI=$BERTH BERTH_HOST="unix://$BSOCK" scripts/busybox-image.sh "$IMG" >&2
"${B[@]}" save -o "$WORK/busybox.tar" "$IMG"
"${DK[@]}" load -i "$WORK/busybox.tar" >&2
"${B[@]}" run -d --network none --name berthbench-exec "$IMG" sleep 3600 >/dev/null
"${DK[@]}" run -d --network none --name berthbench-exec "$IMG" sleep 3600 >/dev/null

# --- timing -------------------------------------------------------------------
declare -A R # name -> median in ms
hf() { # name, command (split on spaces, no shell)
  local name=$1; shift
  echo "== $name: $*" >&2
  hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$WORK/hf-$name.json" "$*" >&2
  R[$name]=$(python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["median"] * 1000))' "$WORK/hf-$name.json")
}
hf cli-berth "$BERTH --version"
hf cli-docker "$DOCKER --version"
hf berth-berthd "$BERTH -H unix://$BSOCK exec berthbench-exec true"
hf docker-berthd "$DOCKER --config $WORK/cfg -H unix://$BSOCK exec berthbench-exec true"
hf docker-dockerd "$DOCKER --config $WORK/cfg -H unix://$DSOCK exec berthbench-exec true"
R[api-berthd]=$(python3 bench/exec-api.py "$BSOCK" berthbench-exec "$RUNS")
R[api-dockerd]=$(python3 bench/exec-api.py "$DSOCK" berthbench-exec "$RUNS")

ratio() { echo "${R[$1]} ${R[$2]}" | awk '{printf "%.2f", $1 / $2}'; }
cat <<EOF

exec C true, medians in ms ($RUNS runs each; build $BUILD; $(nproc) CPUs; start: $START_STATE${QUIET_NOTE:+; $QUIET_NOTE})
| path | berthd | dockerd 20.10 | berthd / dockerd |
|---|---|---|---|
| \`berth exec C true\` (berth CLI) | ${R[berth-berthd]} | | $(ratio berth-berthd docker-dockerd) of docker CLI -> dockerd |
| \`docker exec C true\` (docker 28 CLI) | ${R[docker-berthd]} | ${R[docker-dockerd]} | $(ratio docker-berthd docker-dockerd) |
| API: create + hijacked start + inspect | ${R[api-berthd]} | ${R[api-dockerd]} | $(ratio api-berthd api-dockerd) |
| client alone (\`--version\`) | berth ${R[cli-berth]} | docker ${R[cli-docker]} | |
EOF
