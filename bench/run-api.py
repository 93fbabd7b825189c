#!/usr/bin/env python3
"""Times create + start + wait of `IMAGE true` through the Docker Engine API.

    bench/run-api.py SOCKET IMAGE RUNS [NETWORK_MODE]

One keep-alive HTTP/1.1 connection over the unix socket, no client process
per request, so only the daemon's work (and one socket round trip per call)
is timed. Each run: POST /containers/create, POST /containers/{id}/start,
POST /containers/{id}/wait; the container is removed afterwards, outside
the timed window, one at a time (Debian's dockerd 20.10 can deadlock on
concurrent removals). Prints one line per run and a final line
`median create=MS start=MS wait=MS total=MS` (milliseconds).
"""

import http.client
import json
import socket
import statistics
import sys
import time

API = "/v1.41"


class UnixConnection(http.client.HTTPConnection):
    """An HTTP connection over a unix socket."""

    def __init__(self, path):
        super().__init__("localhost", timeout=120)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def call(conn, method, path, body=None, ok=(200, 201, 204)):
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, API + path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    if resp.status not in ok:
        raise SystemExit(f"run-api.py: {method} {path}: {resp.status} {payload!r}")
    return json.loads(payload) if payload.strip() else None


def main():
    if len(sys.argv) not in (4, 5):
        raise SystemExit(__doc__)
    sock, image, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    body = {"Image": image, "Cmd": ["true"], "HostConfig": {}}
    if len(sys.argv) == 5:
        body["HostConfig"]["NetworkMode"] = sys.argv[4]
    conn = UnixConnection(sock)
    phases = {"create": [], "start": [], "wait": [], "total": []}
    # One untimed warm-up run: first-use caches (image config, layer lookup).
    for i in range(runs + 1):
        t0 = time.perf_counter()
        cid = call(conn, "POST", "/containers/create", body)["Id"]
        t1 = time.perf_counter()
        call(conn, "POST", f"/containers/{cid}/start")
        t2 = time.perf_counter()
        status = call(conn, "POST", f"/containers/{cid}/wait")
        t3 = time.perf_counter()
        if status.get("StatusCode") != 0:
            raise SystemExit(f"run-api.py: container exited with {status}")
        call(conn, "DELETE", f"/containers/{cid}?force=1")
        if i == 0:
            continue
        row = {
            "create": (t1 - t0) * 1000,
            "start": (t2 - t1) * 1000,
            "wait": (t3 - t2) * 1000,
            "total": (t3 - t0) * 1000,
        }
        for k, v in row.items():
            phases[k].append(v)
        print(" ".join(f"{k}={v:.1f}" for k, v in row.items()), file=sys.stderr)
    med = {k: statistics.median(v) for k, v in phases.items()}
    print("median " + " ".join(f"{k}={v:.1f}" for k, v in med.items()))


if __name__ == "__main__":
    main()
