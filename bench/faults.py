#!/usr/bin/env python3
"""Fault injection: create/start/stop/rm with `kill -9` of berthd at random points.

    bench/faults.py WORK BERTHD IMAGE OPS SEED -- BERTHD_FLAG...

Run by bench/faults.sh, which makes WORK, builds the image and cleans up.
WORK holds the daemon's socket (berth.sock), data root (data), exec root
(exec), pid file, config (daemon.json, with its `cgroup-parent`) and log.

OPS operations, each a random pick of create (busybox running a shell that
exits 0 on SIGTERM), start, stop (?t=2), pause or rm (?force=1) through the
Engine API (a paused container's processes ignore SIGKILL until thawed,
which a crash that kills the supervisors must handle). Before about one operation in six, a killer is armed: the operation is
sent on a thread and berthd is killed with SIGKILL after a random delay
(0 to 1.5 x that operation's median latency so far), so the kill lands
before, during or just after the request. One kill in four also kills every
container supervisor ("host crash": the containers die with them). Then
berthd is started again and, once it answers /_ping, checked:

- accounted: every container the script created and did not remove is
  listed, none it removed is; only an operation whose response never came
  (in flight at the kill) may have gone either way, and what the listing
  shows is then taken as its outcome;
- processes: a container listed as running has its process alive, one not
  running has no supervisor or process left (by its cgroup and exec root);
- mounts: below the data and exec roots only the netns dir itself and the
  netns of running containers are mounted;
- veths: the ports of berthd's bridge are exactly the host ends recorded in
  the sandboxes of running containers;
- cgroups: only running containers have a cgroup below the daemon's parent;
- state files: every *.json below the data and exec roots parses, and
  nothing was quarantined.

Prints one line per restart and a summary; exits 1 if any check failed.
"""

import glob
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

API = "/v1.41"
PREFIX = "berth-fault-"


