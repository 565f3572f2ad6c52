#!/usr/bin/env bash
# The whole pipeline as far as it exists, on one machine:
#   publish the native binary → generate an embedding table as text → convert it to SequenceFiles
#   (+ donefile line) → build a sharded base → write and build a patch (delta) → look keys up
#   from the packages on disk, showing base values, patched values and a missing key.
# Usage: ./scripts/demo.sh [--rows N] [--shards S]     (work files go to ./demo-out/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rows=200000
shards=2
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows=$2; shift 2 ;;
    --shards) shards=$2; shift 2 ;;
    *) echo "usage: $0 [--rows N] [--shards S]" >&2; exit 2 ;;
  esac
done

step() { printf '\n== %s\n' "$*"; }
work="$root/demo-out"
rm -rf "$work"; mkdir -p "$work"; cd "$work"

step "publish the native binary"
cube=$("$root/scripts/publish.sh")
ls -l "$cube"
"$cube" version

step "generate an embedding table: $rows rows of 10 floats (40 bytes)"
"$cube" kv gen --keys "$rows" --dim 10 --seed 42 --key-range $((rows * 10)) --out table.txt
head -2 table.txt | cut -c1-100

step "text → SequenceFiles + donefile line (like kv_to_seqfile.py)"
"$cube" kv from-text table.txt data --id 1000 --parts 4
cat data/donefile/base.txt

step "build the base: $shards shards, f32 rows"
"$cube" build --donefile data/donefile/base.txt --output packages --dict demo --shards "$shards" --value-codec f32
cat "packages/1000_1000/demo_part0/manifest.json"

step "a patch: new values for 3 keys of the base, plus one new key"
awk -F'\t' 'NR<=3 { print $1 "\t0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5" }' table.txt > patch.txt
new=$((rows * 10 + 7)); absent=$((rows * 10 + 8))
echo -e "$new\t1 2 3 4 5 6 7 8 9 10" >> patch.txt
"$cube" kv from-text patch.txt data --id 1001 --patch-of 1000
"$cube" build --donefile data/donefile/patch.txt --output packages --dict demo --shards "$shards" --value-codec f32
ls packages

step "look keys up from the packages on disk (newest base + its deltas)"
keys=$(awk -F'\t' 'NR<=5 { printf "%s ", $1 }' table.txt)
# shellcheck disable=SC2086
"$cube" lookup --data packages --dict demo --floats $keys "$new" "$absent" | cut -c1-110
echo "(the first 3 keys come from the patch, the next 2 from the base; key $new was added by the patch; key $absent is in no version)"

step "done: work files are in $work"
