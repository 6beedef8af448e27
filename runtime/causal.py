"""``CausalRuntime``: generate text from a causal-LM bundle on ONNX Runtime, with a speedup chosen per request.

Per request: tokenize and left-pad the prompts, pick the prefill graph of the requested profile (a shipped one, or
the adjustable graph with offline-tuned ratios), run the shared decoding loop (``acc.runtime.generate``): the prefill
graph once, then the decode graph per token over the per-layer pruned caches. Reports time-to-first-token and
decode tokens/s. Imports neither torch nor transformers (the tokenizer is read with ``tokenizers``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from .causal_names import DECODE_NAME
from .causal_step import OrtCausalStep, PromptBatch, left_pad
from acc.profiles import (
    BundleError,
    DataError,
    PolicyError,
    ProfileError,
    profile_for_speedup,
)

from .generate import GenerationConfig, generate
from .manifest import MANIFEST_NAME, Manifest, read_manifest

if TYPE_CHECKING:
    from tokenizers import Tokenizer

CAUSAL_FAMILY = "causal-lm"
Prompts = Union[str, Sequence[str], Sequence[Sequence[int]]]


@dataclass(frozen=True, eq=False)
class CausalGeneration:
    """One request's output. ``cache_lengths[l][b]``: real KV entries of layer l, row b, right after the prefill."""

    texts: list[str]
    token_ids: list[list[int]]
    profile: str
    keep_ratios: tuple[float, ...]
    ttft_ms: float
    decode_ms: float
    tokens_per_s: float
    prompt_lengths: list[int]
    cache_lengths: list[list[int]]
    finished: list[bool]


