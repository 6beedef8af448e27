#!/usr/bin/env bash
# Build TensorRT-RTX engines for a bundle on the GPU machine; log build time and layer count per engine into
# $OUT/trt-build.json (rewritten after every engine, so a crash keeps the rows before it).
#
# Run from the repo root on the device machine. Needs, besides what gpu_check.sh needs (.device/bert-sst2,
# .device/wheels): TensorRT-RTX importable, i.e. tensorrt-rtx-cu13-bindings AND -libs unpacked into
# /tmp/site (the libs wheel is several GB: it cannot travel in one 64 MiB call; bring it like onnxruntime-gpu).
# TensorRT-RTX has no sm90 target: on an H100 the engines are built for ENGINE_TARGET (default sm89) and cannot run
# there, so this measures building (parse, build time, layer counts), not inference.
#
#   BUNDLE=/tmp/bundles/bert-sst2 ENGINE_TARGET=sm89 ENGINE_PRECISIONS=fp16,fp32 bash benchmarks/device/trt_build.sh
set -euo pipefail
source benchmarks/device/env.sh
: "${OUT:?set OUT to the folder that receives trt-build.json}"
BUNDLE=${BUNDLE:-/tmp/bundles/bert-sst2}
TARGET=${ENGINE_TARGET:-sm89}
PRECISIONS=${ENGINE_PRECISIONS:-fp16,fp32}

nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader
python -c "from acc.exporter.engines import trt_module as m; t = m(); print(t.__name__, t.__version__)"
if [ ! -f "$BUNDLE/manifest.json" ]; then
  python -m acc.tools.export --model .device/bert-sst2 --speedups 1.5,3,4.8 -o "$BUNDLE" --no-bench --quiet \
    --overwrite 2>&1 | grep -v "Loading weights" | tail -12
fi

# 1. One engine per graph and precision through the loaders; a failure is recorded, the next engine still runs.
python - "$BUNDLE" "$TARGET" "$PRECISIONS" "$OUT/trt-build.json" <<'PY'
import json
import subprocess
import sys
import time
from pathlib import Path

from acc.exporter.engines import (EngineFromNetwork, Fp16Onnx, InlinedOnnx, KeepCountsOnnx, NetworkFromOnnx, SaveEngine, ShapeRanges,
                                  engine_file_name, engine_target, parse_precisions, trt_module)
from acc.runtime import read_manifest

bundle, target_name, precisions, out = Path(sys.argv[1]), sys.argv[2], parse_precisions(sys.argv[3]), Path(sys.argv[4])
manifest = read_manifest(bundle, verify=False)
graphs = [(p.name, bundle / p.graph) for p in manifest.profiles]
if manifest.adjustable is not None:
    graphs.append(("adjustable", bundle / manifest.adjustable.graph))
trt = trt_module()
target = engine_target(target_name)
shapes = ShapeRanges()
work = Path("/tmp/trt-build")
work.mkdir(exist_ok=True)
try:
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout
except OSError:
    gpu = "unknown (no nvidia-smi)"
report = {
    "schema_version": 1, "utc": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), "gpu": gpu.strip(),
    "backend": target.backend, "trt_version": target.trt_version, "trt_module": trt.__name__,
    "device_compute_capability": target.device_compute_capability, "target_compute_capability": target.compute_capability,
    "bundle": str(bundle), "model": manifest.model.name, "num_layers": manifest.model.num_layers,
    "shapes": shapes.to_dict(), "engines": [],
}


def engine_layers(data: bytes) -> dict:
    """Layers after fusion need a deserialized engine, which may be refused on a GPU the engine was not built for."""
    try:
        engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(data)
    except Exception as exc:  # noqa: BLE001 - recorded, not fatal
        return {"engine_layers": None, "engine_layers_error": str(exc).splitlines()[0][:300]}
    if engine is None:
        return {"engine_layers": None, "engine_layers_error": "deserialize_cuda_engine returned None"}
    return {"engine_layers": int(engine.num_layers)}


for name, graph in graphs:
    for precision in precisions:
        path = work / engine_file_name(name, target.backend, target.compute_capability, precision)
        row = {"profile": name, "precision": precision, "file": path.name}
        # The adjustable graph goes in as acc-export --engine trt builds it: TopK widths from a keep_counts shape input.
        source = InlinedOnnx(KeepCountsOnnx(graph) if name == "adjustable" else graph)
        onnx_loader = Fp16Onnx(source) if precision == "fp16" else source
        build = EngineFromNetwork(NetworkFromOnnx(onnx_loader), precision, shapes, timing_cache=work / "timing.cache",
                                  compute_capability=target.build_for)
        started = time.perf_counter()
        try:
            built = SaveEngine(build, path)()
        except Exception as exc:  # noqa: BLE001 - one engine's failure is a result, not the end of the run
            row.update(ok=False, seconds_total=round(time.perf_counter() - started, 3),
                       error=str(exc).splitlines()[0][:600])
        else:
            row.update(ok=True, seconds_total=round(time.perf_counter() - started, 3),
                       build_seconds=round(built.build_seconds, 3), network_layers=built.network_layers,
                       engine_bytes=len(built.data), **engine_layers(built.data))
        report["engines"].append(row)
        print(json.dumps(row), flush=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
PY

# 2. The CLI end to end: acc-export --engine trt writes engines into a new bundle, which the runtime reader verifies.
python -m acc.tools.export --model .device/bert-sst2 --speedups 3 -o /tmp/bundles/bert-sst2-trt --no-bench \
  --quiet --overwrite --validate-grid none --max-examples 64 --engine trt --engine-precision fp16 \
  --engine-target "$TARGET" 2>&1 | grep -v "Loading weights" | tail -8
python -c "
from acc.runtime import read_manifest
m = read_manifest('/tmp/bundles/bert-sst2-trt')
print('manifest engines:', [(e.profile, e.backend, e.compute_capability, e.precision, e.file) for e in m.engines])
"
