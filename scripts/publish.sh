#!/usr/bin/env bash
# Publishes the native AOT binary `cube` and libonnxruntime.so (loaded by the engine role only)
# into one folder: artifacts/dist by default, or the folder given as $1; further arguments go to
# dotnet publish. Prints the binary's path on stdout (build output goes to stderr).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/artifacts/dist}
mkdir -p "$out"
dotnet publish "$root/src/Appliance/Appliance.csproj" -c Release -r linux-x64 -o "$out" --nologo -v quiet -p:DebugType=none "${@:2}" >&2
rm -f "$out"/*.dbg
echo "$out/cube"
