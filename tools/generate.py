"""``acc-generate``: generate text from a causal-LM or T5 bundle (ONNX Runtime), reporting TTFT and decode speed.

Text goes to stdout as Hugging Face's text-generation pipeline returns it: a causal LM's prompt followed by its
continuation, a T5 model's answer alone; ``--json`` keeps prompts and generated texts apart. Timings go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from acc.profiles import AccError

from . import cli

EXAMPLES = (
    'acc-generate bundles/gpt2-mini -p "In the beginning" --speedup 3',
    'acc-generate bundles/gpt2-mini -p "The meaning of" --sample --top-p 0.9 --seed 1 --json',
    'acc-generate bundles/t5-sst2 -p "a gorgeous, witty movie ." --template review-question --speedup 3',
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_bundle(parser, help="bundle directory written by acc-export for a causal LM or a T5 model")
    parser.add_argument("--prompt", "-p", action="append", required=True, help="prompt text (repeat for a batch)")
    parser.add_argument("--speedup", type=float, default=None, help="prefill speedup (1 = dense; default dense)")
    parser.add_argument("--profile", default=None, help="a shipped profile by name (dense, s1.5, ...)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens generated per prompt at most")
    parser.add_argument("--sample", dest="do_sample", action="store_true", help="sample instead of greedy decoding")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    parser.add_argument("--top-k", type=int, default=0, help="keep the k most likely tokens (0 = off)")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1 = off)")
    parser.add_argument("--seed", type=int, default=None, help="sampling seed (same seed, same text)")
    cli.add_device(parser, "auto: CUDA when onnxruntime-gpu sees a GPU, else CPU")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    parser.add_argument(
        "--template",
        default=None,
        help="T5 bundles: wrap each prompt in this shipped prompt template (e.g. review-question)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (prompts, generated texts, token ids, timings) instead of text",
    )
    cli.add_quiet(parser, help="no timing line on stderr")


def bundle_family(bundle: str) -> str | None:
    """The model family a bundle's manifest records (None when unreadable: the runtime's loader then says why)."""
    from acc.profiles import AccError
    from acc.runtime.manifest import read_manifest

    try:
        return read_manifest(bundle, verify=False).model.family
    except AccError:
        return None


CAUSAL_JSON = ("texts", "token_ids", "profile", "ttft_ms", "decode_ms", "tokens_per_s", "prompt_lengths",
               "cache_lengths", "finished")  # fmt: skip
SEQ2SEQ_JSON = (
    "texts",
    "token_ids",
    "profile",
    "reason",
    "encode_ms",
    "ttft_ms",
    "decode_ms",
    "total_ms",
    "kept_tokens",
)


def causal_json(out: Any) -> dict[str, Any]:
    return {name: getattr(out, name) for name in CAUSAL_JSON} | {"keep_ratios": list(out.keep_ratios)}


def seq2seq_json(out: Any) -> dict[str, Any]:
    return {name: getattr(out, name) for name in SEQ2SEQ_JSON}


def causal_text(prompt: str, generated: str) -> str:
    """What a reader sees: the prompt continued (Hugging Face text-generation's ``generated_text``)."""
    return prompt + generated


def seq2seq_text(prompt: str, generated: str) -> str:
    """A T5 answer stands alone (Hugging Face text2text-generation): the prompt is the question, not its start."""
    return generated


def causal_summary(out: Any) -> str:
    per_layer = ", ".join(str(max(lengths)) for lengths in out.cache_lengths)
    return (f"profile {out.profile}: TTFT {out.ttft_ms:.1f} ms, decode {out.tokens_per_s:.1f} tokens/s, "
            f"KV cache per layer after prefill (longest row) {per_layer}")  # fmt: skip


def seq2seq_summary(out: Any) -> str:
    return (
        f"profile {out.profile}: encoder {out.encode_ms:.1f} ms, TTFT {out.ttft_ms:.1f} ms, total {out.total_ms:.1f} ms"
    )


def run(args: argparse.Namespace) -> int:
    """Load the bundle's runtime by its family (T5: profile by ``--speedup`` and ``--template``; causal: ``--profile``)."""
    from acc.runtime.seq2seq import SEQ2SEQ_FAMILY

    if bundle_family(args.bundle) == SEQ2SEQ_FAMILY:
        from acc.runtime.seq2seq import Seq2SeqRuntime as runtime_class

        if args.profile is not None:
            print("error: --profile applies to causal bundles; use --speedup for a T5 bundle", file=sys.stderr)
            return 2
        family_kwargs, to_json, summary, to_text = (
            {"template": args.template},
            seq2seq_json,
            seq2seq_summary,
            seq2seq_text,
        )
    else:
        from acc.runtime.causal import CausalRuntime as runtime_class

        if args.template is not None:
            print("error: --template applies to T5 (seq2seq) bundles only; drop it for a causal LM", file=sys.stderr)
            return 2
        family_kwargs, to_json, summary, to_text = {"profile": args.profile}, causal_json, causal_summary, causal_text
    try:
        from acc.runtime.session import resolve_device

        device = resolve_device(cli.select_gpu(args.device))
        runtime = runtime_class.load(str(args.bundle), device=device, threads=args.threads)
        out = runtime.generate(
            args.prompt, speedup=args.speedup, max_new_tokens=args.max_new_tokens, do_sample=args.do_sample,
            temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed, **family_kwargs,
        )  # fmt: skip
    except (AccError, argparse.ArgumentTypeError) as exc:
        return cli.fail(exc)
    if args.json:
        print(json.dumps({"prompts": list(args.prompt)} | to_json(out)))
        return 0
    for prompt, text in zip(args.prompt, out.texts):
        print(to_text(prompt, text))
    if not args.quiet:
        print(summary(out), file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser("acc-generate", __doc__.splitlines()[0].split(": ", 1)[1], EXAMPLES)
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(cli.parse_args(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
