"""exporter/engines/shapes.py: ShapeRanges parsing and validation (one-line EngineBuildError on bad input)."""

from __future__ import annotations

import pytest

from acc.exporter.engines import ShapeRanges, parse_range
from acc.profiles import EngineBuildError


def test_defaults_and_dims() -> None:
    shapes = ShapeRanges()
    assert shapes.batch == (1, 8, 32) and shapes.seq == (16, 128, 512)
    assert shapes.dims() == ((1, 16), (8, 128), (32, 512))  # min, opt, max as [batch, seq]
    assert shapes.contains(1, 16) and shapes.contains(32, 512) and not shapes.contains(33, 16)
    assert not shapes.contains(4, 8)


def test_parse_text_and_round_trip() -> None:
    shapes = ShapeRanges.parse("1, 4,4", "8,64,128")
    assert shapes == ShapeRanges((1, 4, 4), (8, 64, 128))
    assert ShapeRanges.from_dict(shapes.to_dict()) == shapes
    assert shapes.to_dict() == {"batch": [1, 4, 4], "seq": [8, 64, 128]}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("1,8", "exactly three integers"),
        ("1,8,32,64", "exactly three integers"),
        ("1,x,32", "as integers"),
        ("", "as integers"),
        ("0,8,32", "min is 0"),
        ("8,1,32", "min <= opt <= max"),
        ("1,64,32", "min <= opt <= max"),
    ],
)
def test_bad_ranges_are_one_line_errors(text: str, needle: str) -> None:
    with pytest.raises(EngineBuildError) as info:
        parse_range(text, "--engine-batch")
    message = str(info.value)
    assert needle in message and "--engine-batch" in message and "\n" not in message


def test_constructor_checks_tuples_too() -> None:
    with pytest.raises(EngineBuildError, match="--engine-seq needs min <= opt <= max"):
        ShapeRanges(seq=(128, 16, 512))
    with pytest.raises(EngineBuildError, match="exactly three integers"):
        ShapeRanges(batch=(1.0, 8, 32))  # type: ignore[arg-type]
    with pytest.raises(EngineBuildError, match="rebuild the engines"):
        ShapeRanges.from_dict({"batch": [1, 8, 32]})
