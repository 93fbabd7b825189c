#!/usr/bin/env python3
"""Writes a deterministic `docker save` archive for the load benchmark.

    bench/make-archive.py OUT.tar [REFERENCE] [SCALE]

Five layers, about 200 MB uncompressed at SCALE=1:
  1. busybox-static (/bin/busybox, an applet symlink each, /etc/passwd)
  2. 64 MiB of incompressible data in 16 files
  3. 64 MiB of compressible text in 8 files
  4. 6000 small files (4 KiB each, ~23 MiB) in 60 directories
  5. one 48 MiB incompressible file
Content comes from a seeded PRNG, so the image ID is the same on every run.
"""
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile

MIB = 1024 * 1024


def layer_tar(entries):
    """entries: (path, kind, data_or_target, mode) -> uncompressed tar bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, kind, payload, mode in entries:
            info = tarfile.TarInfo(path)
            info.mode = mode
            info.mtime = 1_700_000_000
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            elif kind == "link":
                info.type = tarfile.SYMTYPE
                info.linkname = payload
                t.addfile(info)
            else:
                info.size = len(payload)
                t.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def busybox_layer():
    busybox = open("/bin/busybox", "rb").read()
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    e = [("bin", "dir", None, 0o755), ("etc", "dir", None, 0o755), ("tmp", "dir", None, 0o1777),
         ("bin/busybox", "file", busybox, 0o755)]
    e += [(f"bin/{a}", "link", "busybox", 0o777) for a in applets if a != "busybox"]
    e.append(("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", 0o644))
    return layer_tar(e)


def main():
    out = sys.argv[1]
    ref = sys.argv[2] if len(sys.argv) > 2 else "berthbench/load:latest"
    scale = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    rng = random.Random(20240601)
    size = lambda n: max(1, int(n * scale))

    layers = [busybox_layer()]
    layers.append(layer_tar([("data", "dir", None, 0o755), ("data/random", "dir", None, 0o755)]
                            + [(f"data/random/r{i:02}.bin", "file", rng.randbytes(size(4 * MIB)), 0o644) for i in range(16)]))
    words = b" ".join(rng.choice([b"berth", b"container", b"layer", b"overlay", b"docker", b"image"]) for _ in range(4096))
    layers.append(layer_tar([("data/text", "dir", None, 0o755)]
                            + [(f"data/text/t{i}.txt", "file", (words * (size(8 * MIB) // len(words) + 1))[:size(8 * MIB)], 0o644) for i in range(8)]))
    small = [("data/small", "dir", None, 0o755)]
    for d in range(60):
        small.append((f"data/small/d{d:02}", "dir", None, 0o755))
        small += [(f"data/small/d{d:02}/f{f:03}", "file", rng.randbytes(size(4096)), 0o644) for f in range(100)]
    layers.append(layer_tar(small))
    layers.append(layer_tar([("data/big.bin", "file", rng.randbytes(size(48 * MIB)), 0o644)]))

    diff_ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-06-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-06-01T00:00:00Z", "created_by": f"berth bench layer {i}"} for i in range(len(layers))],
    }
    config_bytes = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
    config_hex = hashlib.sha256(config_bytes).hexdigest()
    manifest = [{"Config": f"{config_hex}.json", "RepoTags": [ref],
                 "Layers": [f"{d[7:]}/layer.tar" for d in diff_ids]}]

    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1_700_000_000
            t.addfile(info, io.BytesIO(data))
        for d, l in zip(diff_ids, layers):
            dirinfo = tarfile.TarInfo(d[7:])
            dirinfo.type = tarfile.DIRTYPE
            dirinfo.mode = 0o755
            dirinfo.mtime = 1_700_000_000
            t.addfile(dirinfo)
            add(f"{d[7:]}/layer.tar", l)
        add(f"{config_hex}.json", config_bytes)
        add("manifest.json", json.dumps(manifest).encode())
    print(f"sha256:{config_hex} {os.path.getsize(out)} bytes, {len(layers)} layers")


if __name__ == "__main__":
    main()
