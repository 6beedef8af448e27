"""Architecture export configs: declarations the exporter reads instead of branching on model names.

Like optimum's ``OnnxConfig`` classes, a config says which inputs (and dynamic axes) a graph takes and the
validation tolerances that belong to the architecture; callers may override the tolerances.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from acc.profiles import ExportError

if TYPE_CHECKING:
    import torch

AXES_BS: dict[int, str] = {0: "batch", 1: "sequence"}


@dataclass(frozen=True)
class AccOnnxConfig:
    """Inputs, axes and tolerances of one architecture's ACC graphs."""

    architecture: str
    inputs: dict[str, dict[int, str]]
    atol: dict[str, float] = field(default_factory=lambda: {"logits": 1e-4, "": 1e-5})
    min_label_agreement: float = 0.999
    vocab_size: int = 30522
    max_length: int = 512

    def with_atol(self, atol: float | None) -> AccOnnxConfig:
        """This config with ``--atol`` as every output's tolerance (itself when None)."""
        return self if atol is None else replace(self, atol={"logits": atol, "": atol})

    def atol_for(self, output: str) -> float:
        return self.atol.get(output, self.atol[""])

    def sample_inputs(self, batch: int, seq_len: int, seed: int = 0) -> dict[str, torch.Tensor]:
        """Token ids with per-row valid lengths ``seq_len, seq_len - 1, ...`` (padding at the end)."""
        import torch

        generator = torch.Generator().manual_seed(seed)
        input_ids = torch.randint(1000, min(self.vocab_size, 30000), (batch, seq_len), generator=generator)
        mask = torch.zeros(batch, seq_len, dtype=torch.long)
        for row in range(batch):
            mask[row, : max(1, seq_len - row)] = 1
        input_ids = input_ids * mask
        sample = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            sample["token_type_ids"] = torch.zeros_like(input_ids)
        return sample


def config_for(model_config: object) -> AccOnnxConfig:
    """The export config of a Hugging Face encoder config (BERT, RoBERTa, DistilBERT, MPNet).

    Families without segment ids export graphs without a ``token_type_ids`` input; ``max_length`` is the longest
    input the position table covers (RoBERTa and MPNet number positions from ``pad_token_id + 1``).
    """
    from acc.modeling.families import FAMILIES

    model_type = getattr(model_config, "model_type", None)
    if model_type not in FAMILIES:
        raise ExportError(
            f"model type {model_type!r} is not supported by the ACC exporter yet; use a {', '.join(sorted(FAMILIES))} "
            "checkpoint"
        )
    family = FAMILIES[model_type]
    inputs = {"input_ids": AXES_BS, "attention_mask": AXES_BS}
    if family.uses_token_type_ids:
        inputs["token_type_ids"] = AXES_BS
    return AccOnnxConfig(
        architecture=str(model_type),
        inputs=inputs,
        vocab_size=int(getattr(model_config, "vocab_size", 30522)),
        max_length=family.max_length(model_config),
    )
