#!/usr/bin/env bash
# What Docker's default seccomp profile costs a syscall-heavy loop, in berthd
# and, side by side, in dockerd (Debian docker.io 20.10: runc + libseccomp).
#   sudo bench/seccomp.sh [REPS]     (default: 7)
# A static C loop (compiled here with gcc -static, bind-mounted read-only)
# runs in a busybox container with the default profile and with
# `--security-opt seccomp=unconfined`, REPS times each, interleaved; the loop
# times itself (CLOCK_MONOTONIC through the vDSO, no syscall), so container
# start-up is not in the figures. A third setting, `floor`, is a custom
# profile whose only rule is "allow" (`{"defaultAction":"SCMP_ACT_ALLOW"}`):
# what attaching any filter at all costs. Five loops:
#   getppid      10M x getppid(): the cheapest syscall, the worst case for a
#                relative overhead (the kernel caches "always allowed" per
#                syscall since 5.11, so the filter should not even run);
#   rw           2M x read(/dev/zero, 1 byte) + write(/dev/null, 1 byte);
#   personality  10M x personality(0xffffffff): allowed only for some
#                argument values, so the BPF program runs on every call;
#   files        1M x open + fstat + read 4 KiB + close of a small file (what
#                a server or a build tool does all day);
#   pipe         1M x write 4 KiB into a pipe + read it back.
# Reports the median ns per iteration and the overheads default/unconfined - 1
# (target: < 5 %) and floor/unconfined - 1. Waits (up to QUIET_WAIT s, default 600) for a quiet
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
    int zero = open("/dev/zero", O_RDONLY), null = open("/dev/null", O_WRONLY), p[2];
    static char buf[4096];
    char b;
    if (pipe(p) < 0) return 1;
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
        else if (!strcmp(argv[i], "files"))
            for (long k = 0; k < n; k++) {
                struct stat st;
                int fd = open("/loop/sysloop.c", O_RDONLY);
                if (fd < 0 || fstat(fd, &st) < 0 || read(fd, buf, sizeof buf) <= 0) return 1;
                close(fd);
            }
        else if (!strcmp(argv[i], "pipe"))
            for (long k = 0; k < n; k++) {
                if (write(p[1], buf, sizeof buf) != sizeof buf ||
                    read(p[0], buf, sizeof buf) != sizeof buf) return 1;
            }
        else return 2;
        printf("%s %.1f\n", argv[i], (now() - t0) / n);
    }
    return 0;
}
EOF
gcc -static -O2 -o "$WORK/loop/sysloop" "$WORK/loop/sysloop.c"
LOOP=(/loop/sysloop getppid 10000000 rw 2000000 personality 10000000 files 1000000 pipe 1000000)
# The floor: a filter that allows everything (both engines read the file
# given to --security-opt seccomp=).
echo '{"defaultAction":"SCMP_ACT_ALLOW"}' > "$WORK/cfg/allow-all.json"

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
  case $setting in
    unconfined) opt=(--security-opt seccomp=unconfined) ;;
    floor) opt=(--security-opt "seccomp=$WORK/cfg/allow-all.json") ;;
  esac
  "$@" run --rm --network none -v "$WORK/loop:/loop:ro" "${opt[@]}" "$IMG" "${LOOP[@]}" |
    sed "s/^/$engine $setting /" >> "$WORK/results"
}
for rep in $(seq "$REPS"); do
  echo "== rep $rep/$REPS" >&2
  for setting in default floor unconfined; do
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
print("| loop | berthd default | floor | unconfined | default overhead | floor overhead | dockerd default | floor | unconfined | default overhead | floor overhead |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for loop in ("getppid", "rw", "personality", "files", "pipe"):
    cells = []
    for e in ("berthd", "dockerd"):
        d, f, u = (med[(e, s, loop)] for s in ("default", "floor", "unconfined"))
        cells += [f"{d:.1f}", f"{f:.1f}", f"{u:.1f}", f"{(d / u - 1) * 100:+.1f} %", f"{(f / u - 1) * 100:+.1f} %"]
    print(f"| {loop} | " + " | ".join(cells) + " |")
EOF
