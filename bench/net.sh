#!/usr/bin/env bash
# Published-port networking, side by side: a fresh release-built berthd
# (kernel DNAT in its own nft table, no proxy process) and a fresh dockerd
# (Debian docker.io 20.10 with its default userland proxy: one docker-proxy
# process per published port; run with --iptables=false so the host's
# firewall is left alone, which is also the path dockerd always takes for
# 127.0.0.1).
#   sudo bench/net.sh [SECONDS] [RUNS]        (defaults: 10, 3)
#   STREAMS=N: N parallel TCP streams per iperf3 run (iperf3 -P, default 1)
# Measures, for each engine, TCP throughput of `iperf3 -c` (SECONDS long,
# median of RUNS) to an iperf3 server container (Debian's iperf3 binary and
# its libraries, bench/iperf3-image.sh):
#   1. through the published port on 127.0.0.1 (host -> host);
#   2. through the published port on the host's address, from another
#      network namespace (berthnb…, joined to the host by a veth in
#      198.18.0.0/15: never leaves the machine);
#   3. directly to the container's IP (no NAT, no proxy): the ceiling.
# Then publishes 100 ports (`-p B-B+99:5201-5300`) and records the daemon's
# RSS growth (vs the same container without ports) and the processes added.
# Waits (up to QUIET_WAIT s, default 600) for a quiet machine first. All lives
# under /tmp/berth-bench-net-*; bridges, the namespace and veths are named
# berth…; everything is removed on exit, failure included.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
# shellcheck source=bench/lib.sh
. bench/lib.sh
SECS=${1:-10}
RUNS=${2:-3}
STREAMS=${STREAMS:-1}
TAG=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
BBRIDGE=berthnb$TAG
DBRIDGE=berthnd$TAG
NS=berth-bench-ns-$TAG
VETH=berthnv$TAG
PEER=berthnp$TAG
IMG=berthbench/iperf3:1

need_engines
command -v iperf3 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y iperf3 >&2
build_release
wait_quiet

