"""Compile the fused kernels for the H100 (sm_90) without a GPU, with the launch choices of BERT shapes.

Triton's interpreter checks the kernels' logic on CPU, not that the GPU compiler accepts them (types, layouts,
reductions) or fits them in registers. Triton ships ptxas, so it can compile for a named target offline;
``cuobjdump`` then reads each kernel's registers and local memory (spills) from the cubin. Run it in a process
without ``TRITON_INTERPRET`` (the interpreter patches triton.language globally):

    python -m acc.modeling.kernels.compile_check          # one JSON line per kernel variant; exit 1 on a failure
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from . import tuning

BERT = {"heads": 12, "head_dim": 64, "width": 768}
SCORE_TYPES = {"q_ptr": "*fp16", "k_ptr": "*fp16", "lse_ptr": "*fp32", "out_ptr": "*fp32", "mask_ptr": "*i64",
               "scale_log2e": "fp32"}  # fmt: skip
SELECT_TYPES = {"partial_ptr": "*fp32", "mask_ptr": "*i64", "n_valid_ptr": "*i64", "hidden_ptr": "*fp16",
                "pos_ptr": "*i64", "hidden_out_ptr": "*fp16", "mask_out_ptr": "*i64", "pos_out_ptr": "*i64",
                "score_out_ptr": "*fp32", "index_ptr": "*i32", "ratio": "fp32"}  # fmt: skip
# (batch, seq_len, causal): the benchmark cells, a causal prompt, and a long sequence for register pressure.
SHAPES = ((1, 128, False), (8, 128, False), (32, 512, False), (128, 512, False), (4, 300, True), (4, 1024, False))


def jobs() -> list[tuple[str, str, dict, int, int]]:
    """(module, kernel, constexprs, num_warps, num_stages) for every variant the BERT shapes launch."""
    out = []
    for batch, n, causal in SHAPES:
        for kernel, tiles in (("_column_sum_kernel", tuning.column_config(batch, BERT["heads"], n)),
                              ("_row_lse_kernel", tuning.lse_config(batch, BERT["heads"], n))):  # fmt: skip
            constexprs = {"HEAD_DIM": BERT["head_dim"], "BLOCK_D": tuning.pow2(BERT["head_dim"]), "IEEE": False,
                          "BLOCK_I": tiles.block_i, "BLOCK_J": tiles.block_j, "CAUSAL": causal}  # fmt: skip
            out.append(("_score_triton", kernel, constexprs, tiles.num_warps, tiles.num_stages))
        launch = tuning.select_config(batch, n, BERT["width"])
        n_pow2 = tuning.pow2(n)
        common = {"HEADS": BERT["heads"], "PIN_FIRST": True, "WRITE_SCORE": causal, "CAUSAL": causal, "N_POW2": n_pow2,
                  "RADIX": launch.radix}  # fmt: skip
        if launch.split:
            out.append(("_select_triton", "_select_plan_kernel", common, launch.num_warps, 2))
            gather = {"BLOCK_S": launch.block_s, "BLOCK_D": min(launch.block_d, tuning.pow2(BERT["width"]))}
            out.append(("_select_triton", "_gather_kernel", gather, 4, 2))
        else:
            chunk = max(16, min(launch.block_d, tuning.COPY_TILE_ELEMENTS // n_pow2))
            constexprs = {**common, "BLOCK_D": launch.block_d, "CHUNK_D": chunk}
            out.append(("_select_triton", "_select_kernel", constexprs, launch.num_warps, 2))
    return out


def compile_sm90(module_name: str, kernel: str, constexprs: dict, num_warps: int, num_stages: int) -> dict:
    """Compile one variant for sm_90; {"registers", "local" (bytes of spills)} read from its cubin."""
    import importlib

    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    fn = getattr(importlib.import_module(f"acc.modeling.kernels.{module_name}"), kernel)
    types = {**SCORE_TYPES, **SELECT_TYPES}
    signature = {name: "constexpr" if name in constexprs else types.get(name, "i32") for name in fn.arg_names}
    aligned = {
        (i,): [["tt.divisibility", 16]] for i, name in enumerate(fn.arg_names) if signature[name].startswith("*")
    }
    source = ASTSource(fn, signature, constexprs=constexprs, attrs=aligned)
    compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32),
                              options={"num_warps": num_warps, "num_stages": num_stages})  # fmt: skip
    cuobjdump = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    with tempfile.TemporaryDirectory() as tmp:
        cubin = Path(tmp) / "kernel.cubin"
        cubin.write_bytes(compiled.asm["cubin"])
        usage = subprocess.run([str(cuobjdump), "--dump-resource-usage", str(cubin)], capture_output=True, text=True,
                               check=True).stdout  # fmt: skip
    return {"registers": int(re.search(r"REG:(\d+)", usage)[1]), "local": int(re.search(r"LOCAL:(\d+)", usage)[1])}


def main() -> int:
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        print("compile_check: unset TRITON_INTERPRET (the interpreter cannot compile for a GPU)", file=sys.stderr)
        return 2
    failed = False
    for module_name, kernel, constexprs, warps, stages in jobs():
        row = {"kernel": kernel, "constexprs": constexprs, "num_warps": warps, "num_stages": stages}
        try:
            row.update(compile_sm90(module_name, kernel, constexprs, warps, stages))
        except Exception as exc:  # noqa: BLE001 - every variant is reported, then the exit code says it failed
            row["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        failed = failed or "error" in row or row.get("local", 0) > 0
        print(json.dumps(row), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
