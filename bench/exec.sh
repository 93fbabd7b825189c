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
# shellcheck source=bench/lib.sh
. bench/lib.sh
RUNS=${1:-50}
BRIDGE=berthe$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
IMG=berthbench/busybox:latest

need_engines hyperfine
build_release
wait_quiet

# --- set-up and clean-up ------------------------------------------------------
bench_work exec

trap bench_cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$BD" "$DD" "$WORK/cfg" "$RUN"
# Exec roots (sockets, runtime state) on a tmpfs, as /run is.
mount -t tmpfs -o size=256m,mode=0700 berth-bench-run "$RUN"
dockerd_bridge "$BRIDGE"
berthd_net # a bridge and nft table of berthd's own (bench/lib.sh)
start_berthd "$BD" "$RUN/berthd" "${BERTHD_NET[@]}"
start_dockerd "$DD" "$RUN/dockerd" "$BRIDGE"
# The same image in both: built into berthd, saved, loaded into dockerd.
load_image_both
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
