"""Generate text from an encoder–decoder (T5) bundle: encoder graph of the chosen profile, then decoder steps.

A seq2seq bundle (``acc.exporter.seq2seq``) lists one *encoder* graph per profile under ``profiles`` (so the
manifest reader, hashes and the profile policy work unchanged) and one decoder-step graph under
``seq2seq.decoder``. Per request: tokenise, pick the profile (``choose_profile``), run the encoder once, then the
shared decoding loop (``acc.runtime.generate``) calls the decoder graph with its growing self-attention cache.
Only the encoder depends on the profile; the decoder reads whatever the encoder kept, with its mask.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from acc.profiles import BundleError, DataError, EncoderShape

from .adhoc import AdhocProfiles
from .bundle_format import Manifest
from .generate import Generation, GenerationConfig, generate
from .inputs import TextEncoder
from .integrity import MANIFEST_NAME, REEXPORT
from .manifest import read_manifest
from .policy import choose_profile
from .seq2seq_step import DecoderSpec, GraphSeq2SeqStep
from .session import SessionCache, ort_factory, resolve_device

SEQ2SEQ_FAMILY = "seq2seq"


@dataclass(frozen=True, eq=False)
class Seq2SeqResult:
    """Generated texts (special tokens removed), their token ids, the profile and where the time went (ms)."""

    texts: list[str]
    token_ids: list[list[int]]
    profile: str
    reason: str
    encode_ms: float  # the encoder graph (the part elimination speeds up)
    ttft_ms: float  # encoder + first decoder step + choosing the first token
    decode_ms: float  # every later decoder step
    total_ms: float
    kept_tokens: list[int] = field(default_factory=list)  # per row: encoder vectors the decoder attended to
    generation: Generation | None = None


class Seq2SeqRuntime:
    """A loaded seq2seq bundle. ``generate`` is thread-safe (sessions are shared, decoding state is per call)."""

    def __init__(self, manifest: Manifest, sessions: SessionCache, backend: str) -> None:
        where = str(manifest.bundle_dir / MANIFEST_NAME)
        section = manifest.sections.get("seq2seq")
        family = manifest.model.family
        if family != SEQ2SEQ_FAMILY or not isinstance(section, Mapping):
            raise BundleError(f"{manifest.bundle_dir} is not a seq2seq bundle (family {family!r}); "
                              "load it with acc.runtime.Runtime, or export a T5 checkpoint")  # fmt: skip
        self.manifest = manifest
        try:
            self.decoder = DecoderSpec.from_dict(section.get("decoder") or {})
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{where} seq2seq.decoder is incomplete ({exc}); {REEXPORT}") from exc
        if self.decoder.graph not in manifest.files:
            raise BundleError(f"decoder graph {self.decoder.graph} is not listed in {where} files; {REEXPORT}")
        self.prompts: dict[str, Any] = dict(section.get("prompts") or {})
        try:  # T5's FLOPs view (attention width, gated FFN), for ad-hoc profiles on the adjustable graph
            self.encoder_shape = (
                EncoderShape(**section["encoder_shape"]) if "encoder_shape" in section else manifest.model.shape
            )
        except TypeError as exc:
            raise BundleError(f"{where} seq2seq.encoder_shape is malformed ({exc}); {REEXPORT}") from exc
        self.backend = backend
        self.encoder = TextEncoder.from_manifest(manifest)
        self._sessions = sessions
        self._detokenizer = _load_detokenizer(manifest)
        self.adhoc = AdhocProfiles(manifest, self.encoder_shape)

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str = "auto", verify: bool = True,
             threads: int | None = None) -> Seq2SeqRuntime:  # fmt: skip
        """Read and verify the bundle (sha256 of every file, the decoder graph included); sessions load lazily."""
        manifest = read_manifest(path, verify=verify)
        resolved = resolve_device(device)
        return cls(manifest, SessionCache(ort_factory(resolved, threads=threads, manifest=manifest)), f"ort-{resolved}")

    def template(self, name: str) -> str:
        """A prompt template shipped in the bundle (trained or held-out) by name."""
        known = {**dict(self.prompts.get("train") or {}), **dict(self.prompts.get("held_out") or {})}
        if name not in known:
            raise DataError(f"bundle has no prompt template {name!r}; choose from {sorted(known)}")
        return str(known[name])

    def generate(
        self,
        texts: str | Sequence[str],
        *,
        template: str | None = None,
        speedup: float | None = None,
        min_accuracy: float | None = None,
        config: GenerationConfig | None = None,
        **config_kwargs: Any,
    ) -> Seq2SeqResult:
        """Generate one answer per text. ``template``: wrap each text in a shipped prompt template first.

        ``speedup`` / ``min_accuracy`` pick the encoder profile as for classification (``choose_profile``);
        ``config`` or keywords (``max_new_tokens=``, ``do_sample=``, ``temperature=``, ``top_k=``, ``top_p=``,
        ``seed=``) set the decoding; eos and pad default to the bundle's.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        if template is not None:
            pattern = self.template(template)
            texts = [pattern.replace("{text}", text.strip()) for text in texts]
        batch = self.encoder.encode(texts)
        choice = choose_profile(self.manifest, speedup=speedup, min_accuracy=min_accuracy,
                                batch=batch.size, seq_len=batch.seq_len, backend=self.backend)  # fmt: skip
        feeds = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        graph = self.adhoc.graph_for(choice, feeds)
        encoder = self._sessions.get(graph)
        decoder = self._sessions.get(self.manifest.path(self.decoder.graph))
        defaults = {"eos_token_id": self.decoder.eos_token_id, "pad_token_id": self.decoder.pad_token_id}
        config = config or GenerationConfig(**{**defaults, **config_kwargs})
        step = GraphSeq2SeqStep(encoder.infer, decoder.infer, self.decoder, feeds)
        start = time.perf_counter()
        generation = generate(step, config)
        total_ms = (time.perf_counter() - start) * 1e3
        token_ids = generation.token_lists()
        return Seq2SeqResult(
            texts=self._detokenizer.decode_batch(token_ids, skip_special_tokens=True),
            token_ids=token_ids,
            profile=choice.profile,
            reason=choice.reason,
            encode_ms=step.encode_ms,
            ttft_ms=generation.ttft_ms,
            decode_ms=generation.decode_ms,
            total_ms=total_ms,
            kept_tokens=[int(n) for n in step.encoder_outputs["encoder_mask"].sum(axis=1)],
            generation=generation,
        )

    def close(self) -> None:
        self._sessions.clear()


def _load_detokenizer(manifest: Manifest) -> Any:
    from tokenizers import Tokenizer

    path = manifest.path(manifest.tokenizer) / "tokenizer.json"
    try:
        return Tokenizer.from_str(manifest.read_file(f"{manifest.tokenizer}/tokenizer.json").decode("utf-8"))
    except Exception as exc:  # tokenizers raises plain Exception for a malformed file
        raise BundleError(f"cannot load tokenizer {path} ({exc}); {REEXPORT}") from exc
