#!/usr/bin/env bash
# Makes an image of Debian's iperf3: /usr/bin/iperf3 and every library ldd
# lists for it (same paths as on the host), plus busybox-static for a shell,
# imported with ENTRYPOINT-free CMD ["iperf3", "-s"].
#   bench/iperf3-image.sh CLI... REFERENCE
# e.g. bench/iperf3-image.sh berth -H unix:///run/b.sock berthbench/iperf3:1
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: iperf3-image.sh CLI... REFERENCE" >&2; exit 2; }
ref=${*: -1}
cli=("${@:1:$#-1}")
bin=/usr/bin/iperf3
[ -x "$bin" ] || { echo "iperf3-image.sh: $bin missing (apt-get install -y iperf3)" >&2; exit 1; }

rootfs=$(mktemp -d /tmp/berth-iperf3-rootfs-XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc" "$rootfs/usr/bin"
chmod 1777 "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
ln -s busybox "$rootfs/bin/sh"
cp "$bin" "$rootfs/usr/bin/iperf3"
# "libx.so => /lib/.../libx.so (0x…)" and "/lib64/ld-linux-x86-64.so.2 (0x…)".
for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\n' > "$rootfs/etc/group"
tar -C "$rootfs" --numeric-owner -c . | "${cli[@]}" import -c 'CMD ["/usr/bin/iperf3", "-s"]' - "$ref"
