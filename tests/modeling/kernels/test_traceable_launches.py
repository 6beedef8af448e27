"""modeling/kernels/ops.py: the export hook ``traceable_launches`` (used by acc.exporter.aoti on CUDA).

Inside the block, batch-dependent launch choices are made for the pinned batch (so a dynamic-batch package is not
specialised on a traced batch size) and launches are routed through ``torch.library.wrap_triton``; outside it,
nothing changes. The capture itself needs CUDA and is exercised by benchmarks/device/aoti_check.sh.
"""

from __future__ import annotations

from acc.modeling.kernels import ops, tuning


def test_launch_choices_use_the_pinned_batch_only_inside_the_block() -> None:
    assert ops._tuning_batch(3) == 3 and ops._launchable(len) is len
    with ops.traceable_launches(16):
        assert ops._tuning_batch(3) == 16
        assert tuning.select_config(ops._tuning_batch(1), 512, 768) == tuning.select_config(16, 512, 768)
        with ops.traceable_launches(64):  # nested blocks restore the outer pin
            assert ops._tuning_batch(3) == 64
        assert ops._tuning_batch(3) == 16
    assert ops._tuning_batch(3) == 3  # reset even though the block was left normally


def test_the_pin_is_reset_when_the_export_fails() -> None:
    try:
        with ops.traceable_launches(8):
            raise RuntimeError("export failed")
    except RuntimeError:
        pass
    assert ops._tuning_batch(5) == 5
