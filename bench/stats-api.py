#!/usr/bin/env python3
"""What `stats --no-stream` asks of a daemon, without the client's render tick.

    bench/stats-api.py SOCKET RUNS

Lists the running containers (`GET /containers/json`), then sends one
`GET /containers/{id}/stats?stream=0` per container, all at once on
separate connections (as the docker CLI does), and times until the last
answer is in. RUNS times, 1 s apart. Prints the times in ms, first one
first (a daemon that keeps its last sample answers later calls faster).
Each answer must be a 200 with the container's `id` and a `memory_stats.limit`.
"""

import http.client
import json
import socket
import sys
import threading
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(self.path)


def get(sock, path):
    c = UnixConnection(sock)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def main():
    sock, runs = sys.argv[1], int(sys.argv[2])
    status, body = get(sock, "/v1.41/containers/json")
    if status != 200:
        sys.exit("stats-api.py: list: %d %r" % (status, body[:200]))
    ids = [c["Id"] for c in json.loads(body)]
    if not ids:
        sys.exit("stats-api.py: no running containers")
    times = []
    for run in range(runs):
        if run:
            time.sleep(1)
        errors = []

        def one(cid):
            st, b = get(sock, "/v1.41/containers/%s/stats?stream=0" % cid)
            v = json.loads(b) if st == 200 else {}
            if st != 200 or v.get("id") != cid or not v.get("memory_stats", {}).get("limit"):
                errors.append("%s: %d %r" % (cid[:12], st, b[:200]))

        threads = [threading.Thread(target=one, args=(cid,)) for cid in ids]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        times.append((time.monotonic() - t0) * 1000)
        if errors:
            sys.exit("stats-api.py: " + "; ".join(errors[:3]))
    print(" ".join("%.0f" % t for t in times))


if __name__ == "__main__":
    main()
