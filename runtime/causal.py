"""``CausalRuntime``: generate text from a causal-LM bundle on ONNX Runtime, with a speedup chosen per request.

Per request: tokenize and left-pad the prompts, pick the prefill graph of the requested profile (a shipped one, or
the adjustable graph with offline-tuned ratios), run the shared decoding loop (``acc.runtime.generate``): the prefill
graph once, then the decode graph per token over the per-layer pruned caches. Reports time-to-first-token and
decode tokens/s. Imports neither torch nor transformers (the tokenizer is read with ``tokenizers``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acc.profiles import BundleError, DataError

from .adhoc import AdhocProfiles
from .bundle_format import Manifest
from .causal_names import DECODE_NAME
from .causal_step import OrtCausalStep, PromptBatch, left_pad
from .generate import GenerationConfig, generate
from .manifest import read_manifest
from .ort_session import create_session
from .policy import choose_profile
from .verified_graphs import read_graph

if TYPE_CHECKING:
    from tokenizers import Tokenizer

CAUSAL_FAMILY = "causal-lm"
Prompts = str | Sequence[str] | Sequence[Sequence[int]]


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

    def __init__(self, manifest: Manifest, tokenizer: Tokenizer, device: str = "cpu",
                 threads: int | None = None) -> None:  # fmt: skip
        self.manifest = manifest
        self.decode_graph = str(manifest.sections["decode"]["graph"])
        self.tokenizer = tokenizer
        self.device = device
        self.threads = threads
        self.eos_token_id = manifest.model.extra.get("eos_token_id")
        self.pad_token_id = manifest.model.extra.get("pad_token_id")
        if self.pad_token_id is None:
            self.pad_token_id = self.eos_token_id if self.eos_token_id is not None else 0
        self.adhoc = AdhocProfiles(manifest, min_keep=manifest.model.min_keep or 1)
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls, bundle_dir: str | Path, device: str = "cpu", threads: int | None = None, verify: bool = True
    ) -> CausalRuntime:
        """Read and verify the bundle (sha256 of every file with ``verify``); fails with one line if it is not causal."""
        from tokenizers import Tokenizer

        manifest = read_manifest(bundle_dir, verify=verify)
        family = manifest.model.family
        if family != CAUSAL_FAMILY:
            kind = family or "encoder-classifier"
            kind = ("an " if kind[0] in "aeiou" else "a ") + kind
            raise BundleError(f"bundle {bundle_dir} holds {kind} model, not a causal LM; load it with "
                              "acc.runtime.Runtime")  # fmt: skip
        decode_section = manifest.sections.get("decode")
        decode = decode_section.get("graph") if isinstance(decode_section, dict) else None
        if not decode or decode not in manifest.files:
            raise BundleError(f"bundle {bundle_dir} has no listed decode graph; re-export the bundle with acc-export")
        if device not in ("cpu", "cuda"):
            raise DataError(f"device must be cpu or cuda, got {device!r}")
        tokenizer = Tokenizer.from_str(manifest.read_file(f"{manifest.tokenizer}/tokenizer.json").decode("utf-8"))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return cls(manifest, tokenizer, device, threads)

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

    def resolve_profile(
        self, speedup: float | None = None, profile: str | None = None
    ) -> tuple[str, str, tuple[float, ...]]:
        """(name, graph, keep ratios): a shipped profile by name, else the runtime's profile policy for ``speedup``
        (``choose_profile``: a shipped profile, else the adjustable graph tuned to it; none: the dense profile)."""
        if profile is not None:
            entry = self.manifest.profile(profile)
            return entry.name, entry.graph, entry.profile.keep_ratios
        choice = choose_profile(self.manifest, speedup=speedup)
        if not choice.adjustable:
            entry = self.manifest.profile(choice.profile)
            return entry.name, entry.graph, entry.profile.keep_ratios
        adjustable = self.adhoc.graph_for(choice, {}).relative_to(self.manifest.bundle_dir).as_posix()
        return choice.profile, adjustable, self.adhoc.get(choice.speedup).keep_ratios

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
        """The graph's session, built once from its verified bytes and external data (``verified_graphs``)."""
        with self._lock:
            if graph not in self._sessions:
                verified = read_graph(self.manifest, graph)
                self._sessions[graph] = create_session(
                    verified.model,
                    device=self.device,
                    threads=self.threads,
                    external=verified.external,
                    name=self.manifest.path(graph),
                )
            return self._sessions[graph]


__all__ = ["CAUSAL_FAMILY", "DECODE_NAME", "CausalGeneration", "CausalRuntime"]
