#!/usr/bin/env bash
# Container start, side by side: a fresh release-built berthd, a fresh dockerd
# (Debian docker.io 20.10, runc) and bare crun, on the same busybox image.
#   sudo bench/run.sh [RUNS] [disk|tmpfs]     (defaults: 20, disk)
# Measures (medians; hyperfine for single commands, RUNS runs after 2 warm-ups):
#   - `run --rm IMG true`: berth CLI -> berthd, docker CLI -> berthd,
#     docker CLI -> dockerd (--network none; and berth CLI -> berthd and
#     docker CLI -> dockerd on the default bridge);
#   - `crun run` of a bundle on the image's rootfs, `--cgroup-manager=disabled`
#     and, on a hybrid cgroup layout, in a mount namespace without the cgroup2
#     hierarchy (crun refuses hybrid layouts outright);
#   - create + start + wait through the API (bench/run-api.py, one keep-alive
#     connection), and the CLIs' `create` + `start -a`;
#   - 50 `run -d IMG sleep 300` in sequence and 8-way parallel (xargs -P8),
#     then removal one at a time; BATCH_REPS (env, default 3) repetitions;
#   - memory: VmRSS/Pss of each supervisor (berthd) or containerd-shim
#     (dockerd) with 10 `sleep 300` containers, and of the idle daemons.
# Both engines' containers run with `--network none` (an empty network
# namespace in each), so the figures are the engines' own start-up. The
# bridge case (veth, address, and berthd's nft rules; dockerd runs with
# --iptables=false) is measured once more, in both, for `run --rm` only.
# Media: `disk` puts the data roots (images, container state) on /tmp's
# filesystem and the exec roots (sockets, runtime state; crun's --root) on a
# tmpfs, as /var/lib and /run are on a host; `tmpfs` puts all on a tmpfs,
# which takes the disk's fsync latency out of the picture.
# Waits (up to 10 min) for a quiet machine first: no cargo/rustc/nextest, no
# other bench run, CPU under 25 % busy (QUIET_WAIT=seconds to change the
# wait; after it the run goes on and the summary says the machine was busy).
# Everything lives under /tmp/berth-bench-run-*; dockerd gets a bridge of its
# own (berthr<random>, a /30 in 198.18.0.0/15) and no iptables rules, and
# berthd one too (berthb<random>, a free /24 there, with its nft table
# berth_<bridge>); all is removed on exit, failure included.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
# shellcheck source=bench/lib.sh
. bench/lib.sh
RUNS=${1:-20}
MEDIUM=${2:-disk}
BATCH_REPS=${BATCH_REPS:-3}
BATCH=50
case "$MEDIUM" in disk|tmpfs) ;; *) echo "run.sh: medium must be disk or tmpfs, not $MEDIUM" >&2; exit 1;; esac
CRUN=$(command -v crun || true)
BRIDGE=berthr$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
IMG=berthbench/busybox:latest

need_engines crun hyperfine
build_release
wait_quiet

# --- set-up and clean-up ------------------------------------------------------
bench_work run

trap bench_cleanup EXIT
trap 'exit 130' INT TERM

if [ "$MEDIUM" = tmpfs ]; then
  mount -t tmpfs -o size=4g,mode=0700 berth-bench "$WORK"
fi
mkdir -p "$BD" "$DD" "$WORK/cfg" "$RUN"
# Exec roots (sockets, pid files, runtime state) on a tmpfs, as /run is.
if [ "$MEDIUM" = disk ]; then mount -t tmpfs -o size=256m,mode=0700 berth-bench-run "$RUN"; fi
dockerd_bridge "$BRIDGE"
berthd_net # a bridge and nft table of berthd's own (bench/lib.sh)
start_berthd "$BD" "$RUN/berthd" "${BERTHD_NET[@]}"
start_dockerd "$DD" "$RUN/dockerd" "$BRIDGE"
# The same image in both: built into berthd, saved, loaded into dockerd (the
# archive stays for crun's bundle).
load_image_both keep
BID=$("${B[@]}" image inspect -f '{{.Id}}' "$IMG")
DID=$("${DK[@]}" image inspect -f '{{.Id}}' "$IMG")
echo "image $IMG: berthd $BID, dockerd $DID" >&2

