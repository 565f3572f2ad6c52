#!/usr/bin/env bash
# The fault-injection run: 10 rollouts (a base and 9 deltas with their models) to a
# transfer and 2 shards x 2 replicas of server+agent on 127.0.0.1, under continuous lookups and
# predictions from a remote engine, with one fault of each kind injected on the way: a bad
# donefile line, a builder whose disk is full (ulimit -f 64 KiB with SIGXFSZ ignored, then the
# transfer restarted as an operator would after freeing space), an agent SIGKILLed (restarted
# after the version went live on the others), the transfer SIGKILLed mid-rollout (restarted), a
# corrupt model package. Prints, per version: the fault, whether it reached every replica, seconds
# from publish to live, failed lookups, refused and wrong predictions (every answer is checked
# against the trainer's own score for the model version it names).
# The same run is part of ./scripts/test.sh (FaultInjectionTests); this prints its report.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=$("$root/scripts/publish.sh")
report=$(mktemp)
trap 'rm -f "$report"' EXIT
CUBE_BIN="$bin" CUBE_FAULT_REPORT="$report" dotnet test tests/Appliance.E2E.Tests -c Release --nologo \
  --filter "FullyQualifiedName~FaultInjectionTests" >"$report.log" 2>&1 || { tail -40 "$report.log"; rm -f "$report.log"; exit 1; }
rm -f "$report.log"
cat "$report"
