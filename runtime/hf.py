"""A bundle as a transformers model, so ``transformers.pipeline("text-classification", ...)`` runs it.

Why a ``PreTrainedModel`` subclass (as optimum's ``ORTModelForSequenceClassification`` is): the pipeline reads
``model.config`` (labels, problem type), moves tensors to ``model.device``, calls ``model(**tokenized)`` and expects
``.logits``; the runtime below does the rest — profile policy, ONNX Runtime sessions, the bundle's checks. The
model has no parameters; ``to()`` is a no-op because ONNX Runtime, not torch, owns the device (``device=`` at load).

Per-call ACC options: ``model(**inputs, speedup=3)``, or through the pipeline with
``pipeline_class=AccTextClassificationPipeline`` (``clf(texts, speedup=3)``, also ``latency_budget_ms``,
``min_accuracy``, ``best_effort``). The stock pipeline passes unknown call keywords to the tokenizer, which ignores
them, so there the options fixed at ``from_pretrained`` apply. Importing this module imports torch and
transformers (the ``[export]`` extra), which is why ``acc.runtime`` does not import it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from acc.profiles import DataError

try:
    import torch
    from transformers import (
        AutoTokenizer,
        PretrainedConfig,
        PreTrainedModel,
        TextClassificationPipeline,
    )
    from transformers.modeling_outputs import SequenceClassifierOutput
except ImportError as exc:  # the runtime's own install has neither: this adapter is the export extra's
    raise ImportError(
        f'acc.runtime.hf needs torch and transformers ({exc.name or exc} is missing); pip install "acc-deploy[export]"'
    ) from exc

from .inputs import Batch
from .request import OPTION_NAMES, RequestOptions
from .runtime import Prediction, Runtime

ACC_CALL_OPTIONS = tuple(name for name in OPTION_NAMES if name != "truncate")


class AccModelForSequenceClassification(PreTrainedModel):
    """A loaded bundle behind the transformers model interface. Create with :meth:`from_pretrained`."""

    config_class = PretrainedConfig
    base_model_prefix = "acc"
    main_input_name = "input_ids"

    def __init__(self, config: PretrainedConfig, runtime: Runtime, options: RequestOptions | None = None) -> None:
        super().__init__(config)
        self.runtime = runtime
        self.options = options or RequestOptions()
        self.last_prediction: Prediction | None = None  # profile, reason and latency of the latest call

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls,
        bundle_dir: str | os.PathLike[str],
        *,
        device: str = "auto",
        precision: str = "auto",
        threads: int | None = None,
        verify: bool = True,
        **options: Any,
    ) -> AccModelForSequenceClassification:
        """Load ``bundle_dir`` (checked like ``Runtime.load``); ``options``: default ``speedup``,
        ``latency_budget_ms``, ``min_accuracy``, ``best_effort`` for every call."""
        request = RequestOptions.of(None, **options)
        runtime = Runtime.load(bundle_dir, device=device, precision=precision, threads=threads, verify=verify)
        return cls(bundle_config(runtime), runtime, request)

    @property
    def device(self) -> torch.device:
        """Where the pipeline should put inputs: ``cpu`` (ONNX Runtime copies them to the GPU itself)."""
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    def to(self, *args: Any, **kwargs: Any) -> AccModelForSequenceClassification:  # type: ignore[override]
        """No-op: the sessions' device was fixed at load (``from_pretrained(device=...)``)."""
        return self

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **options: Any,
    ) -> SequenceClassifierOutput:
        """Logits of the profile the policy picks for this batch; ``options`` override the model's defaults."""
        request = RequestOptions.of(self.options, **options)
        batch = self._batch(input_ids, attention_mask, token_type_ids)
        choice = self.runtime.choose(request, batch=batch.size, seq_len=batch.seq_len)
        prediction = self.runtime.run_batch(batch, choice)
        self.last_prediction = prediction
        return SequenceClassifierOutput(logits=torch.from_numpy(prediction.logits.copy()))

    def _batch(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Batch:
        ids = _int64(input_ids)
        if ids.ndim != 2 or ids.shape[1] == 0:
            raise DataError(f"input_ids must be [batch, seq] with seq >= 1, got shape {tuple(ids.shape)}; pass the "
                            "tokenizer's output with return_tensors='pt'")  # fmt: skip
        max_length = self.runtime.manifest.model.max_length
        if ids.shape[1] > max_length:
            raise DataError(f"inputs have {ids.shape[1]} tokens, more than the model's max_length {max_length}; call "
                            f"the pipeline with truncation=True, max_length={max_length}")  # fmt: skip
        mask = np.ones_like(ids) if attention_mask is None else _int64(attention_mask)
        types = np.zeros_like(ids) if token_type_ids is None else _int64(token_type_ids)
        return Batch(ids, mask, types)


class AccTextClassificationPipeline(TextClassificationPipeline):
    """The text-classification pipeline plus per-call ACC options: ``clf(texts, speedup=3)``."""

    def check_model_type(self, supported_models: Any) -> None:
        """Accept the ACC model (the stock check only knows transformers' own classes and logs an error)."""
        if not isinstance(self.model, AccModelForSequenceClassification):
            super().check_model_type(supported_models)

    def _sanitize_parameters(self, **kwargs: Any) -> tuple[dict, dict, dict]:
        acc = {name: kwargs.pop(name) for name in ACC_CALL_OPTIONS if name in kwargs}
        preprocess, forward, postprocess = super()._sanitize_parameters(**kwargs)
        return preprocess, {**forward, **acc}, postprocess

    def _forward(self, model_inputs: dict, **options: Any) -> Any:
        return self.model(**model_inputs, **options)


def bundle_config(runtime: Runtime) -> PretrainedConfig:
    """A transformers config carrying what the pipeline reads: labels, problem type, architecture numbers."""
    card = runtime.manifest.model
    labels = list(card.labels)
    return PretrainedConfig(
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        problem_type="single_label_classification",
        architectures=[AccModelForSequenceClassification.__name__],
        acc_bundle=str(runtime.manifest.bundle_dir),
        acc_architecture=card.architecture,
        max_position_embeddings=card.max_length,
    )


def load_tokenizer(bundle_dir: str | os.PathLike[str], **kwargs: Any) -> Any:
    """The bundle's tokenizer as a transformers fast tokenizer (``tokenizer/`` is a ``save_pretrained`` folder)."""
    from .manifest import read_manifest

    manifest = read_manifest(bundle_dir, verify=False)
    return AutoTokenizer.from_pretrained(str(manifest.path(manifest.tokenizer)), **kwargs)


def with_options(model: AccModelForSequenceClassification, **options: Any) -> AccModelForSequenceClassification:
    """A second model over the same runtime (same sessions) with other default options, for a stock pipeline."""
    return AccModelForSequenceClassification(model.config, model.runtime, RequestOptions.of(model.options, **options))


def _int64(value: Any) -> np.ndarray:
    array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    return array.astype(np.int64, copy=False)
