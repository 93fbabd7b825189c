#!/usr/bin/env bash
# Makes an image from Debian's busybox-static: a rootfs with /bin/busybox, a
# symlink per applet, /etc/passwd and /etc/group, imported with CMD ["sh"].
#   scripts/busybox-image.sh [REFERENCE]      (default busybox:latest)
# Talks to the daemon `berth` finds (-H via BERTH_HOST or DOCKER_HOST).
# Set BERTH_CLI to use another client (e.g. BERTH_CLI=docker).
set -euo pipefail
ref=${1:-busybox:latest}
cli=${BERTH_CLI:-berth}
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "busybox-image.sh: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }

rootfs=$(mktemp -d /tmp/berth-rootfs-XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/root"
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"

tar -C "$rootfs" --numeric-owner -c . | "$cli" import -c 'CMD ["sh"]' - "$ref"