class CausalRuntime:
    """A loaded causal-LM bundle. Sessions are created on first use and cached per graph (thread-safe)."""

    def __init__(self, manifest: Manifest, data: dict[str, Any], tokenizer: Tokenizer, device: str = "cpu",
                 threads: int | None = None) -> None:  # fmt: skip
        self.manifest = manifest
        self.model_card: dict[str, Any] = data["model"]
        self.decode_graph = str(data["decode"]["graph"])
        self.tokenizer = tokenizer
        self.device = device
        self.threads = threads
        self.eos_token_id = self.model_card.get("eos_token_id")
        self.pad_token_id = self.model_card.get("pad_token_id")
        if self.pad_token_id is None:
            self.pad_token_id = self.eos_token_id if self.eos_token_id is not None else 0
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, bundle_dir: str | Path, device: str = "cpu", threads: int | None = None, verify: bool = True) -> CausalRuntime:
        """Read and verify the bundle (sha256 of every file with ``verify``); fails with one line if it is not causal."""
        from tokenizers import Tokenizer

        manifest = read_manifest(bundle_dir, verify=verify)
        data = json.loads((Path(bundle_dir) / MANIFEST_NAME).read_text(encoding="utf-8"))
        family = data["model"].get("family")
        if family != CAUSAL_FAMILY:
            kind = family or "encoder-classifier"
            kind = ("an " if kind[0] in "aeiou" else "a ") + kind
            raise BundleError(f"bundle {bundle_dir} holds {kind} model, not a causal LM; load it with "
                              "acc.runtime.Runtime")  # fmt: skip
        decode = (data.get("decode") or {}).get("graph")
        if not decode or decode not in manifest.files:
            raise BundleError(f"bundle {bundle_dir} has no listed decode graph; re-export the bundle with acc-export")
        if device not in ("cpu", "cuda"):
            raise DataError(f"device must be cpu or cuda, got {device!r}")
        tokenizer = Tokenizer.from_str(manifest.read_file(f"{manifest.tokenizer}/tokenizer.json").decode("utf-8"))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return cls(manifest, data, tokenizer, device, threads)

    @property
    def num_layers(self) -> int:
        return self.manifest.model.num_layers

    def encode(self, prompts: Prompts) -> PromptBatch:
        """Texts (or token-id lists) → left-padded int64 batch; prompts longer than the model's positions fail."""
        if isinstance(prompts, str):
            prompts = [prompts]
        if not prompts:
            raise DataError("no prompts given; pass a string or a list of strings")
        if all(isinstance(p, str) for p in prompts):
            rows = [enc.ids for enc in self.tokenizer.encode_batch(list(prompts))]
        else:
            rows = [[int(t) for t in p] for p in prompts]
        limit = self.manifest.model.max_length
        for i, row in enumerate(rows):
            if not row:
                raise DataError(f"prompt {i} is empty; give at least one token")
            if len(row) >= limit:
                raise DataError(f"prompt {i} has {len(row)} tokens; the model has {limit} positions, shorten it")
        return left_pad(rows, self.pad_token_id)

    def resolve_profile(self, speedup: float | None = None, profile: str | None = None) -> tuple[str, str, tuple[float, ...]]:
        """(name, graph, keep ratios): a shipped profile by name or target speedup, else the adjustable graph."""
        entries = self.manifest.profiles
        if profile is not None:
            entry = self.manifest.profile(profile)
            return entry.name, entry.graph, entry.profile.keep_ratios
        target = 1.0 if speedup is None else float(speedup)
        for entry in entries:
            if abs(entry.target_speedup - target) < 1e-9:
                return entry.name, entry.graph, entry.profile.keep_ratios
        if self.manifest.adjustable is None:
            shipped = ", ".join(f"{e.target_speedup:g}" for e in entries)
            raise PolicyError(f"bundle has no profile for speedup {target:g} (has {shipped}) and no adjustable graph; "
                              "ask for a shipped speedup or re-export with it")  # fmt: skip
        reference = entries[0].profile.reference_length if entries else 128
        try:
            tuned = profile_for_speedup(self.manifest.model.shape, target, reference, self.model_card.get("min_keep", 1))
        except ProfileError as exc:
            raise PolicyError(str(exc)) from exc
        return tuned.name, self.manifest.adjustable.graph, tuned.keep_ratios

    def generate(
        self,
        prompts: Prompts,
        speedup: float | None = None,
        profile: str | None = None,
        config: GenerationConfig | None = None,
        **options: Any,
    ) -> CausalGeneration:
        """Generate for each prompt; ``config`` or keyword options (max_new_tokens, do_sample, temperature, top_k,
        top_p, seed) say how. The eos token stops a row unless ``eos_token_id`` is passed explicitly."""
        if config is None:
            options.setdefault("eos_token_id", self.eos_token_id)
            options.setdefault("pad_token_id", self.pad_token_id)
            config = GenerationConfig(**options)
        elif options:
            raise DataError(f"pass either config or keyword options, not both ({sorted(options)})")
        batch = self.encode(prompts)
        limit = self.manifest.model.max_length
        if batch.input_ids.shape[1] + config.max_new_tokens > limit:
            raise DataError(f"prompt ({batch.input_ids.shape[1]} tokens) + max_new_tokens ({config.max_new_tokens}) "
                            f"exceeds the model's {limit} positions; shorten one of them")  # fmt: skip
        name, graph, ratios = self.resolve_profile(speedup, profile)
        step = OrtCausalStep(self._session(graph), self._session(self.decode_graph), self.num_layers, batch, ratios)
        out = generate(step, config)
        token_ids = out.token_lists()
        texts = [self.tokenizer.decode(ids, skip_special_tokens=True) for ids in token_ids]
        return CausalGeneration(
            texts=texts, token_ids=token_ids, profile=name, keep_ratios=tuple(ratios), ttft_ms=out.ttft_ms,
            decode_ms=out.decode_ms, tokens_per_s=out.tokens_per_s,
            prompt_lengths=batch.attention_mask.sum(axis=1).astype(int).tolist(), cache_lengths=step.prefill_lengths,
            finished=out.finished.tolist(),
        )  # fmt: skip

    def _session(self, graph: str) -> Any:
        with self._lock:
            if graph not in self._sessions:
                self._sessions[graph] = _ort_session(self.manifest, graph, self.device, self.threads)
            return self._sessions[graph]


def _ort_session(manifest: Manifest, graph: str, device: str, threads: int | None) -> Any:
    """A session built from the graph's verified bytes and external data (``acc.runtime.verified_graphs``)."""
    import onnxruntime as ort

    from .verified_graphs import read_graph

    path = manifest.path(graph)
    verified = read_graph(manifest, graph)

    provider = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}[device]
    if provider not in ort.get_available_providers():
        raise BundleError(f"onnxruntime here has no {provider}; pip install 'acc-deploy[gpu]' or use device='cpu'")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if verified.external:
        names = list(verified.external)
        buffers = [verified.external[name] for name in names]
        options.add_external_initializers_from_files_in_memory(names, buffers, [len(b) for b in buffers])
    try:
        return ort.InferenceSession(verified.model, options, providers=[provider])
    except Exception as exc:
        raise BundleError(f"cannot load graph {path} ({str(exc).splitlines()[0]}); re-export the bundle with acc-export") from exc


__all__ = ["CAUSAL_FAMILY", "DECODE_NAME", "CausalGeneration", "CausalRuntime"]