# Free /24s for the two bridges and a /30 for the namespace link.
routes=$(ip -4 route)
pick24() { local p; while :; do p="10.$((200 + RANDOM % 8)).$((RANDOM % 256))"; case "$routes" in *"$p."*) ;; *) echo "$p"; return;; esac; done; }
BNET=$(pick24); routes="$routes $BNET."
DNET=$(pick24)
LNK="198.19.$((RANDOM % 256)).$((RANDOM % 64 * 4))"
HOST_IP=${LNK%.*}.$(( ${LNK##*.} + 1 ))
NS_IP=${LNK%.*}.$(( ${LNK##*.} + 2 ))

bench_work net

cleanup() {
  bench_cleanup
  ip netns del "$NS" 2>/dev/null
  ip link del "$VETH" 2>/dev/null
  ip link del "$BBRIDGE" 2>/dev/null
  nft delete table ip "berth_$BBRIDGE" 2>/dev/null
  nft delete table inet "berth_$BBRIDGE" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$BD" "$DD" "$WORK/cfg"

# The other namespace: a client host that reaches this one over a veth.
ip netns add "$NS"
ip link add "$VETH" type veth peer name "$PEER"
ip link set "$PEER" netns "$NS"
ip addr add "$HOST_IP/30" dev "$VETH"
ip link set "$VETH" up
ip -n "$NS" addr add "$NS_IP/30" dev "$PEER"
ip -n "$NS" link set "$PEER" up
ip -n "$NS" link set lo up

start_berthd "$BD" "$BD/exec" --bridge "$BBRIDGE" --bip "$BNET.1/24"

ip link add "$DBRIDGE" type bridge
DOCKERD_BRIDGE=$DBRIDGE # deleted by bench_cleanup
ip addr add "$DNET.1/24" dev "$DBRIDGE"
ip link set "$DBRIDGE" up
# With the userland proxy (docker-proxy): that is what is measured.
start_dockerd "$DD" "$DD/exec" "$DBRIDGE" true berthbenchnet

bench/iperf3-image.sh "${B[@]}" "$IMG" >&2
bench/iperf3-image.sh "${DK[@]}" "$IMG" >&2

# --- measurements -------------------------------------------------------------
median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
free_port() { local p; while :; do p=$((20000 + RANDOM % 10000)); ss -Htan "sport = :$p" | grep -q . || { echo "$p"; return; }; done; }
# gbps [netns] HOST PORT: median Gbit/s of RUNS iperf3 runs (receiver side).
gbps() {
  local pre=() _
  if [ "$1" = ns ]; then pre=(ip netns exec "$NS"); shift; fi
  for _ in $(seq "$RUNS"); do
    "${pre[@]}" iperf3 -c "$1" -p "$2" -t "$SECS" -P "$STREAMS" -J --connect-timeout 5000 |
      python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))'
  done | median
}
serve() { # cli... -> starts an iperf3 server published on a free port; prints "NAME PORT IP"
  local port name ip
  port=$(free_port)
  name=bn-$port
  "$@" run -d --name "$name" -p "$port:5201" "$IMG" /usr/bin/iperf3 -s >/dev/null
  ip=$("$@" inspect -f '{{.NetworkSettings.IPAddress}}' "$name")
  # Ready once the server answers directly.
  for _ in $(seq 100); do iperf3 -c "$ip" -p 5201 -n 1K --connect-timeout 1000 >/dev/null 2>&1 && break; sleep 0.1; done
  echo "$name $port $ip"
}
declare -A R
for engine in berth docker; do
  if [ "$engine" = berth ]; then cli=("${B[@]}"); else cli=("${DK[@]}"); fi
  read -r name port ip < <(serve "${cli[@]}")
  echo "== $engine: iperf3 server $name on $ip, published on $port" >&2
  R[$engine,lo]=$(gbps 127.0.0.1 "$port")
  R[$engine,ns]=$(gbps ns "$HOST_IP" "$port")
  R[$engine,direct]=$(gbps "$ip" 5201)
  echo "   127.0.0.1: ${R[$engine,lo]} Gbit/s, from $NS: ${R[$engine,ns]}, direct: ${R[$engine,direct]}" >&2
  "${cli[@]}" rm -f "$name" >/dev/null

  # 100 published ports: daemon RSS and processes vs the same container without.
  base=$(free_port); base=$(( base > 29800 ? 29800 : base ))
  if [ "$engine" = berth ]; then dpid=$BERTHD_PID; dir=$BD; else dpid=$DOCKERD_PID; dir=$DD; fi
  # The engine's processes: its daemon, whatever names its directory on the
  # command line (supervisors, containerd, shims), and all their descendants.
  procs() {
    local roots
    roots="$dpid $(grep -lsF "$dir/" /proc/[0-9]*/cmdline | cut -d/ -f3 | grep -vx "$$" | tr '\n' ' ')"
    # shellcheck disable=SC2086
    { printf '%s\n' $roots; descendants $roots; } | sort -u | grep -c .
  }
  "${cli[@]}" run -d --name bn-noports "$IMG" /usr/bin/iperf3 -s >/dev/null
  sleep 2
  rss0=$(rss_kib "$dpid"); p0=$(procs)
  "${cli[@]}" rm -f bn-noports >/dev/null
  "${cli[@]}" run -d --name bn-100 -p "$base-$((base + 99)):5201-5300" "$IMG" /usr/bin/iperf3 -s >/dev/null
  sleep 2
  rss1=$(rss_kib "$dpid"); p1=$(procs)
  R[$engine,rss_per_port]=$(( (rss1 - rss0) * 1024 / 100 ))
  R[$engine,procs]=$((p1 - p0))
  R[$engine,proxies]=$(pgrep -c -f "docker-proxy.*$DNET\." || true)
  R[$engine,proxy_rss]=$( (for p in $(pgrep -f "docker-proxy.*$DNET\." || true); do rss_kib "$p"; done; echo 0) | awk '{s+=$1} END {print s}')
  echo "   100 ports: daemon RSS ${rss0} -> ${rss1} KiB (${R[$engine,rss_per_port]} B/port), processes +${R[$engine,procs]}, docker-proxy ${R[$engine,proxies]} (${R[$engine,proxy_rss]} KiB)" >&2
  "${cli[@]}" rm -f bn-100 >/dev/null
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }
cat <<EOF

## bench/net.sh — $(date -u +%Y-%m-%dT%H:%MZ), build $BUILD
$(nproc) CPUs, $(uname -r); iperf3 $(iperf3 --version | head -1 | awk '{print $2}'), -t $SECS -P $STREAMS, median of $RUNS; start: $START_STATE${QUIET_NOTE:+; $QUIET_NOTE}

| TCP throughput (Gbit/s)                  | berth | dockerd 20.10 (docker-proxy) | berth / dockerd |
|------------------------------------------|------:|-----:|-----:|
| published port via 127.0.0.1             | ${R[berth,lo]} | ${R[docker,lo]} | $(ratio "${R[berth,lo]}" "${R[docker,lo]}") |
| published port via host address, from another netns | ${R[berth,ns]} | ${R[docker,ns]} | $(ratio "${R[berth,ns]}" "${R[docker,ns]}") |
| direct to the container IP               | ${R[berth,direct]} | ${R[docker,direct]} | $(ratio "${R[berth,direct]}" "${R[docker,direct]}") |
| published / direct, 127.0.0.1            | $(ratio "${R[berth,lo]}" "${R[berth,direct]}") | $(ratio "${R[docker,lo]}" "${R[docker,direct]}") | |
| published / direct, other netns          | $(ratio "${R[berth,ns]}" "${R[berth,direct]}") | $(ratio "${R[docker,ns]}" "${R[docker,direct]}") | |

| 100 published ports                      | berth | dockerd 20.10 |
|------------------------------------------|------:|-----:|
| daemon RSS growth per port (bytes)       | ${R[berth,rss_per_port]} | ${R[docker,rss_per_port]} |
| engine processes added (vs no ports)     | ${R[berth,procs]} | ${R[docker,procs]} |
| docker-proxy processes (total RSS KiB)   | 0 | ${R[docker,proxies]} (${R[docker,proxy_rss]}) |
EOF
