#!/usr/bin/env bash
# The Python runtime on aarch64, under emulation: Debian's arm64 python3 (bookworm, 3.11) in a small rootfs,
# PyPI's aarch64 wheels of the core runtime (numpy, onnxruntime, tokenizers: no torch) and this project's wheel
# installed with --no-deps, then Runtime.predict on BUNDLE under qemu-aarch64, compared with the host's answers.
#
#   benchmarks/edge/aarch64_python.sh [BUNDLE] [--work DIR] [--out DIR]
#
# BUNDLE defaults to bundles/bert-sst2. Run as root (debootstrap) from the venv that has acc-deploy installed.
# Writes aarch64-python.json / .md into --out (default: the work dir, build/aarch64-python). Exit 0 when the aarch64
# answers equal the host's. Needs: apt-get install debootstrap qemu-user; network for deb.debian.org and PyPI.
# About 8 minutes on 2 cores, most of it the rootfs download and the emulated interpreter.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUNDLE="$REPO/bundles/bert-sst2"
WORK="$REPO/build/aarch64-python"
OUT=""
PYTHON=${PYTHON:-$(command -v python || command -v python3)}
MIRROR=${ACC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '6,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --work) WORK=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -*) echo "error: unknown option $1; see $0 --help" >&2; exit 2 ;;
    *) BUNDLE=$1; shift ;;
  esac
done
missing=()
for tool in debootstrap dpkg-deb; do command -v "$tool" >/dev/null || missing+=(debootstrap); done
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
if [ ${#missing[@]} -gt 0 ]; then
  echo "error: needs ${missing[*]}; run: apt-get install ${missing[*]}" >&2
  exit 3
fi
if [ ! -f "$BUNDLE/manifest.json" ]; then
  echo "error: bundle $BUNDLE has no manifest.json; run: acc-export --model bert-sst2 --speedups 1.5,3,4.8 (or pass BUNDLE)" >&2
  exit 2
fi
BUNDLE=$(cd "$BUNDLE" && pwd)
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
OUT=${OUT:-$WORK}
mkdir -p "$OUT"
ROOTFS="$WORK/rootfs"
SITE="$WORK/site"
ORT_VERSION=$("$PYTHON" -c "import onnxruntime; print(onnxruntime.__version__)")
t0=$SECONDS

# 1. arm64 Debian with python3: debootstrap's first stage only (download + unpack, no arm64 code runs), then the
#    packages it left for the second stage are unpacked too (their maintainer scripts are not needed to run python).
if [ ! -x "$ROOTFS/usr/bin/python3" ]; then
  rm -rf "$ROOTFS"
  debootstrap --foreign --arch=arm64 --variant=minbase --include=python3 bookworm "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log"
  for deb in "$ROOTFS"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$ROOTFS"; done
fi
# qemu-user passes the host's x86 /proc/cpuinfo through; ONNX Runtime's cpuinfo library crashes on it. qemu looks
# absolute paths up in its -L root first, so the root gets an aarch64 one (Cortex-A78AE, Jetson Orin's CPU).
mkdir -p "$ROOTFS/proc"
cp "$REPO/cpp/cmake/qemu/aarch64-cpuinfo" "$ROOTFS/proc/cpuinfo"
rootfs_s=$((SECONDS - t0))

# 2. The core runtime from PyPI's aarch64 wheels and this project's wheel, without its torch dependency.
t0=$SECONDS
if [ ! -d "$SITE/onnxruntime" ]; then
  rm -rf "$SITE" "$WORK/dist"
  "$PYTHON" -m pip install -q --target "$SITE" --implementation cp --python-version 3.11 --only-binary=:all: \
    --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 \
    numpy "onnxruntime==$ORT_VERSION" tokenizers
  "$PYTHON" -m pip wheel -q --no-deps -w "$WORK/dist" "$REPO"
  "$PYTHON" -m pip install -q --target "$SITE" --no-deps "$WORK"/dist/acc_deploy-*.whl
fi
install_s=$((SECONDS - t0))

# 3. The same predictions on the host and under qemu, then the comparison.
t0=$SECONDS
"$PYTHON" "$REPO/benchmarks/edge/predict_check.py" run "$BUNDLE" --out "$WORK/host.json"
(cd "$WORK" && PYTHONPATH="$SITE" qemu-aarch64 -L "$ROOTFS" "$ROOTFS/usr/bin/python3" \
  "$REPO/benchmarks/edge/predict_check.py" run "$BUNDLE" --out "$WORK/aarch64.json")
run_s=$((SECONDS - t0))
echo "rootfs ${rootfs_s}s, wheels ${install_s}s, host + emulated runs ${run_s}s"
"$PYTHON" "$REPO/benchmarks/edge/predict_check.py" compare "$WORK/host.json" "$WORK/aarch64.json" --out "$OUT/aarch64-python"
