#!/usr/bin/env bash
# Source on the GPU machine from the repo root: makes `acc.*` importable without pip (the machine has no registry).
# The project's folders are linked under one namespace directory, exactly as the installed package maps them, and
# pure-Python wheels carried in .device/wheels (rich, tqdm, ...) are unpacked into /tmp/site.
ROOT=$(pwd)
mkdir -p /tmp/ns/acc
for d in modeling profiles exporter runtime tools; do ln -sfn "$ROOT/$d" "/tmp/ns/acc/$d"; done
if compgen -G ".device/wheels/*.whl" >/dev/null; then
  python -m pip install -q --no-index --no-deps --target /tmp/site .device/wheels/*.whl 2>/dev/null || true
fi
export PYTHONPATH="/tmp/ns:/tmp/site:${PYTHONPATH:-}"
# The device has no network: headers for cpp/ops builds come from a carried cpp/.deps (filled off-device with
# `python3 cpp/scripts/fetch_deps.py cpp/.deps`; builds no longer write there by themselves).
if [ -d "$ROOT/cpp/.deps/onnxruntime" ]; then export ACC_DEPS_DIR="${ACC_DEPS_DIR:-$ROOT/cpp/.deps}"; fi
