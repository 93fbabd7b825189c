#!/usr/bin/env bash
# Installs everything building, running and testing Berth needs on Debian 12:
# Debian packages, a Rust toolchain (only when cargo is missing or too old)
# and cargo-nextest (only when missing). Idempotent; run as root.
#
# docker.io is installed only as the reference engine for the compatibility
# round-trip test and the benchmarks, which start their own throw-away dockerd;
# its services are kept from starting at install time (policy-rc.d).
set -euo pipefail

PACKAGES=(
  build-essential pkg-config   # the Rust linker and native build deps
  libseccomp-dev               # seccomp filters for containers
  apparmor                     # apparmor_parser: loads berth-default where the kernel has AppArmor; its test compiles it
  busybox-static               # what test and example images are made from
  iproute2 iptables nftables   # bridges, veths and the firewall rules containers need
  procps util-linux            # ps/kill/mount helpers the scripts use
  ca-certificates curl         # fetching rustup on a machine without Rust
  python3                      # bench/ generates its test image with it
  docker.io                    # reference dockerd for the round-trip test and bench/
  python3-docker python3-pytest  # docker-py compatibility suite (tests/compat_py)
  docker-compose               # compose 1.29 against berthd (tests/compat_compose.rs)
  gcc binutils libc6-dev       # contrib/toolchain-image.sh: the image Dockerfile.example builds in; tests/security: gcc -static probe
  xz-utils bzip2               # build contexts and ADD archives compressed with xz or bzip2
  docker-registry apache2-utils  # a real registry (and htpasswd) for the pull/push tests and bench/pull.sh
  systemd openssl passwd       # tests/systemd.rs (systemd-analyze, systemd-socket-activate), TLS certs and groupadd in tests/api_socket.rs
  adduser dpkg-dev             # the .deb's postinst (addgroup) and cargo-deb's dependency scan (tests/package.rs)
)

if [ "$(id -u)" != 0 ]; then
  echo "deps.sh: run as root (sudo $0)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps.sh: installing ${missing[*]}"
  # Keep package scripts from starting docker/containerd services: the tests
  # and benchmarks start their own dockerd with private directories.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The docker-registry package enables a service on :5000; the tests and
# bench/pull.sh start their own registries on free ports, so keep it off.
if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled docker-registry >/dev/null 2>&1; then
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi

# Rust: the crate needs 1.95 (edition 2024). Debian's rustc is too old, so use
# rustup's stable toolchain when no suitable cargo is on PATH.
need_rust=1
for c in cargo "${HOME:-/root}/.cargo/bin/cargo"; do
  if command -v "$c" >/dev/null 2>&1; then
    v=$("$c" --version | awk '{print $2}')
    if [ "$(printf '%s\n1.95.0\n' "$v" | sort -V | head -n1)" = 1.95.0 ]; then need_rust=0; fi
  fi
done
if [ "$need_rust" = 1 ]; then
  echo "deps.sh: installing the Rust stable toolchain with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
fi
export PATH="${HOME:-/root}/.cargo/bin:$PATH"

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "deps.sh: installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

# cargo-deb builds the Debian package (scripts/package.sh, tests/package.rs);
# pinned so the package's layout does not move under us (about 2 minutes).
CARGO_DEB_VERSION=3.8.0
if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
  echo "deps.sh: installing cargo-deb $CARGO_DEB_VERSION"
  cargo install --locked cargo-deb --version "$CARGO_DEB_VERSION"
fi
