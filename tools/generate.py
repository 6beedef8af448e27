"""``acc-generate``: generate text from a causal-LM or T5 bundle (ONNX Runtime), reporting TTFT and decode speed."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from acc.profiles import AccError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", help="bundle directory written by acc-export for a causal LM or a T5 model")
    parser.add_argument("--prompt", "-p", action="append", required=True, help="prompt text (repeat for a batch)")
    parser.add_argument("--speedup", type=float, default=None, help="prefill speedup (1 = dense; default dense)")
    parser.add_argument("--profile", default=None, help="a shipped profile by name (dense, s1.5, ...)")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--sample", dest="do_sample", action="store_true", help="sample instead of greedy decoding")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=0, help="keep the k most likely tokens (0 = off)")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1 = off)")
    parser.add_argument("--seed", type=int, default=None, help="sampling seed (same seed, same text)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    parser.add_argument("--template", default=None,
                        help="T5 bundles: wrap each prompt in this shipped prompt template (e.g. review-question)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def bundle_family(bundle: str) -> str | None:
    """The model family a bundle's manifest records (None when unreadable: the runtime's loader then says why)."""
    from pathlib import Path

    try:
        return json.loads((Path(bundle) / "manifest.json").read_text(encoding="utf-8"))["model"].get("family")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


CAUSAL_JSON = ("texts", "token_ids", "profile", "ttft_ms", "decode_ms", "tokens_per_s", "prompt_lengths",
               "cache_lengths", "finished")  # fmt: skip
SEQ2SEQ_JSON = ("texts", "token_ids", "profile", "reason", "encode_ms", "ttft_ms", "decode_ms", "total_ms", "kept_tokens")


def causal_json(out: Any) -> dict[str, Any]:
    return {name: getattr(out, name) for name in CAUSAL_JSON} | {"keep_ratios": list(out.keep_ratios)}


def seq2seq_json(out: Any) -> dict[str, Any]:
    return {name: getattr(out, name) for name in SEQ2SEQ_JSON}


def causal_summary(out: Any) -> str:
    per_layer = ", ".join(str(max(lengths)) for lengths in out.cache_lengths)
    return (f"profile {out.profile}: TTFT {out.ttft_ms:.1f} ms, decode {out.tokens_per_s:.1f} tokens/s, "
            f"KV cache per layer after prefill (longest row) {per_layer}")  # fmt: skip


def seq2seq_summary(out: Any) -> str:
    return f"profile {out.profile}: encoder {out.encode_ms:.1f} ms, TTFT {out.ttft_ms:.1f} ms, total {out.total_ms:.1f} ms"


def run(args: argparse.Namespace) -> int:
    """Load the bundle's runtime by its family (T5: profile by ``--speedup`` and ``--template``; causal: ``--profile``)."""
    from acc.runtime.seq2seq import SEQ2SEQ_FAMILY

    if bundle_family(args.bundle) == SEQ2SEQ_FAMILY:
        from acc.runtime.seq2seq import Seq2SeqRuntime as runtime_class

        if args.profile is not None:
            print("error: --profile applies to causal bundles; use --speedup for a T5 bundle", file=sys.stderr)
            return 2
        family_kwargs, to_json, summary = {"template": args.template}, seq2seq_json, seq2seq_summary
    else:
        from acc.runtime.causal import CausalRuntime as runtime_class

        if args.template is not None:
            print("error: --template applies to T5 (seq2seq) bundles only; drop it for a causal LM", file=sys.stderr)
            return 2
        family_kwargs, to_json, summary = {"profile": args.profile}, causal_json, causal_summary
    try:
        runtime = runtime_class.load(args.bundle, device=args.device, threads=args.threads)
        out = runtime.generate(
            args.prompt, speedup=args.speedup, max_new_tokens=args.max_new_tokens, do_sample=args.do_sample,
            temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed, **family_kwargs,
        )  # fmt: skip
    except AccError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(to_json(out)))
        return 0
    for prompt, text in zip(args.prompt, out.texts):
        print(f"{prompt}\u2192{text}")
    print(summary(out), file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="acc-generate", description=__doc__.splitlines()[0].split(": ", 1)[1])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
