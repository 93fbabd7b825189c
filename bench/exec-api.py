#!/usr/bin/env python3
"""`exec C true` through the Engine API alone, as the docker CLI drives it:
POST /containers/C/exec, POST /exec/ID/start hijacked (Connection: Upgrade)
and read to the end, GET /exec/ID/json (exit code 0 checked).

    bench/exec-api.py SOCKET CONTAINER RUNS

Prints the median wall time in milliseconds of RUNS execs (after 3
warm-ups). Create and inspect share one keep-alive connection; the start
has its own (it is hijacked), like the CLI's."""

import http.client
import json
import socket
import statistics
import sys
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def request(conn, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    if resp.status >= 300:
        sys.exit(f"exec-api.py: {method} {path}: {resp.status} {payload!r}")
    return json.loads(payload) if payload else None


def start_attached(sock_path, exec_id):
    body = json.dumps({"Detach": False, "Tty": False}).encode()
    head = (
        f"POST /v1.41/exec/{exec_id}/start HTTP/1.1\r\nHost: localhost\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    ).encode()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    s.sendall(head + body)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    status = data.split(b" ", 2)[1]
    if status not in (b"101", b"200"):
        sys.exit(f"exec-api.py: start answered {data[:200]!r}")


def one(conn, sock_path, container):
    created = request(
        conn,
        "POST",
        f"/v1.41/containers/{container}/exec",
        {"Cmd": ["true"], "AttachStdout": True, "AttachStderr": True},
    )
    start_attached(sock_path, created["Id"])
    inspect = request(conn, "GET", f"/v1.41/exec/{created['Id']}/json")
    if inspect["ExitCode"] != 0:
        sys.exit(f"exec-api.py: exit code {inspect['ExitCode']}")


def main():
    sock_path, container, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    conn = UnixConnection(sock_path)
    for _ in range(3):
        one(conn, sock_path, container)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        one(conn, sock_path, container)
        times.append((time.perf_counter() - t) * 1000)
    print("%.1f" % statistics.median(times))


if __name__ == "__main__":
    main()
