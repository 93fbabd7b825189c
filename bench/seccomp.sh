#!/usr/bin/env bash
# What Docker's default seccomp profile costs a syscall-heavy loop, in berthd
# and, side by side, in dockerd (Debian docker.io 20.10: runc + libseccomp).
#   sudo bench/seccomp.sh [REPS]     (default: 7)
# A static C loop (compiled here with gcc -static, bind-mounted read-only)
# runs in a busybox container with the default profile and with
# `--security-opt seccomp=unconfined`, REPS times each, interleaved; the loop
# times itself (CLOCK_MONOTONIC through the vDSO, no syscall), so container
# start-up is not in the figures. Three loops:
#   getppid      10M x getppid(): the cheapest syscall, the worst case for a
#                relative overhead (the kernel caches "always allowed" per
#                syscall since 5.11, so the filter should not even run);
#   rw           2M x read(/dev/zero, 1 byte) + write(/dev/null, 1 byte);
#   personality  10M x personality(0xffffffff): allowed only for some
#                argument values, so the BPF program runs on every call.
# Reports the median ns per iteration and the overhead default/unconfined - 1
# (target: < 5 %). Waits (up to QUIET_WAIT s, default 600) for a quiet
# machine first. Everything lives under /tmp/berth-bench-seccomp-*; both
# daemons get bridges of their own; all is removed on exit, failure included.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
# shellcheck source=bench/lib.sh
. bench/lib.sh
REPS=${1:-7}
BRIDGE=berthe$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
IMG=berthbench/busybox:latest

need_engines gcc
build_release
wait_quiet

bench_work seccomp
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$BD" "$DD" "$WORK/cfg" "$WORK/loop"
cat > "$WORK/loop/sysloop.c" <<'EOF'
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
    int zero = open("/dev/zero", O_RDONLY), null = open("/dev/null", O_WRONLY);
    char b;
    for (int i = 1; i + 1 < argc; i += 2) {
        long n = atol(argv[i + 1]);
        double t0 = now();
        if (!strcmp(argv[i], "getppid"))
            for (long k = 0; k < n; k++) syscall(SYS_getppid);
        else if (!strcmp(argv[i], "rw"))
            for (long k = 0; k < n; k++) {
                if (read(zero, &b, 1) != 1 || write(null, &b, 1) != 1) return 1;
            }
        else if (!strcmp(argv[i], "personality"))
            for (long k = 0; k < n; k++) syscall(SYS_personality, 0xffffffffUL);
        else return 2;
        printf("%s %.1f\n", argv[i], (now() - t0) / n);
    }
    return 0;
}
EOF
gcc -static -O2 -o "$WORK/loop/sysloop" "$WORK/loop/sysloop.c"
LOOP=(/loop/sysloop getppid 10000000 rw 2000000 personality 10000000)

dockerd_bridge "$BRIDGE"
berthd_net
start_berthd "$BD" "$RUN/berthd" "${BERTHD_NET[@]}"
start_dockerd "$DD" "$RUN/dockerd" "$BRIDGE"
load_image_both

# --- timing -------------------------------------------------------------------
: > "$WORK/results"
one() { # engine setting cli...
  local engine=$1 setting=$2; shift 2
  local opt=()
  [ "$setting" = unconfined ] && opt=(--security-opt seccomp=unconfined)
  "$@" run --rm --network none -v "$WORK/loop:/loop:ro" "${opt[@]}" "$IMG" "${LOOP[@]}" |
    sed "s/^/$engine $setting /" >> "$WORK/results"
}
for rep in $(seq "$REPS"); do
  echo "== rep $rep/$REPS" >&2
  for setting in default unconfined; do
    one berthd "$setting" "${B[@]}"
    one dockerd "$setting" "${DK[@]}"
  done
done

python3 - "$WORK/results" "$REPS" "$BUILD" "$(nproc)" "$START_STATE${QUIET_NOTE:+; $QUIET_NOTE}" <<'EOF'
import statistics, sys
path, reps, build, cpus, state = sys.argv[1:]
r = {}
for line in open(path):
    engine, setting, loop, ns = line.split()
    r.setdefault((engine, setting, loop), []).append(float(ns))
med = {k: statistics.median(v) for k, v in r.items()}
print(f"\nseccomp cost, median ns per iteration ({reps} runs each; build {build}; {cpus} CPUs; start: {state})")
print("| loop | berthd default | berthd unconfined | berthd overhead | dockerd default | dockerd unconfined | dockerd overhead |")
print("|---|---|---|---|---|---|---|")
for loop in ("getppid", "rw", "personality"):
    cells = []
    for e in ("berthd", "dockerd"):
        d, u = med[(e, "default", loop)], med[(e, "unconfined", loop)]
        cells += [f"{d:.1f}", f"{u:.1f}", f"{(d / u - 1) * 100:+.1f} %"]
    print(f"| {loop} | " + " | ".join(cells) + " |")
EOF
