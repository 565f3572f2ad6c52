#!/usr/bin/env bash
# Prints a python3 that can import matplotlib (Debian's /usr/bin/python3 when another python3 is
# first on PATH), installing python3-matplotlib if none can.
set -euo pipefail
for py in python3 /usr/bin/python3; do
  if command -v "$py" >/dev/null && "$py" -c 'import matplotlib' 2>/dev/null; then echo "$py"; exit 0; fi
done
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get install -y -qq python3-matplotlib >/dev/null 2>&1 || { $sudo apt-get update -qq && $sudo apt-get install -y -qq python3-matplotlib >/dev/null; }
echo /usr/bin/python3
