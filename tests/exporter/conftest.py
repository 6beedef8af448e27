"""Exported graphs of ``tiny4_checkpoint`` shared by the exporter tests (exported once per session).

``tiny4_graphs``: a fixed 4-layer profile with a flat step (ratios 1, .6, .6, .3: layers 2 and 4 get a TokenSelect,
layer 3 does not) and the adjustable graph, exported with ``export_graph`` into one folder whose large
initializers ``SharedWeights`` moved into one ``weights.bin``. The export sample is batch 2 x length 16; the tests
validate on other shapes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_graphs import TinyGraphs, export_tiny_graphs


@pytest.fixture(scope="session")
def tiny4_graphs(tiny4_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> TinyGraphs:
    return export_tiny_graphs(tiny4_checkpoint, tmp_path_factory.mktemp("tiny4-graphs"))