# crun's bundle: the image's single layer, unpacked.
BUNDLE=$WORK/crun-bundle
mkdir -p "$BUNDLE/rootfs" "$RUN/crun"
layer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Layers"][0])' \
  <(tar -xOf "$WORK/busybox.tar" manifest.json))
tar -xOf "$WORK/busybox.tar" "$layer" | tar -x -C "$BUNDLE/rootfs"
(cd "$BUNDLE" && "$CRUN" spec)
# Docker-like: writable root, no terminal, pid/mount/ipc/uts/network/cgroup namespaces.
python3 - "$BUNDLE/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["true"]
c["process"]["terminal"] = False
c["root"] = {"path": "rootfs", "readonly": False}
c["hostname"] = "berthbench"
c["linux"]["namespaces"] = [{"type": t} for t in ("pid", "mount", "ipc", "uts", "network", "cgroup")]
json.dump(c, open(p, "w"), indent=1)
EOF
CRUN_CMD="$CRUN --root $RUN/crun --cgroup-manager=disabled run -b $BUNDLE berthbench-crun"

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
pss() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
sleep 2
MEM_BERTHD_IDLE="$(rss "$BERTHD_PID") - $(pss "$BERTHD_PID") -"
DCTR_PID=$(pgrep -f "^containerd --config $RUN/dockerd/" | head -1)
MEM_DOCKERD_IDLE="$(rss "$DOCKERD_PID") - $(pss "$DOCKERD_PID") -"
MEM_DCTR_IDLE="$(rss "$DCTR_PID") - $(pss "$DCTR_PID") -"

# --- timing -------------------------------------------------------------------
declare -A R # name -> median in ms
HF_WRAP=() # a command hyperfine runs under
hf() { # name, command (split on spaces, no shell)
  local name=$1; shift
  echo "== $name: $*" >&2
  "${HF_WRAP[@]}" hyperfine -N --style basic --warmup 2 --runs "$RUNS" --export-json "$WORK/hf-$name.json" "$*" >&2
  R[$name]=$(python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["median"] * 1000))' "$WORK/hf-$name.json")
}
hfsh() { # name, shell command
  local name=$1; shift
  echo "== $name: $*" >&2
  hyperfine --style basic --warmup 2 --runs "$RUNS" --export-json "$WORK/hf-$name.json" "$*" >&2
  R[$name]=$(python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["median"] * 1000))' "$WORK/hf-$name.json")
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }
ms_since() { echo "$1 $(date +%s%N)" | awk '{printf "%.1f\n", ($2 - $1) / 1e6}'; }

# The clients alone (no daemon contact).
hf cli-berth "$BERTH --version"
hf cli-docker "$DOCKER --version"

hf run-berth "${B[*]} run --rm --network none $IMG true"
hf run-docker-berthd "${DB[*]} run --rm --network none $IMG true"
hf run-dockerd "${DK[*]} run --rm --network none $IMG true"
hf run-berth-bridge "${B[*]} run --rm $IMG true"
hf run-dockerd-bridge "${DK[*]} run --rm $IMG true"
# crun refuses a hybrid cgroup layout whose cgroup2 hierarchy has any
# controller (here hugetlb), even with cgroups disabled: run it in a mount
# namespace of its own without that hierarchy.
if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
  HF_WRAP=(unshare -m --propagation private -- sh -c 'umount -l /sys/fs/cgroup/unified && exec "$@"' sh)
fi
hf crun "$CRUN_CMD"
HF_WRAP=()

