#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks use beyond the .NET SDK, if missing:
#   systemd   systemd-analyze verifies the unit files (tests)
#   python3   deploy/k8s's exporter in the export-contract test
#   python3-protobuf  Google's protobuf runtime for Debian's /usr/bin/python3: the independent
#             baidu_std client of the brpc tests (tests/clients/cube_seek.py)
#   python3-grpcio, protobuf-compiler  the independent gRPC client of the engine's gRPC tests
#             (tests/clients/oip_grpc.py compiles the standard .proto files with protoc at run time)
#   python3-torch  the PyTorch trainer (scripts/train-torch.sh) and its end-to-end test
#   redis     redis-server, redis-cli, redis-benchmark for bench/server-vs-redis.sh
#   fio       the device's random-read IOPS beside bench/larger-than-memory.sh's figures
#   prometheus promtool lints every role's /metrics (tests)
#   afl++     only with --fuzz: afl-fuzz for `scripts/fuzz.sh --afl`
# Safe to run again; needs root (or sudo) only when something is missing. .ci/run calls it before
# scripts/test.sh, which itself never installs anything.
set -uo pipefail
missing=""
command -v systemd-analyze >/dev/null 2>&1 || missing="$missing systemd"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
/usr/bin/python3 -c "import google.protobuf" >/dev/null 2>&1 || missing="$missing python3-protobuf"
/usr/bin/python3 -c "import grpc" >/dev/null 2>&1 || missing="$missing python3-grpcio"
command -v protoc >/dev/null 2>&1 || missing="$missing protobuf-compiler"
/usr/bin/python3 -c "import torch" >/dev/null 2>&1 || missing="$missing python3-torch"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server redis-tools"
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
command -v fio >/dev/null 2>&1 || missing="$missing fio"
if [ "${1:-}" = "--fuzz" ]; then
  command -v afl-fuzz >/dev/null 2>&1 || missing="$missing afl++"
fi
if [ -z "$missing" ]; then
  echo "setup: nothing to install"
  exit 0
fi

sudo=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
echo "setup: installing$missing"
if ! ($sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing) >/dev/null 2>&1; then
  echo "setup: warning: could not install$missing (tests that need them will fail and say which)" >&2
fi
