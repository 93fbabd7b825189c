#!/usr/bin/env bash
# From a fresh Debian 12 machine to a running container: installs the
# prerequisites (scripts/deps.sh), builds Berth in release mode, installs
# `berthd` and `berth` into /usr/local/bin, (re)starts berthd in the
# background with its default directories (/var/lib/berth, /run/berth; log in
# /var/log/berthd.log), makes a busybox image from Debian's busybox-static and
# runs `berth run --rm busybox echo hello`. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (sudo $0)" >&2
  exit 1
fi

./scripts/deps.sh
export PATH="${HOME:-/root}/.cargo/bin:$PATH"

echo "== building (release)"
cargo build --release --locked --bins
install -m 0755 target/release/berthd target/release/berth target/release/berth-supervisor /usr/local/bin/

SOCK=/run/berth/berth.sock
PIDFILE=/run/berth/berthd.pid
export BERTH_HOST="unix://$SOCK"

# Replace a berthd started by an earlier run, so the new binary serves.
if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  old=$(cat "$PIDFILE")
  echo "== stopping the running berthd (pid $old)"
  kill -TERM "$old"
  for _ in $(seq 300); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$old" 2>/dev/null; then
    echo "install.sh: berthd (pid $old) did not stop after SIGTERM" >&2
    exit 1
  fi
fi

echo "== starting berthd (log: /var/log/berthd.log)"
setsid /usr/local/bin/berthd -H "$BERTH_HOST" --pidfile "$PIDFILE" \
  </dev/null >>/var/log/berthd.log 2>&1 &
for _ in $(seq 300); do
  [ -S "$SOCK" ] && berth version >/dev/null 2>&1 && break
  sleep 0.1
done
if ! berth version >/dev/null 2>&1; then
  echo "install.sh: berthd did not come up; last log lines:" >&2
  tail -n 30 /var/log/berthd.log >&2
  exit 1
fi

echo "== making busybox:latest from busybox-static"
./scripts/busybox-image.sh busybox:latest

echo "== berth run --rm busybox echo hello"
berth run --rm busybox echo hello
