"""Launch choices of the fused kernels per shape: tiles, warps, pipeline stages, one- or two-launch selection.

One place to retune from ``benchmarks/device/kernels_sweep.py`` (H100 timings of the alternatives). Each choice is
a plain function of the shape, so a CUDA graph captured for a plan always gets the same kernels, and a test can
pass any config explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass

# Streaming multiprocessors to fill: H100 SXM has 132. Fewer programs than about two per SM leave SMs idle while
# the last ones finish, so the tile shrinks (more programs) before it gets that far.
TARGET_PROGRAMS = 2 * 132
# tl.dot needs every tile side ≥ 16; 16-wide tiles only for sequences that short.
MIN_TILE = 16
# [N_POW2, CHUNK_D] tiles of the one-launch selection's copy stay ≤ this many elements (registers, no spills).
COPY_TILE_ELEMENTS = 8192
# B·N from which the selection runs as plan + gather (two launches): below it one launch wins, because a launch
# costs ~2-4 µs even inside a CUDA graph and the copy is small; above it the copy dominates and the gather's
# full-width, many-program layout moves it faster than programs that each also plan the sample.
SPLIT_MIN_ROWS = 4096


def pow2(n: int, floor: int = MIN_TILE) -> int:
    """Smallest power of two ≥ n, at least ``floor``."""
    return max(floor, 1 << (max(int(n), 1) - 1).bit_length())


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class TileConfig:
    """Q·Kᵀ tile of the score kernels: BLOCK_I queries × BLOCK_J keys per step, plus Triton's warps and stages."""

    block_i: int
    block_j: int
    num_warps: int = 4
    num_stages: int = 2

    def label(self) -> str:
        return f"{self.block_i}x{self.block_j}w{self.num_warps}s{self.num_stages}"


@dataclass(frozen=True)
class SelectConfig:
    """How ``select_fused`` launches: ``split`` (plan kernel, then gather) or one launch; ``radix`` bits per search
    step; ``block_d`` hidden columns per program (one launch) or per gather program; ``block_s`` slots per gather."""

    split: bool
    radix: int = 4
    num_warps: int = 4
    block_d: int = 64
    block_s: int = 32

    def label(self) -> str:
        kind = f"split-s{self.block_s}" if self.split else "one"
        return f"{kind}-r{self.radix}-w{self.num_warps}-d{self.block_d}"


def column_config(batch: int, heads: int, n: int) -> TileConfig:
    """Column sums: key tile as wide as keeps ≥ TARGET_PROGRAMS programs (128 at 32×512, 32 at 1×128).

    Each program holds one key tile and streams every query tile past it, so a wider key tile halves the Q loads
    and exps' loop overhead per key but also halves the programs; 64 queries per step keeps the [BLOCK_I, BLOCK_J]
    fp32 accumulator at ≤ 64 registers a thread with 4 warps (8 warps at 64×128). Long loops (N ≥ 256) get a third
    pipeline stage so the next Q tile loads while this one is exponentiated.
    """
    top = pow2(n)
    block_i = min(64, top)
    block_j = MIN_TILE
    for width in (128, 64, 32):
        if width <= top and batch * heads * cdiv(n, width) >= TARGET_PROGRAMS:
            block_j = width
            break
    else:
        block_j = min(32, top)
    warps = 8 if block_i * block_j >= 8192 else 4
    return TileConfig(block_i, block_j, warps, 3 if n >= 256 else 2)


def lse_config(batch: int, heads: int, n: int) -> TileConfig:
    """Row log-sum-exp (lse_source="kernel" only): 64×64 tiles, as flash attention's forward at head dim 64."""
    tile = min(64, pow2(n))
    return TileConfig(tile, tile, 4, 3 if n >= 256 else 2)


def select_config(batch: int, n: int, width: int) -> SelectConfig:
    """Selection: one launch below SPLIT_MIN_ROWS rows, else plan + gather.

    Radix 4 (8 search steps over a [32, N_POW2] compare tile) up to 256 word-vectors; radix 2 (16 steps over a
    [8, N_POW2] tile) beyond, so the tile stays ≤ 4096 elements. One launch: hidden columns per program chosen so
    B · width/block_d reaches TARGET_PROGRAMS where it can (min 32 columns: 64-byte fp16 row pieces).
    """
    n_pow2 = pow2(n)
    radix = 4 if n_pow2 <= 256 else 2
    warps = 4 if n_pow2 <= 256 else 8
    if batch * n >= SPLIT_MIN_ROWS:
        return SelectConfig(True, radix, warps, block_d=min(256, pow2(width)), block_s=32)
    block_d = min(256, pow2(width))
    while block_d > 32 and batch * cdiv(width, block_d) < TARGET_PROGRAMS:
        block_d //= 2
    return SelectConfig(False, radix, warps, block_d=block_d)
