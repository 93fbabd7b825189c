#!/usr/bin/env bash
# Builds the Debian package with cargo-deb (scripts/deps.sh installs it):
# the three binaries into /usr/bin, the systemd units from contrib/systemd/,
# a default /etc/berth/daemon.json, maintainer scripts from contrib/debian/
# (postinst creates the `berth` group), and bash/zsh/fish completions and man
# pages generated from the binaries' clap definitions (nothing generated is
# checked in). Prints the path of the .deb on its last line.
#
#   scripts/package.sh            release build (what to ship)
#   scripts/package.sh --dev      the debug build (what the tests install: no
#                                 second, optimised build of the whole crate)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"

profile=release
dir=release
case "${1:-}" in
--dev) profile=dev dir=debug ;;
"") ;;
*)
  echo "usage: $0 [--dev]" >&2
  exit 2
  ;;
esac

if ! cargo deb --version >/dev/null 2>&1; then
  echo "package.sh: cargo-deb is missing: run scripts/deps.sh" >&2
  exit 1
fi

echo "== cargo build --profile $profile --bins" >&2
cargo build --profile "$profile" --locked --bins >&2

gen=target/berth-generated
rm -rf "$gen"
mkdir -p "$gen/completions" "$gen/man"
bin="${CARGO_TARGET_DIR:-target}/$dir"
"$bin/berth" completion bash >"$gen/completions/berth"
"$bin/berth" completion zsh >"$gen/completions/_berth"
"$bin/berth" completion fish >"$gen/completions/berth.fish"
"$bin/berth" __gen-man "$gen/man"
"$bin/berthd" --gen-man "$gen/man"
# Debian ships man pages gzip-compressed; -n keeps the build reproducible.
gzip -9n "$gen"/man/*

echo "== cargo deb" >&2
out=$(cargo deb --no-build --locked --profile "$profile" --fast)
deb=$(printf '%s\n' "$out" | tail -n1)
[ -f "$deb" ] || {
  echo "package.sh: cargo deb did not report a .deb (got: $out)" >&2
  exit 1
}
echo "$deb"
