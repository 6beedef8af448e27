"""``ShapeRanges``: the one optimization profile every engine is built with (min/opt/max batch and length).

Why one profile: the runtime pads a request to [batch, seq] and needs every shape inside the range; TensorRT
tunes its kernels for ``opt`` and accepts anything between ``min`` and ``max``. ``opt`` is where speed matters
most (the latency table's typical cell), ``max`` bounds the memory the engine reserves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from acc.profiles import EngineBuildError

Range = tuple[int, int, int]
# Graph inputs shaped [batch, seq]; any other input must be static (the adjustable graph's keep_ratios [L]).
TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def parse_range(text: str | Any, flag: str) -> Range:
    """``"1,8,32"`` → ``(1, 8, 32)``; a tuple or list of three ints is checked the same way."""
    if isinstance(text, str):
        try:
            values = tuple(int(item) for item in text.split(","))
        except ValueError:
            raise EngineBuildError(f"{flag} takes min,opt,max as integers, got {text!r}; write e.g. 1,8,32") from None
    else:
        values = tuple(text)
    return check_range(values, flag)


def check_range(values: Any, flag: str) -> Range:
    """Three positive ints with min <= opt <= max, or a one-line error naming the flag."""
    values = tuple(values)
    if len(values) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise EngineBuildError(f"{flag} takes exactly three integers min,opt,max, got {values!r}; write e.g. 1,8,32")
    low, opt, high = values
    if low < 1:
        raise EngineBuildError(f"{flag} min is {low}; dimensions start at 1, write e.g. 1,8,32")
    if not low <= opt <= high:
        raise EngineBuildError(f"{flag} needs min <= opt <= max, got {low},{opt},{high}; reorder them")
    return (low, opt, high)


@dataclass(frozen=True)
class ShapeRanges:
    """min/opt/max of the batch and sequence axes of ``input_ids``, ``attention_mask``, ``token_type_ids``."""

    batch: Range = (1, 8, 32)
    seq: Range = (16, 128, 512)

    def __post_init__(self) -> None:
        object.__setattr__(self, "batch", check_range(self.batch, "--engine-batch"))
        object.__setattr__(self, "seq", check_range(self.seq, "--engine-seq"))

    @classmethod
    def parse(cls, batch: str = "1,8,32", seq: str = "16,128,512") -> ShapeRanges:
        return cls(parse_range(batch, "--engine-batch"), parse_range(seq, "--engine-seq"))

    def dims(self) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        """The ``[batch, seq]`` shapes for ``IOptimizationProfile.set_shape(name, min, opt, max)``."""
        return tuple((b, s) for b, s in zip(self.batch, self.seq))  # type: ignore[return-value]

    def contains(self, batch: int, seq: int) -> bool:
        return self.batch[0] <= batch <= self.batch[2] and self.seq[0] <= seq <= self.seq[2]

    def to_dict(self) -> dict[str, list[int]]:
        return {"batch": list(self.batch), "seq": list(self.seq)}

    @classmethod
    def from_dict(cls, data: Any) -> ShapeRanges:
        if not isinstance(data, dict) or set(data) != {"batch", "seq"}:
            raise EngineBuildError(f"engine shapes {data!r} are not {{'batch': [min, opt, max], 'seq': [...]}}; "
                                   "rebuild the engines with acc-export --engine trt")  # fmt: skip
        return cls(tuple(data["batch"]), tuple(data["seq"]))
