"""exporter/validate.py: ``check_reports`` (the policy) on hand-made reports, ``measure_graph`` on a real tiny graph."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tiny_graphs import TinyGraphs, ort_session, random_feeds

from acc.exporter import AccOnnxConfig, GraphReport, check_reports, measure_graph
from acc.exporter.export import kept_index_name
from acc.exporter.validate import InputBatch, synthetic_batches
from acc.profiles import ToleranceError

CONFIG = AccOnnxConfig(architecture="bert", inputs={}, atol={"logits": 1e-4, "": 1e-5}, min_label_agreement=0.99)


def _report(graph: str, diff: float = 0.0, agreement: float = 1.0, profile: str | None = None) -> GraphReport:
    return GraphReport(graph=graph, source="sst2-dev", profile=profile or graph, examples=100, max_abs_diff=diff,
                       label_agreement=agreement)  # fmt: skip


# ------------------------------------------------------------------------------------------------- check_reports


def test_passing_reports_return_no_failures() -> None:
    reports = [_report("dense", 1e-6), _report("s1.5", 1e-4), _report("s3", 0.0, agreement=0.99)]  # at the limits
    assert check_reports(reports, CONFIG) == []


def test_every_failing_graph_is_listed_in_one_line() -> None:
    reports = [
        _report("dense", 1e-6),
        _report("s1.5", 3.2e-3),
        _report("s3", 1e-6, agreement=0.95),
        _report("adjustable", 2e-4, agreement=0.5, profile="s3"),
    ]
    with pytest.raises(ToleranceError) as info:
        check_reports(reports, CONFIG)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("4 validation failure(s): ")
    assert "graph s1.5 (profile s1.5, sst2-dev, 100 samples): logits max|diff| 3.20e-03 > atol 1e-04" in message
    assert "graph s3 (profile s3, sst2-dev, 100 samples): label agreement 0.9500 < 0.99" in message
    assert "graph adjustable (profile s3, sst2-dev, 100 samples): logits max|diff| 2.00e-04" in message
    assert "graph adjustable (profile s3, sst2-dev, 100 samples): label agreement 0.5000" in message
    assert "graph dense" not in message
    assert message.endswith("pass --atol / --allow-mismatch to accept (recorded in the bundle)")


def test_allow_mismatch_returns_the_failures_instead_of_raising() -> None:
    reports = [_report("dense"), _report("s1.5", 3.2e-3), _report("s3", agreement=0.5)]
    failures = check_reports(reports, CONFIG, allow_mismatch=True)
    assert len(failures) == 2
    assert failures[0].startswith("graph s1.5 ") and "max|diff| 3.20e-03" in failures[0]
    assert failures[1].startswith("graph s3 ") and "label agreement 0.5000" in failures[1]


def test_the_config_tolerance_is_the_one_applied() -> None:
    loose = AccOnnxConfig(architecture="bert", inputs={}, atol={"logits": 1e-2, "": 1e-5})
    assert check_reports([_report("s1.5", 3.2e-3)], loose) == []
    with pytest.raises(ToleranceError, match="1 validation failure"):
        check_reports([_report("s1.5", 3.2e-3)], CONFIG)


# ------------------------------------------------------------------------------------------------- measure_graph

GRID = ((1, 1), (3, 7), (6, 45), (2, 100))


@pytest.fixture(scope="module")
def fixed_session(tiny4_graphs: TinyGraphs) -> Any:
    return ort_session(tiny4_graphs.fixed.path)


def test_measure_graph_on_a_real_graph_reports_no_flips(tiny4_graphs: TinyGraphs, fixed_session: Any) -> None:
    graph = tiny4_graphs.fixed
    report = measure_graph(fixed_session, tiny4_graphs.model, graph, synthetic_batches(tiny4_graphs.config, GRID),
                           "synthetic")  # fmt: skip
    assert (report.graph, report.profile, report.source) == ("flat", "flat", "synthetic")
    assert report.examples == sum(batch for batch, _ in GRID)
    assert report.samples_with_flips == 0
    assert report.index_mismatch == {"2": 0.0, "4": 0.0}  # 1-based names of the pruned layers
    assert 0.0 < report.max_abs_diff < 1e-5  # > 0: ORT and PyTorch really ran separately
    assert report.label_agreement == 1.0
    assert report.onnx_accuracy is None and report.torch_accuracy is None  # synthetic data has no labels
    assert check_reports([report], tiny4_graphs.config) == []


def test_measure_graph_feeds_the_ratios_to_the_adjustable_graph(tiny4_graphs: TinyGraphs) -> None:
    session = ort_session(tiny4_graphs.adjustable.path)
    ratios = (1.0, 0.5, 0.3, 0.3)
    report = measure_graph(session, tiny4_graphs.model, tiny4_graphs.adjustable,
                           synthetic_batches(tiny4_graphs.config, GRID), "synthetic", ratios, "s-hand")  # fmt: skip
    assert (report.graph, report.profile) == ("adjustable", "s-hand")
    assert report.samples_with_flips == 0 and report.index_mismatch == {"2": 0.0, "3": 0.0, "4": 0.0}
    assert report.max_abs_diff < 1e-5 and report.label_agreement == 1.0


def test_measure_graph_accuracy_on_labelled_batches(tiny4_graphs: TinyGraphs, fixed_session: Any) -> None:
    feeds = random_feeds(8, 12, seed=2)
    logits = fixed_session.run(["logits"], feeds)[0]
    labels = logits.argmax(axis=1)
    labels[:2] = 1 - labels[:2]  # two wrong on purpose: accuracy 6/8 for both backends
    report = measure_graph(fixed_session, tiny4_graphs.model, tiny4_graphs.fixed, [InputBatch(feeds, labels)],
                           "sst2-dev")  # fmt: skip
    assert report.onnx_accuracy == report.torch_accuracy == 0.75


class _Tampered:
    """An ORT session whose outputs are changed after the run, to check that measuring sees the change."""

    def __init__(self, session: Any, edit: Any) -> None:
        self.session, self.edit = session, edit

    def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        outputs = dict(zip(names, self.session.run(names, feeds)))
        self.edit(outputs)
        return [outputs[name] for name in names]


def test_measure_graph_reports_logit_differences(tiny4_graphs: TinyGraphs, fixed_session: Any) -> None:
    def shift(outputs: dict[str, np.ndarray]) -> None:
        outputs["logits"] = outputs["logits"] + np.float32(3e-3)

    report = measure_graph(_Tampered(fixed_session, shift), tiny4_graphs.model, tiny4_graphs.fixed,
                           synthetic_batches(tiny4_graphs.config, GRID), "synthetic")  # fmt: skip
    assert report.max_abs_diff == pytest.approx(3e-3, rel=1e-3) and report.samples_with_flips == 0
    with pytest.raises(ToleranceError, match="graph flat .* max\\|diff\\| 3.00e-03 > atol 1e-04"):
        check_reports([report], tiny4_graphs.config)


def test_measure_graph_counts_flips_and_keeps_them_out_of_the_diff(
    tiny4_graphs: TinyGraphs, fixed_session: Any
) -> None:
    name = kept_index_name(3)  # kept_index_4

    def flip_first_row(outputs: dict[str, np.ndarray]) -> None:
        index = outputs[name].copy()
        index[0, 0] = 10_000  # another kept position in row 0 of every batch
        outputs[name] = index
        logits = outputs["logits"].copy()
        logits[0] += 1.0  # a flipped sample may differ a lot; the tolerance applies to the others
        outputs["logits"] = logits

    report = measure_graph(_Tampered(fixed_session, flip_first_row), tiny4_graphs.model, tiny4_graphs.fixed,
                           synthetic_batches(tiny4_graphs.config, GRID), "synthetic")  # fmt: skip
    examples = sum(batch for batch, _ in GRID)
    assert report.samples_with_flips == len(GRID)
    assert report.index_mismatch == {"2": 0.0, "4": pytest.approx(len(GRID) / examples)}
    assert report.max_abs_diff < 1e-5
