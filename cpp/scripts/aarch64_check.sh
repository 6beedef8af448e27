#!/usr/bin/env bash
# Cross-build cpp/ for aarch64 and run its ctest suite under qemu: the C++ runtime, the example, the tests and the
# CPU custom-op library (cpp/ops), compiled with Debian's g++-aarch64-linux-gnu against the aarch64 ONNX Runtime
# library of PyPI's onnxruntime manylinux wheel (same version as the host's Python package, so the aarch64 build
# is checked against the same library release the x86-64 suite uses). Each aarch64 test binary runs under
# `qemu-aarch64 -L <cross libs + aarch64 /proc/cpuinfo>`; the `reference` step (what Python computes) runs on the host.
#
#   cpp/scripts/aarch64_check.sh [BUNDLE] [--data-dir DIR] [--build DIR] [--out DIR] [--jobs N] [--exclude REGEX]
#
# BUNDLE defaults to bundles/bert-sst2 (acc-export --model bert-sst2 --speedups 1.5,3,4.8). Run from the venv that
# has acc-deploy installed (or set PYTHON). Writes aarch64-check.json / .md into --out (default: the build dir).
# Exit 0 only when every ctest case run passed under emulation. --exclude REGEX is ctest's -E (e.g. predict: all
# of SST-2 dev through every graph, slow under qemu for bert-sst2). Needs (exit 3 with this line when missing):
#   apt-get install g++-aarch64-linux-gnu qemu-user cmake      (and network for PyPI + deb.debian.org, once)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUNDLE="$REPO/bundles/bert-sst2"
BUILD="$REPO/build/aarch64"
OUT=""
DATA_DIR=""
JOBS=$(nproc 2>/dev/null || echo 2)
EXCLUDE=()
PYTHON=${PYTHON:-$(command -v python || command -v python3)}

usage() { echo "usage: $(sed -n "8p" "$0" | sed "s/^# *//")"; sed -n "10,14p" "$0" | sed "s/^# \{0,1\}//"; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --data-dir) DATA_DIR=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --exclude) EXCLUDE=(-E "$2"); shift 2 ;;
    -*) echo "error: unknown option $1; see $0 --help" >&2; exit 2 ;;
    *) BUNDLE=$1; shift ;;
  esac
done
BUILD=$(mkdir -p "$BUILD" && cd "$BUILD" && pwd)
OUT=${OUT:-$BUILD}
mkdir -p "$OUT"

