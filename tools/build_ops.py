"""``acc-build-ops``: build the ONNX Runtime custom-op library (``ai.acc::AccScore``, ``ai.acc::TokenSelect``).

Once built into acc-deploy's cache, the runtime registers it for its CUDA sessions
(``acc.runtime.custom_ops.register``), so graphs run our kernels instead of the ops' function bodies. Prints the
library's path on stdout; with ``--trt`` a second line, the TensorRT plugin library's path (load it with
``IPluginRegistry::loadLibrary`` or ``trtexec --dynamicPlugins``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from acc.profiles import AccError

from . import cli

EXAMPLES = (
    "acc-build-ops                      # CPU kernels",
    "acc-build-ops --cuda --arch 90     # plus the CUDA kernels for an H100 (needs nvcc)",
    "export ACC_ORT_OPS_LIBRARY=$(acc-build-ops --quiet)",
)


def build_parser() -> argparse.ArgumentParser:
    from acc.runtime.custom_ops import DEFAULT_CUDA_ARCH

    parser = cli.make_parser("acc-build-ops", __doc__.splitlines()[0].split(": ", 1)[1].replace("``", ""),
                             EXAMPLES)  # fmt: skip
    parser.add_argument("--cuda", action="store_true", help="also build the CUDA EP kernel (needs nvcc)")
    parser.add_argument("--arch", default=DEFAULT_CUDA_ARCH, help="CUDA architectures, e.g. 90 or '80;90'")
    parser.add_argument("--cache-dir", type=Path, default=None, help="build cache root (default ~/.cache/acc-deploy)")
    parser.add_argument(
        "--onnxruntime-root",
        type=Path,
        default=None,
        help="ONNX Runtime SDK with include/ (default: Debian headers fetched into $ACC_DEPS_DIR, else the cache's deps/)",
    )
    parser.add_argument(
        "--trt",
        action="store_true",
        help="also build libacc_trt_plugins.so, AccScore as a TensorRT plugin (implies --cuda)",
    )
    parser.add_argument(
        "--trt-include",
        type=Path,
        default=None,
        help="directory with TensorRT's NvInfer.h (or its parent); default $TENSORRT_ROOT/include or system",
    )
    parser.add_argument("--jobs", "-j", type=int, default=None, help="parallel compile jobs")
    parser.add_argument("--force", action="store_true", help="rebuild even when this source tree is already built")
    cli.add_quiet(parser, help="print only the library path(s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from acc.runtime.custom_ops import LIBRARY_ENV, TRT_LIBRARY_NAME, build_library

    args = cli.parse_args(build_parser(), argv)

    def progress(line: str) -> None:
        print(f"acc-build-ops: {line}", file=sys.stderr, flush=True)

    try:
        path = build_library(cuda=args.cuda or args.trt, arch=args.arch, cache_dir=args.cache_dir,
                             ort_root=args.onnxruntime_root, jobs=args.jobs, force=args.force,
                             progress=None if args.quiet else progress, trt=args.trt, trt_include=args.trt_include)  # fmt: skip
    except AccError as exc:
        return cli.fail(exc, code=1)
    if not args.quiet:
        progress(f"built {path} (found by the runtime; or set {LIBRARY_ENV}={path})")
        if args.trt:
            progress(
                f"built {path.parent / TRT_LIBRARY_NAME} (TensorRT: IPluginRegistry::loadLibrary / --dynamicPlugins)"
            )
    print(path)
    if args.trt:
        print(path.parent / TRT_LIBRARY_NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
