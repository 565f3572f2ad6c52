#!/usr/bin/env bash
# The whole pipeline on one machine (cube demo): publish the native binary → generate labelled
# Criteo-format data from a hidden click model → train the CTR-DNN and export a base (SequenceFile
# + donefile line + model package) → start `cube run --roles all` → wait until the base is active →
# train on fresh rows and export a delta → wait until it is live → predict the held-out rows over
# HTTP: AUC against the best achievable, QPS, latency, and the served scores against the trainer's
# own → stop the server with SIGTERM.
# Usage: ./scripts/demo.sh [--rows N] [any other `cube demo` option]   (work files go to ./demo-out/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

printf '== publish the native binary\n'
cube=$("$root/scripts/publish.sh")
ls -l "$cube"
"$cube" version

rm -rf "$root/demo-out"   # this script's own work directory (git-ignored)
exec "$cube" demo --dir "$root/demo-out" "$@"
