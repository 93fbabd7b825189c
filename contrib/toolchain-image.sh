#!/usr/bin/env bash
# Makes a small C toolchain image from the host's Debian packages and imports
# it into a daemon: gcc, binutils and libc6-dev (with everything they depend
# on, collected with `dpkg -L` over the packages' Depends closure plus an
# `ldd` closure of their programs), and busybox-static as /bin/sh and the
# usual utilities. Enough for `Dockerfile.example`'s build stage
# (`gcc -static`).
#   contrib/toolchain-image.sh [NAME]        (default berth-toolchain:latest)
# Talks to the daemon the CLI finds (-H via BERTH_HOST or DOCKER_HOST); set
# BERTH_CLI=docker to import into a dockerd with `docker import` instead of
# `berth import`. Installs the packages with apt-get when they are missing.
set -euo pipefail
name=${1:-berth-toolchain:latest}
cli=${BERTH_CLI:-berth}
seeds=(gcc binutils libc6-dev busybox-static)

missing=()
for p in "${seeds[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "toolchain-image.sh: installing ${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# The installed packages the seeds depend on, recursively (first installed
# alternative of each dependency; version constraints and :arch dropped).
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
declare -A seen=()
queue=(gcc binutils libc6-dev)
while [ ${#queue[@]} -gt 0 ]; do
  p=${queue[0]}; queue=("${queue[@]:1}")
  [ -z "${seen[$p]:-}" ] || continue
  seen[$p]=1
  deps=$(dpkg-query -W -f='${Depends},${Pre-Depends}' "$p" 2>/dev/null || true)
  while IFS= read -r alts; do
    for alt in ${alts//|/ }; do
      alt=${alt%%:*}
      if [ -n "$alt" ] && installed "$alt"; then queue+=("$alt"); break; fi
    done
  done < <(echo "$deps" | sed -e 's/([^)]*)//g' -e 's/ //g' | tr ',' '\n' | sed -e 's/|/ | /g' -e '/^$/d')
done

rootfs=$(mktemp -d /tmp/berth-toolchain-XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
# Debian's merged /usr: /bin, /lib, /lib64 and /sbin are links into /usr.
mkdir -p "$rootfs"/usr/{bin,lib,lib64,sbin} "$rootfs"/{etc,tmp,root,dev,proc,sys}
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$rootfs/$d"; done
chmod 1777 "$rootfs/tmp"
chmod 700 "$rootfs/root"

list=$rootfs/.files
for p in "${!seen[@]}"; do dpkg -L "$p"; done |
  grep -Ev '^/(\.|usr/share/.*|etc/.*)$' |
  while IFS= read -r f; do [ -d "$f" ] && [ ! -L "$f" ] || echo "${f#/}"; done > "$list"
# The shared libraries every program and library of the set loads.
while IFS= read -r f; do
  if [ -f "/$f" ] && [ ! -L "/$f" ] && { [ -x "/$f" ] || [[ $f == *.so* ]]; }; then echo "/$f"; fi
done < "$list" | { xargs -r -d '\n' ldd 2>/dev/null || true; } | awk '/=> \// {print $3} /^\t\/lib/ {print $1}' | sort -u |
  while IFS= read -r lib; do
    echo "${lib#/}"
    real=$(readlink -f "$lib"); [ "$real" = "$lib" ] || echo "${real#/}"
  done > "$list.libs"
sort -u -o "$list" "$list" "$list.libs"
# Intermediate links (/lib, /bin) already exist in the rootfs: tar follows them.
tar -C / --no-recursion -cf - -T "$list" | tar -C "$rootfs" -xf -
rm -f "$list" "$list.libs"

cp /bin/busybox "$rootfs/usr/bin/busybox"
for applet in $(/bin/busybox --list); do
  # The toolchain's own programs (ar, strings, ...) win over busybox's.
  [ -e "$rootfs/usr/bin/$applet" ] || [ -L "$rootfs/usr/bin/$applet" ] || ln -s busybox "$rootfs/usr/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"

tar -C "$rootfs" --numeric-owner -c . |
  "$cli" import -c 'CMD ["sh"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$name"
