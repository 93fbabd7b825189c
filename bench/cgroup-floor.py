#!/usr/bin/env python3
"""The kernel's share of a container's cgroups, without any engine.

    bench/cgroup-floor.py PARENT N

Creates N cgroups PARENT/<i> in every cgroup v1 controller hierarchy an engine
uses (memory, cpu, cpuacct, cpuset, pids, freezer, blkio, devices; the v2
hierarchy instead on a pure v2 host), writes the limits of `-m 64m --cpus 0.5
--pids-limit 100` into each (cpuset: copies cpus/mems down first, as v1
needs), then removes them all. Empty cgroups: no process joins (that cost is
the engines' clone and exec). Prints `create_ms remove_ms` for all N.
Used by bench/cgroups.sh as the floor under the engines' figures.
"""

import os
import sys
import time

ROOT = "/sys/fs/cgroup"
V1 = ["memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "blkio", "devices"]


def write(path, value):
    with open(path, "w") as f:
        f.write(value)


def main():
    parent, n = sys.argv[1], int(sys.argv[2])
    v2 = os.path.exists(os.path.join(ROOT, "cgroup.controllers"))
    if v2:
        dirs = {"unified": os.path.join(ROOT, parent)}
    else:
        dirs = {c: os.path.join(ROOT, c, parent) for c in V1 if os.path.isdir(os.path.join(ROOT, c))}
    for c, d in dirs.items():
        os.makedirs(d, exist_ok=True)
        if c == "cpuset":
            for f in ("cpuset.cpus", "cpuset.mems"):
                with open(os.path.join(ROOT, c, f)) as src:
                    write(os.path.join(d, f), src.read().strip())
    if v2:
        ctrls = open(os.path.join(ROOT, "cgroup.controllers")).read().split()
        want = [c for c in ("memory", "cpu", "pids") if c in ctrls]
        if want:
            write(os.path.join(dirs["unified"], "cgroup.subtree_control"), " ".join("+" + c for c in want))

    t0 = time.monotonic()
    for i in range(n):
        for c, d in dirs.items():
            p = os.path.join(d, str(i))
            os.mkdir(p)
            if c == "memory":
                write(os.path.join(p, "memory.limit_in_bytes"), "67108864")
                if os.path.exists(os.path.join(p, "memory.memsw.limit_in_bytes")):
                    write(os.path.join(p, "memory.memsw.limit_in_bytes"), "134217728")
            elif c == "cpu":
                write(os.path.join(p, "cpu.cfs_period_us"), "100000")
                write(os.path.join(p, "cpu.cfs_quota_us"), "50000")
            elif c == "cpuset":
                for f in ("cpuset.cpus", "cpuset.mems"):
                    write(os.path.join(p, f), open(os.path.join(d, f)).read().strip())
            elif c == "pids":
                write(os.path.join(p, "pids.max"), "100")
            elif c == "unified":
                for f, v in (("memory.max", "67108864"), ("cpu.max", "50000 100000"), ("pids.max", "100")):
                    if os.path.exists(os.path.join(p, f)):
                        write(os.path.join(p, f), v)
    t1 = time.monotonic()
    for i in range(n):
        for d in dirs.values():
            os.rmdir(os.path.join(d, str(i)))
    t2 = time.monotonic()
    for d in dirs.values():
        os.rmdir(d)
    print("%.1f %.1f" % ((t1 - t0) * 1000, (t2 - t1) * 1000))


if __name__ == "__main__":
    main()
