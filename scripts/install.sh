#!/usr/bin/env bash
# Installs a published cube on this machine (run as root), or under $DESTDIR to stage a package:
#   /usr/local/bin/cube, libonnxruntime*.so beside it (the engine loads them from there)
#   /etc/systemd/system/cube-{node,transfer,engine}.service
#   /etc/cube/node.env.example (copy to node.env and edit)
#   /usr/local/share/doc/cube/*.md (the units' Documentation= points here)
# Usage: scripts/install.sh [DIST_DIR]   (default artifacts/dist; run scripts/publish.sh first)
# Nothing is enabled or started: see docs/deploy.md for the token, node.env and systemctl steps.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dist=${1:-$root/artifacts/dist}
dest=${DESTDIR:-}
if [[ ! -x "$dist/cube" ]]; then
  echo "install.sh: $dist/cube not found; run scripts/publish.sh first" >&2
  exit 1
fi

install -d "$dest/usr/local/bin" "$dest/etc/systemd/system" "$dest/etc/cube" "$dest/usr/local/share/doc/cube"
# Binary and libraries: written beside the old ones and renamed, so a running process keeps its file.
for f in "$dist"/cube "$dist"/libonnxruntime*.so; do
  name=$(basename "$f")
  install -m 0755 "$f" "$dest/usr/local/bin/.$name.new"
  mv -f "$dest/usr/local/bin/.$name.new" "$dest/usr/local/bin/$name"
done
install -m 0644 "$root"/scripts/systemd/*.service "$dest/etc/systemd/system/"
install -m 0644 "$root/scripts/systemd/node.env.example" "$dest/etc/cube/node.env.example"
install -m 0644 "$root"/docs/*.md "$dest/usr/local/share/doc/cube/"
install -m 0644 "$root/README.md" "$dest/usr/local/share/doc/cube/README.md"
echo "installed $("$dest/usr/local/bin/cube" --version) under ${dest:-/}" >&2
if [[ -z "$dest" ]] && command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
  systemctl daemon-reload
fi