missing=()
command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user)
command -v cmake >/dev/null || missing+=(cmake)
if [ ${#missing[@]} -gt 0 ]; then
  echo "error: the aarch64 check needs ${missing[*]}; run: apt-get install ${missing[*]}" >&2
  exit 3
fi
if [ ! -f "$BUNDLE/manifest.json" ]; then
  echo "error: bundle $BUNDLE has no manifest.json; run: acc-export --model bert-sst2 --speedups 1.5,3,4.8 (or pass BUNDLE)" >&2
  exit 2
fi
ORT_VERSION=$("$PYTHON" -c "import onnxruntime; print(onnxruntime.__version__)" 2>/dev/null) || {
  echo "error: $PYTHON cannot import onnxruntime; activate the venv with acc-deploy installed or set PYTHON=" >&2
  exit 2
}
QEMU=$(command -v qemu-aarch64 || command -v qemu-aarch64-static)
GENERATOR=()
command -v ninja >/dev/null && GENERATOR=(-G Ninja)
declare -A SECONDS_OF  # wall seconds per phase (bash's SECONDS counter)

# 1. ONNX Runtime for aarch64: the library of PyPI's wheel, laid out as an SDK (include/ + lib/).
t0=$SECONDS
SDK="$BUILD/onnxruntime-$ORT_VERSION-aarch64"
if [ ! -f "$SDK/lib/libonnxruntime.so" ]; then
  mkdir -p "$BUILD/wheels"
  "$PYTHON" -m pip download -q --only-binary=:all: --platform manylinux_2_28_aarch64 --python-version 3.11 \
    --no-deps "onnxruntime==$ORT_VERSION" -d "$BUILD/wheels"
  wheel=$(ls "$BUILD"/wheels/onnxruntime-"$ORT_VERSION"-*aarch64.whl | head -1)
  rm -rf "$SDK.tmp" && mkdir -p "$SDK.tmp/lib"
  "$PYTHON" - "$wheel" "$SDK.tmp/lib" <<'EOF'
import sys, zipfile
wheel, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        if name.startswith("onnxruntime/capi/libonnxruntime.so."):
            with archive.open(name) as src, open(f"{dest}/{name.rsplit('/', 1)[1]}", "wb") as out:
                out.write(src.read())
EOF
  real=$(cd "$SDK.tmp/lib" && ls libonnxruntime.so.* | head -1)
  ln -s "$real" "$SDK.tmp/lib/libonnxruntime.so"
  ln -s "$real" "$SDK.tmp/lib/libonnxruntime.so.${ORT_VERSION%%.*}"  # its SONAME, for the loader
  "$PYTHON" "$REPO/cpp/scripts/fetch_deps.py" "$BUILD/_deps"
  ln -s "$BUILD/_deps/onnxruntime/include" "$SDK.tmp/include"
  rm -rf "$SDK" && mv "$SDK.tmp" "$SDK"
fi
SECONDS_OF[ort]=$((SECONDS - t0))

# qemu's -L root: the cross libraries plus an aarch64 /proc/cpuinfo (the host's x86 one crashes ONNX Runtime's
# cpuinfo library under qemu-user; see cpp/cmake/aarch64-linux-gnu.cmake).
QEMU_ROOT="$BUILD/qemu-root"
mkdir -p "$QEMU_ROOT/proc"
ln -sfn /usr/aarch64-linux-gnu/lib "$QEMU_ROOT/lib"
cp "$REPO/cpp/cmake/qemu/aarch64-cpuinfo" "$QEMU_ROOT/proc/cpuinfo"

# 2. Configure and build the runtime, example and tests, then the CPU custom-op library.
t0=$SECONDS
reference_args=()
[ -n "$DATA_DIR" ] && reference_args=(-DACC_TEST_DATA_DIR="$DATA_DIR")
cmake -S "$REPO/cpp" -B "$BUILD/cpp" "${GENERATOR[@]}" -DCMAKE_TOOLCHAIN_FILE="$REPO/cpp/cmake/aarch64-linux-gnu.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DONNXRUNTIME_ROOT="$SDK" -DACC_DEPS_DIR="$BUILD/_deps" \
  -DACC_QEMU_ROOT="$QEMU_ROOT" -DPython3_EXECUTABLE="$PYTHON" -DACC_TEST_BUNDLE="$(cd "$BUNDLE" && pwd)" "${reference_args[@]}" >"$BUILD/configure.log"
cmake --build "$BUILD/cpp" --parallel "$JOBS" >"$BUILD/build.log"
cmake -S "$REPO/cpp/ops" -B "$BUILD/ops" "${GENERATOR[@]}" -DCMAKE_TOOLCHAIN_FILE="$REPO/cpp/cmake/aarch64-linux-gnu.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DONNXRUNTIME_ROOT="$SDK" >"$BUILD/configure-ops.log"
cmake --build "$BUILD/ops" --parallel "$JOBS" >"$BUILD/build-ops.log"
SECONDS_OF[build]=$((SECONDS - t0))
for binary in "$BUILD/cpp/tests/acc_cpp_tests" "$BUILD/cpp/examples/classify" "$BUILD/ops/libacc_ort_ops.so"; do
  machine=$(readelf -h "$binary" | sed -n 's/^ *Machine: *//p')
  [ "$machine" = "AArch64" ] || { echo "error: $binary is built for $machine, not AArch64" >&2; exit 1; }
done

# 3. ctest under qemu (CMAKE_CROSSCOMPILING_EMULATOR), and the example once.
t0=$SECONDS
set +e
ctest --test-dir "$BUILD/cpp" "${EXCLUDE[@]}" --output-on-failure --output-junit "$BUILD/ctest-junit.xml" --parallel "$JOBS" \
  >"$BUILD/ctest.log" 2>&1
ctest_status=$?
set -e
SECONDS_OF[ctest]=$((SECONDS - t0))
"$QEMU" -L "$QEMU_ROOT" "$BUILD/cpp/examples/classify" "$BUNDLE" --speedup 1.5 \
  "a gorgeous, witty, seductive movie ." "flat and boring ." >"$BUILD/classify.out" 2>"$BUILD/classify.err" || true

# 4. Report: per-case status and time, versions, phase times.
"$PYTHON" - "$BUILD" "$OUT" "$BUNDLE" "$ORT_VERSION" "$QEMU" "$ctest_status" "${EXCLUDE[1]:-}" \
  "${SECONDS_OF[ort]}" "${SECONDS_OF[build]}" "${SECONDS_OF[ctest]}" <<'EOF'
import json, platform, subprocess, sys
from pathlib import Path
from xml.etree import ElementTree
build, out, bundle, ort, qemu, status, excluded, t_ort, t_build, t_ctest = sys.argv[1:]
build, out = Path(build), Path(out)
cases = []
for case in ElementTree.parse(build / "ctest-junit.xml").getroot().iter("testcase"):
    text = "".join(node.text or "" for node in case.iter() if node.tag in ("system-out", "failure"))
    cases.append({"case": case.get("name"), "status": case.get("status"), "seconds": float(case.get("time", 0)),
                  "summary": [line.strip() for line in text.splitlines() if "labels equal" in line or " cases, " in line][:12]})
def first_line(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True).stdout.splitlines()[0]
report = {
    "what": "cpp/ cross-built for aarch64, ctest under qemu-aarch64 (reference step on the host's Python)",
    "bundle": str(Path(bundle).resolve().name), "host": platform.machine(), "onnxruntime_aarch64": ort,
    "compiler": first_line("aarch64-linux-gnu-g++", "--version"), "qemu": first_line(qemu, "--version"),
    "classify_example": (build / "classify.out").read_text().splitlines(),
    "ctest_excluded": excluded or None, "ctest_exit": int(status), "passed": int(status) == 0 and all(c["status"] == "run" for c in cases),
    "cases": cases, "seconds": {"ort_sdk": float(t_ort), "build": float(t_build), "ctest": float(t_ctest)},
}
(out / "aarch64-check.json").write_text(json.dumps(report, indent=2) + "\n")
rows = [f"| {c['case']} | {'pass' if c['status'] == 'run' else c['status']} | {c['seconds']:.1f} |" for c in cases]
md = [f"# aarch64 C++ runtime under emulation: {'all passed' if report['passed'] else 'FAILED'}", "",
      f"Bundle `{report['bundle']}`; ONNX Runtime {ort} (PyPI manylinux aarch64 wheel); {report['compiler']};",
      f"{report['qemu']}. Host {report['host']}. Build {float(t_build):.0f} s, ctest {float(t_ctest):.0f} s.", "",
      "| ctest case | result | seconds |", "|---|---|---|", *rows,
      *([f"| (excluded: `ctest -E {excluded}`) | not run | |"] if excluded else []), "",
      "`classify` under qemu:", "", "```", *report["classify_example"], "```", ""]
(out / "aarch64-check.md").write_text("\n".join(md))
print("\n".join(md))
EOF
exit "$ctest_status"