api() { # name, socket, [network mode]
  local out
  echo "== $1: bench/run-api.py $2 $IMG $RUNS ${3:-}" >&2
  out=$(python3 bench/run-api.py "$2" "$IMG" "$RUNS" ${3:+"$3"})
  echo "$out" >&2
  for kv in ${out#median }; do R[$1-${kv%%=*}]=${kv#*=}; done
}
api api-berthd "$BSOCK" none
api api-dockerd "$DSOCK" none

hfsh cs-berth "id=\$(${B[*]} create --network none $IMG true) && ${B[*]} start -a \$id"
remove_all "${B[@]}"
hfsh cs-dockerd "id=\$(${DK[*]} create --network none $IMG true) && ${DK[*]} start -a \$id"
remove_all "${DK[@]}"

batch() { # name, parallelism, extra run flags ("-" for none), cli...
  local name=$1 par=$2 extra=$3; shift 3
  [ "$extra" = - ] && extra=
  local starts=() removes=() t n
  for _ in $(seq "$BATCH_REPS"); do
    t=$(date +%s%N)
    # shellcheck disable=SC2086
    seq "$BATCH" | xargs -P "$par" -I{} "$@" run -d $extra "$IMG" sleep 300 >/dev/null
    starts+=("$(ms_since "$t")")
    n=$("$@" ps -q | wc -l)
    [ "$n" = "$BATCH" ] || { echo "run.sh: $name: $n of $BATCH containers running" >&2; exit 1; }
    t=$(date +%s%N)
    remove_all "$@"
    removes+=("$(ms_since "$t")")
  done
  R[$name]=$(printf '%s\n' "${starts[@]}" | median)
  R[$name-rm]=$(printf '%s\n' "${removes[@]}" | median)
  echo "== $name: start ${starts[*]} ms; remove one by one ${removes[*]} ms" >&2
}
batch seq-berth 1 "--network none" "${B[@]}"
batch par-berth 8 "--network none" "${B[@]}"
batch seq-docker-berthd 1 "--network none" "${DB[@]}"
batch par-docker-berthd 8 "--network none" "${DB[@]}"
batch seq-dockerd 1 "--network none" "${DK[@]}"
batch par-dockerd 8 "--network none" "${DK[@]}"

# --- memory -------------------------------------------------------------------
mem_of() { # pids... -> "median max" of VmRSS and of Pss, KiB
  local p r=() s=()
  for p in "$@"; do r+=("$(rss "$p")"); s+=("$(pss "$p")"); done
  echo "$(printf '%s\n' "${r[@]}" | median) $(printf '%s\n' "${r[@]}" | sort -n | tail -1)" \
    "$(printf '%s\n' "${s[@]}" | median) $(printf '%s\n' "${s[@]}" | sort -n | tail -1)"
}
for _ in $(seq 10); do "${B[@]}" run -d --network none "$IMG" sleep 300 >/dev/null; done
for _ in $(seq 10); do "${DK[@]}" run -d --network none "$IMG" sleep 300 >/dev/null; done
sleep 2
mapfile -t SUPS < <(pgrep -f "__berth_supervisor $RUN/berthd/")
mapfile -t SHIMS < <(pgrep -f "containerd-shim-runc-v2 .*$RUN/dockerd/")
[ "${#SUPS[@]}" = 10 ] || { echo "run.sh: found ${#SUPS[@]} supervisors, not 10" >&2; exit 1; }
[ "${#SHIMS[@]}" = 10 ] || { echo "run.sh: found ${#SHIMS[@]} containerd shims, not 10" >&2; exit 1; }
MEM_SUP=$(mem_of "${SUPS[@]}")
MEM_SHIM=$(mem_of "${SHIMS[@]}")
MEM_BERTHD_10="$(rss "$BERTHD_PID") - $(pss "$BERTHD_PID") -"
MEM_DOCKERD_10="$(rss "$DOCKERD_PID") - $(pss "$DOCKERD_PID") -"
MEM_DCTR_10="$(rss "$DCTR_PID") - $(pss "$DCTR_PID") -"
remove_all "${B[@]}"
remove_all "${DK[@]}"
sleep 2
MEM_BERTHD_AFTER="$(rss "$BERTHD_PID") - $(pss "$BERTHD_PID") -"

# --- summary ------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v <= t) ? "met" : "MISSED"}'; }
r() { echo "${R[$1]}"; }
echo
echo "# bench/run.sh $RUNS $MEDIUM — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r), at start: $START_STATE"
echo "# berth $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted changes in src/')"
[ -n "$QUIET_NOTE" ] && echo "# $QUIET_NOTE"
h=$(heavy); [ -n "$h" ] && echo "# busy at the end: $(echo "$h" | head -3 | tr '\n' ';')"
echo "# berthd $("$BERTH" --version | head -1); dockerd $("$DOCKERD" --version); $("$CRUN" --version | head -1); docker CLI $("$DOCKER" --version)"
echo
printf '%-46s %10s\n' "measurement (median)" "ms"
for k in cli-berth cli-docker run-berth run-docker-berthd run-dockerd run-berth-bridge run-dockerd-bridge crun \
         api-berthd-total api-berthd-create api-berthd-start api-berthd-wait \
         api-dockerd-total api-dockerd-create api-dockerd-start api-dockerd-wait \
         cs-berth cs-dockerd \
         seq-berth par-berth seq-docker-berthd par-docker-berthd seq-dockerd par-dockerd \
         seq-berth-rm par-berth-rm seq-docker-berthd-rm par-docker-berthd-rm seq-dockerd-rm par-dockerd-rm; do
  printf '%-46s %10s\n' "$k" "$(r "$k")"
done
echo
printf '%-58s %8s  %s\n' "ratio" "value" "target"
x=$(ratio "$(r run-berth)" "$(r run-dockerd)");        printf '%-58s %8s  %s\n' "berth run --rm / docker run --rm (dockerd), both net none" "$x" "<= 0.1: $(verdict "$x" 0.1)"
x=$(ratio "$(r run-berth-bridge)" "$(r run-dockerd-bridge)"); printf '%-58s %8s  %s\n' "berth run --rm / docker run --rm (dockerd), both bridged" "$x" "<= 0.1: $(verdict "$x" 0.1)"
x=$(ratio "$(r run-berth)" "$(r crun)");               printf '%-58s %8s  %s\n' "berth run --rm / crun run" "$x" "<= 3: $(verdict "$x" 3)"
x=$(ratio "$(r run-docker-berthd)" "$(r run-dockerd)"); printf '%-58s %8s\n' "docker CLI: berthd / dockerd (run --rm)" "$x"
x=$(ratio "$(r api-berthd-total)" "$(r api-dockerd-total)"); printf '%-58s %8s\n' "API create+start+wait: berthd / dockerd" "$x"
x=$(ratio "$(r cs-berth)" "$(r cs-dockerd)");          printf '%-58s %8s\n' "CLI create + start -a: berth / docker (dockerd)" "$x"
for m in seq par; do
  x=$(ratio "$(r $m-berth)" "$(r $m-dockerd)");        printf '%-58s %8s\n' "$BATCH x run -d ($m): berth / docker (dockerd)" "$x"
  x=$(ratio "$(r $m-docker-berthd)" "$(r $m-dockerd)"); printf '%-58s %8s\n' "$BATCH x run -d ($m): docker CLI, berthd / dockerd" "$x"
done
echo
memrow() { # label, "rss rss-max pss pss-max", [VmRSS target in KiB]
  local a b c d note=
  read -r a b c d <<<"$2"
  [ -n "${3:-}" ] && note="(VmRSS target <= $3: $(verdict "$a" "$3"))"
  printf '%-34s %7s %7s   %7s %7s  %s\n' "$1" "$a" "$b" "$c" "$d" "$note"
}
echo "memory, KiB                         VmRSS med/max     Pss med/max"
memrow "berth supervisor (x10)" "$MEM_SUP" 2048
memrow "containerd-shim-runc-v2 (x10)" "$MEM_SHIM"
memrow "berthd idle after image load" "$MEM_BERTHD_IDLE" 20480
memrow "berthd with 10 containers" "$MEM_BERTHD_10"
memrow "berthd idle after the benchmark" "$MEM_BERTHD_AFTER"
memrow "dockerd idle after image load" "$MEM_DOCKERD_IDLE"
memrow "containerd idle after image load" "$MEM_DCTR_IDLE"
memrow "dockerd with 10 containers" "$MEM_DOCKERD_10"
memrow "containerd with 10 containers" "$MEM_DCTR_10"
