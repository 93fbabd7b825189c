#!/usr/bin/env bash
# Times `pull` of a ~200 MB, 5-layer image of random data (gzip cannot shrink
# it) from a local registry (Debian's docker-registry on 127.0.0.1, plain
# HTTP), side by side:
#   berth pull  -> berthd
#   docker pull -> berthd
#   docker pull -> dockerd (Debian docker.io; 127.0.0.0/8 is insecure by default)
#   sudo bench/pull.sh [ROUNDS] [disk|tmpfs]     (defaults: 3, disk)
# The image is made once (python3, random bytes), loaded into berthd and
# pushed to the registry once with `berth push`; every round removes the image
# from each engine (`rmi`, so all five layers are downloaded again: the script
# checks for five "Pull complete" lines) and times the client command from
# start to exit. Prints each round, the medians and the ratios berthd/dockerd
# (goal: <= 0.6). `tmpfs` puts the data roots and the registry's storage on a
# tmpfs mounted for the run.
# Everything lives under /tmp/berth-bench-pull-*; dockerd gets a bridge of its
# own (berthp<random>, a /30 in 198.18.0.0/15, no iptables), berthd too
# (bench/lib.sh berthd_net); all removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${1:-3}
MEDIUM=${2:-disk}
case "$MEDIUM" in disk|tmpfs) ;; *) echo "pull.sh: medium must be disk or tmpfs, not $MEDIUM" >&2; exit 1;; esac

need_engines docker-registry python3 curl
build_release
bench_work pull
REG_PID=
cleanup() {
  stop_pid "$REG_PID"
  bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ "$MEDIUM" = tmpfs ]; then
  mount -t tmpfs -o size=6g,mode=0700 berth-bench "$WORK"
fi

dockerd_bridge "berthp$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
berthd_net
start_berthd "$BD" "$RUN/berthd" "${BERTHD_NET[@]}"
start_dockerd "$DD" "$RUN/dockerd" "$DOCKERD_BRIDGE"

# The registry, on a port the kernel picks.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/registry/storage"
cat > "$WORK/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry/storage
http:
  addr: 127.0.0.1:$PORT
EOF
docker-registry serve "$WORK/registry/config.yml" >"$WORK/registry/log" 2>&1 &
REG_PID=$!
for _ in $(seq 300); do
  curl -sf "http://127.0.0.1:$PORT/v2/" >/dev/null && break
  kill -0 "$REG_PID" 2>/dev/null || { cat "$WORK/registry/log" >&2; exit 1; }
  sleep 0.05
done

# ~200 MiB in five layers: busybox-static plus 40 MiB of random bytes each.
IMAGE=127.0.0.1:$PORT/berthbench/pull:latest
python3 - "$WORK/image.tar" "$IMAGE" <<'EOF'
import hashlib, io, json, os, sys, tarfile
out, ref = sys.argv[1], sys.argv[2]
MIB = 1024 * 1024
def layer(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, data, mode in files:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, 1_700_000_000
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()
layers = [layer([("bin/busybox", open("/bin/busybox", "rb").read(), 0o755),
                 ("data0/r.bin", os.urandom(40 * MIB), 0o644)])]
for i in range(1, 5):
    layers.append(layer([(f"data{i}/r{j}.bin", os.urandom(10 * MIB), 0o644) for j in range(4)]))
diff_ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]
config = json.dumps({"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
                     "config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids},
                     "history": [{"created_by": f"layer {i}"} for i in range(5)]}).encode()
cfg = hashlib.sha256(config).hexdigest()
with tarfile.open(out, "w") as t:
    def add(name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    for d, l in zip(diff_ids, layers):
        add(f"{d[7:]}/layer.tar", l)
    add(f"{cfg}.json", config)
    add("manifest.json", json.dumps([{"Config": f"{cfg}.json", "RepoTags": [ref],
                                      "Layers": [f"{d[7:]}/layer.tar" for d in diff_ids]}]).encode())
EOF
"${B[@]}" load -q -i "$WORK/image.tar" >&2
rm -f "$WORK/image.tar"
"${B[@]}" push -q "$IMAGE" >&2
echo "registry: $(du -sm "$WORK/registry/storage" | cut -f1) MiB stored (5 gzip layers); data roots on $MEDIUM" >&2

now() { date +%s.%N; }
timed_pull() { # label cli... -> seconds on stdout; checks that all 5 layers were downloaded
  local label=$1 t0 t1 out=$WORK/pull.out; shift
  "$@" rmi "$IMAGE" >/dev/null 2>&1 || true
  sync
  t0=$(now)
  "$@" pull "$IMAGE" >"$out" 2>&1 || { echo "pull.sh: $label failed:" >&2; cat "$out" >&2; exit 1; }
  t1=$(now)
  if [ "$(grep -c 'Pull complete' "$out")" != 5 ]; then
    echo "pull.sh: $label did not download all five layers:" >&2; cat "$out" >&2; exit 1
  fi
  echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}'
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

wait_quiet
echo "start: $START_STATE${QUIET_NOTE:+ ($QUIET_NOTE)}" >&2
BP=(); DP=(); KP=()
for i in $(seq "$ROUNDS"); do
  b=$(timed_pull "berth pull -> berthd" "${B[@]}"); BP+=("$b")
  db=$(timed_pull "docker pull -> berthd" "${DB[@]}"); DP+=("$db")
  k=$(timed_pull "docker pull -> dockerd" "${DK[@]}"); KP+=("$k")
  echo "round $i: berth->berthd ${b}s  docker->berthd ${db}s  docker->dockerd ${k}s"
done
mb=$(printf '%s\n' "${BP[@]}" | median)
mdb=$(printf '%s\n' "${DP[@]}" | median)
mk=$(printf '%s\n' "${KP[@]}" | median)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo "median: berth->berthd ${mb}s  docker->berthd ${mdb}s  docker->dockerd ${mk}s"
echo "ratio to dockerd: berth->berthd $(ratio "$mb" "$mk")  docker->berthd $(ratio "$mdb" "$mk")"
echo "end: load $(cut -d' ' -f1-3 /proc/loadavg)"