class UnixConnection(http.client.HTTPConnection):
    """An HTTP connection over a unix socket."""

    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Daemon:
    """berthd under WORK, restarted after each kill."""

    def __init__(self, work, berthd, flags):
        self.work = work
        self.sock = os.path.join(work, "berth.sock")
        self.data = os.path.join(work, "data")
        self.exec_root = os.path.join(work, "exec")
        self.cmd = [
            berthd, "-H", "unix://" + self.sock, "--data-root", self.data,
            "--exec-root", self.exec_root, "--pidfile", os.path.join(work, "berthd.pid"),
            "--config-file", os.path.join(work, "daemon.json"), *flags,
        ]
        self.proc = None
        with open(os.path.join(work, "daemon.json")) as f:
            self.cgroup_parent = json.load(f)["cgroup-parent"].strip("/")
        self.bridge = flags[flags.index("--bridge") + 1]

    def start(self):
        """Starts berthd; returns the seconds until /_ping answered."""
        log = open(os.path.join(self.work, "berthd.log"), "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        while True:
            if self.proc.poll() is not None:
                sys.exit(f"faults: berthd exited with {self.proc.returncode}; see {self.work}/berthd.log")
            try:
                if request(self.sock, "GET", "/_ping", timeout=2)[0] == 200:
                    return time.monotonic() - t0
            except OSError:
                pass
            if time.monotonic() - t0 > 120:
                sys.exit("faults: berthd did not answer /_ping within 120 s")
            time.sleep(0.02)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill9()


def request(sock, method, path, body=None, timeout=60):
    """(status, parsed JSON or text) of one request on a fresh connection."""
    conn = UnixConnection(sock, timeout)
    try:
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, API + path if path != "/_ping" else path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw.decode(errors="replace")
    finally:
        conn.close()


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"


class Run:
    def __init__(self, daemon, image, seed):
        self.d = daemon
        self.image = image
        # One line per operation, kept with the daemon's log when a check fails.
        self.oplog = open(os.path.join(daemon.work, "ops.log"), "a", buffering=1)
        self.rng = random.Random(seed)
        # name -> id (None until known) of the containers that exist as far
        # as the script knows.
        self.live = {}
        self.removed = set()
        self.next_name = 0
        self.latency = {"create": [], "start": [], "stop": [], "pause": [], "rm": []}
        self.counts = {k: {"ok": 0, "refused": 0, "in-flight": 0} for k in self.latency}
        self.errors = []
        self.violations = []
        self.kills = 0
        self.host_crashes = 0
        self.restart_s = []
        # How the creates and removals cut short by a kill came out.
        self.flight = {"took effect": 0, "did not": 0}

    # --- operations ------------------------------------------------------
    def pick(self):
        if len(self.live) < 3 or self.rng.random() < 0.3:
            name = f"{PREFIX}{self.next_name}"
            self.next_name += 1
            return "create", name
        name = self.rng.choice(sorted(self.live))
        return self.rng.choice(["start", "start", "stop", "pause", "rm", "rm"]), name

    def send(self, op, name):
        """Performs op; returns (status, body) or raises OSError."""
        if op == "create":
            return request(self.d.sock, "POST", f"/containers/create?name={name}", {
                "Image": self.image,
                "Cmd": ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"],
            })
        if op == "start":
            return request(self.d.sock, "POST", f"/containers/{name}/start")
        if op == "stop":
            return request(self.d.sock, "POST", f"/containers/{name}/stop?t=2")
        if op == "pause":
            return request(self.d.sock, "POST", f"/containers/{name}/pause")
        return request(self.d.sock, "DELETE", f"/containers/{name}?force=1")

    def record(self, op, name, status, body):
        if op == "create" and status == 201:
            self.live[name] = body["Id"]
        elif op == "rm" and status in (204, 404):
            self.live.pop(name, None)
            self.removed.add(name)
        ok = {"create": (201,), "start": (204, 304), "stop": (204, 304), "pause": (204,), "rm": (204,)}[op]
        if status in ok:
            self.counts[op]["ok"] += 1
        elif status in (304, 404, 409):
            self.counts[op]["refused"] += 1
        else:
            self.counts[op]["refused"] += 1
            self.errors.append(f"{op} {name}: {status} {body}")

    def one(self, i, kill):
        op, name = self.pick()
        result = {}

        def go():
            t0 = time.monotonic()
            try:
                result["resp"] = self.send(op, name)
                result["took"] = time.monotonic() - t0
            except OSError as e:
                result["error"] = e

        if not kill:
            go()
        else:
            lat = self.latency[op]
            typical = statistics.median(lat) if lat else 0.1
            t = threading.Thread(target=go)
            t.start()
            time.sleep(self.rng.uniform(0, 1.5 * typical))
            crash = self.rng.random() < 0.25
            self.d.kill9()
            if crash:
                self.kill_supervisors()
            t.join()
            self.kills += 1
            self.host_crashes += crash
        if "resp" in result:
            self.latency[op].append(result["took"])
            self.record(op, name, *result["resp"])
            in_flight = None
            self.oplog.write(f"{i + 1} {op} {name} -> {result['resp'][0]}{' (then kill)' if kill else ''}\n")
        else:
            self.oplog.write(f"{i + 1} {op} {name} -> in flight at the kill\n")
            if not kill:
                sys.exit(f"faults: {op} {name} failed without a kill: {result.get('error')}")
            self.counts[op]["in-flight"] += 1
            in_flight = (op, name)
        if kill:
            took = self.d.start()
            self.restart_s.append(took)
            self.check(in_flight)
            note = f"in flight: {op} {name}" if in_flight else f"{op} {name} answered before the kill"
            print(f"op {i + 1:3}: kill -9{' + supervisors' if crash else ''}, restart {took * 1000:.0f} ms, "
                  f"{len(self.live)} containers, {note}", flush=True)

    def kill_supervisors(self):
        for f in glob.glob(os.path.join(self.d.exec_root, "containers", "*", "supervisor.json")):
            try:
                with open(f) as fh:
                    os.kill(json.load(fh)["supervisor_pid"], signal.SIGKILL)
            except (OSError, ValueError, KeyError):
                pass

    # --- checks ----------------------------------------------------------
    def violation(self, what):
        self.violations.append(what)
        self.oplog.write(f"VIOLATION: {what}\n")
        print(f"VIOLATION: {what}", flush=True)

    def check(self, in_flight):
        status, listed = request(self.d.sock, "GET", "/containers/json?all=1")
        if status != 200:
            self.violation(f"list answered {status}")
            return
        names = {}
        for c in listed:
            for n in c["Names"]:
                if n.lstrip("/").startswith(PREFIX):
                    names[n.lstrip("/")] = c
        flight_name = in_flight[1] if in_flight else None
        for name in sorted(self.live):
            if name not in names and name != flight_name:
                self.violation(f"{name} was created and not removed but is not listed")
        for name in sorted(self.removed):
            if name in names and name != flight_name:
                self.violation(f"{name} was removed but is listed")
        for name in names:
            if name not in self.live and name not in self.removed and name != flight_name:
                self.violation(f"{name} is listed but was never created")
        if flight_name:
            if in_flight[0] in ("create", "rm"):
                took = (flight_name in names) == (in_flight[0] == "create")
                self.flight["took effect" if took else "did not"] += 1
            if flight_name in names:
                self.live[flight_name] = names[flight_name]["Id"]
                self.removed.discard(flight_name)
            else:
                self.live.pop(flight_name, None)
                if in_flight[0] == "rm":
                    self.removed.add(flight_name)
        running = {}
        for name, c in names.items():
            s, ins = request(self.d.sock, "GET", f"/containers/{c['Id']}/json")
            if s != 200:
                self.violation(f"inspect {name} answered {s}")
                continue
            st = ins["State"]
            if st["Running"]:
                running[c["Id"]] = name
                if not pid_alive(st["Pid"]):
                    self.violation(f"{name} listed as running but its process {st['Pid']} is dead")
        self.check_processes(running)
        self.check_mounts(running)
        self.check_veths(running)
        self.check_cgroups(running)
        self.check_files()

    def check_processes(self, running):
        run_root = os.path.join(self.d.exec_root, "containers") + "/"
        for p in glob.glob("/proc/[0-9]*/cmdline"):
            try:
                with open(p, "rb") as f:
                    cmd = f.read().decode(errors="replace")
            except OSError:
                continue
            if run_root not in cmd:
                continue
            cid = cmd.split(run_root, 1)[1].split("/")[0].split("\0")[0]
            pid = int(p.split("/")[2])
            if cid not in running and pid_alive(pid):
                self.violation(f"process {pid} of not running container {cid[:12]} left: {cmd!r}")

    def check_mounts(self, running):
        netns_dir = os.path.join(self.d.exec_root, "netns")
        allowed = {netns_dir} | {os.path.join(netns_dir, i) for i in running}
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        for mp in points:
            for root in (self.d.data, self.d.exec_root):
                if (mp == root or mp.startswith(root + "/")) and mp not in allowed:
                    self.violation(f"leaked mount {mp}")

    def check_veths(self, running):
        recorded = set()
        for i in running:
            try:
                with open(os.path.join(self.d.data, "network", "sandboxes", i + ".json")) as f:
                    recorded |= {e["host_ifname"] for e in json.load(f)["endpoints"]}
            except OSError:
                self.violation(f"running {i[:12]} has no sandbox file")
        ports = set(os.listdir(f"/sys/class/net/{self.d.bridge}/brif"))
        if ports != recorded:
            self.violation(f"bridge ports {sorted(ports)} != veths of running containers {sorted(recorded)}")

    def check_cgroups(self, running):
        for root in glob.glob("/sys/fs/cgroup/*/"):
            parent = os.path.join(root, self.d.cgroup_parent)
            if not os.path.isdir(parent):
                continue
            for cid in os.listdir(parent):
                if os.path.isdir(os.path.join(parent, cid)) and len(cid) == 64 and cid not in running:
                    self.violation(f"cgroup {os.path.join(parent, cid)} of a not running container left")

    def check_files(self):
        for root in (self.d.data, self.d.exec_root):
            for dirpath, _, files in os.walk(root):
                for fn in files:
                    if not fn.endswith(".json"):
                        continue
                    path = os.path.join(dirpath, fn)
                    try:
                        with open(path, "rb") as f:
                            json.loads(f.read())
                    except (OSError, ValueError) as e:
                        self.violation(f"unreadable state file {path}: {e}")
        # berthd moves damaged state files here (containers/<id>-<time>,
        # network/<kind>/<file>-<time>): with atomic writes there is none.
        q = os.path.join(self.d.data, "quarantine")
        for kind in ("containers", "network/networks", "network/sandboxes"):
            d = os.path.join(q, kind)
            for entry in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                if not entry.endswith(".reason.txt"):
                    self.violation(f"quarantined {os.path.join(d, entry)}")


def main():
    work, berthd, image, ops, seed = sys.argv[1:6]
    assert sys.argv[6] == "--"
    d = Daemon(work, berthd, sys.argv[7:])
    run = Run(d, image, int(seed))
    d.start()
    t0 = time.monotonic()
    try:
        for i in range(int(ops)):
            run.one(i, run.rng.random() < 1 / 6)
        # A last, clean check without a kill.
        run.check(None)
        for name in sorted(run.live):
            request(d.sock, "DELETE", f"/containers/{name}?force=1")
    finally:
        d.stop()
    took = time.monotonic() - t0
    c = run.counts
    print()
    print(f"seed {seed}: {ops} operations in {took:.0f} s, "
          + ", ".join(f"{k} {v['ok']} ok/{v['refused']} refused/{v['in-flight']} in flight" for k, v in c.items()))
    rs = sorted(run.restart_s)
    if rs:
        print(f"{run.kills} kill -9 of berthd ({run.host_crashes} with every supervisor), "
              f"{run.kills} restarts: median {statistics.median(rs) * 1000:.0f} ms, max {rs[-1] * 1000:.0f} ms to /_ping")
    print(f"in-flight creates and removals: {run.flight['took effect']} took effect, "
          f"{run.flight['did not']} did not")
    print(f"checks after each restart: {len(run.violations)} violations; "
          f"unexpected API errors: {len(run.errors)}")
    for e in run.errors[:20]:
        print(f"  error: {e}")
    for v in run.violations[:50]:
        print(f"  violation: {v}")
    sys.exit(1 if run.violations or run.errors else 0)


if __name__ == "__main__":
    main()
