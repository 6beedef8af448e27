"""One GPU run for the causal LM: train the shipped small GPT-2, ACC-fine-tune it, measure its curves, time GPT-2-small.

    bash benchmarks/device/train_causal.sh              # on the H100 (device tool), writes to $OUT
    python benchmarks/device/train_causal.py --smoke --corpus .device/corpus --out /tmp/out   # CPU, < 60 s
    python benchmarks/device/train_causal.py --latency-only --out "$OUT"   # GPU timings only, no corpus, < 90 s

Steps: (1) pre-train a 6-layer, 176-wide GPT-2 (BPE 8192, 1024 positions) on the Debian-package corpus
(``acc.modeling.corpus``); (2) prompt-prefix perplexity per speedup on held-out text before ACC fine-tuning;
(3) ACC fine-tuning with prefill elimination (sandwich rule, ``acc.modeling.causal.train``); (4) the same curve
after it; (5) TTFT and decode tokens/s at GPT-2-small shapes (random init) for dense and 1.5/3/3.72x
(``causal_latency.py``; with ``--latency-only`` only this step, written to ``$OUT/causal-latency.{json,md}``). Writes ``$OUT/gpt2-mini.tar`` (fp16 checkpoint) and ``$OUT/causal-results.json``;
``benchmarks/causal/render_causal.py`` turns the JSON into ``benchmarks/results/causal-*``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # causal_latency.py beside this script

from causal_latency import check_fused, fused_status, measure

from acc.modeling.causal import AccGPT2LMHeadModel
from acc.modeling.causal.checkpoint import LoadedCausalLM, causal_acc_config, prepare_tokenizer, save_causal_checkpoint
from acc.modeling.causal.evaluate import heldout_windows, prompt_prefix_perplexity
from acc.modeling.causal.train import CausalTrainOptions, acc_finetune, pretrain
from acc.modeling.corpus import EOS_TOKEN, hf_tokenizer, load_token_corpus
from acc.profiles import max_speedup, profile_for_speedup

MODEL_NAME = "gpt2-mini"
CURVE_SPEEDUPS = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 3.5, 3.72, 4.0, 4.5, 5.0)
LATENCY_SPEEDUPS = (1.5, 3.0, 3.72)
SCHEMA_VERSION = 1


def model_config(vocab_size: int, eos_id: int, smoke: bool) -> Any:
    from transformers import GPT2Config

    size = (
        {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 256}
        if smoke
        else {"n_embd": 176, "n_layer": 6, "n_head": 4, "n_positions": 1024}
    )
    return GPT2Config(vocab_size=vocab_size, bos_token_id=eos_id, eos_token_id=eos_id, resid_pdrop=0.0, embd_pdrop=0.0,
                      attn_pdrop=0.0, **size)  # fmt: skip


def curve(
    model: AccGPT2LMHeadModel, windows: np.ndarray, prompt_len: int, device: str, log, smoke: bool = False
) -> list[dict[str, Any]]:
    """Prompt-prefix perplexity per speedup (profiles offline-tuned at the prompt length)."""
    rows = []
    ceiling = max_speedup(model.shape, prompt_len, model.min_keep) * 0.999
    for speedup in (1.0, 1.5) if smoke else CURVE_SPEEDUPS:
        if speedup >= ceiling:
            continue
        profile = profile_for_speedup(model.shape, speedup, reference_length=prompt_len, min_keep=model.min_keep)
        ratios = None if speedup == 1.0 else profile.keep_ratios
        result = prompt_prefix_perplexity(model, windows, prompt_len, ratios, batch_size=32, device=device)
        rows.append({"speedup": speedup, "theoretical_speedup": profile.theoretical_speedup, "keep_ratios": list(profile.keep_ratios),
                     "keep_counts": profile.keep_counts(prompt_len), "perplexity": result.perplexity, "nll": result.nll,
                     "tokens": result.tokens, "windows": result.windows})  # fmt: skip
        log(f"  speedup {speedup:g}: perplexity {result.perplexity:.2f}")
    return rows


def latency_config(smoke: bool) -> Any:
    """GPT-2-small shapes with a 2048-row position table: prompt 1024 + decode steps fit (GPT-2 has 1024 rows)."""
    from transformers import GPT2Config

    if smoke:
        return GPT2Config(n_layer=6, n_embd=64, n_head=4, n_positions=256, vocab_size=512)
    return GPT2Config(n_positions=2048)


def run_latency(device: str, smoke: bool, iters: int, log, on_prompt=None) -> dict[str, Any]:
    """TTFT/decode rows at GPT-2-small shapes; ``on_prompt(latency)`` after each prompt length (partial results)."""
    config = latency_config(smoke)
    dtype = torch.float32 if device == "cpu" else torch.float16
    latency = {
        "shapes": ("tiny smoke shapes" if smoke else "GPT-2-small (12 x 768, vocab 50257, n_positions 2048 so prompt "
                   "1024 + decode fits)") + ", random init, " + ("fp32 CPU" if device == "cpu" else "fp16"),
        "timing": "CUDA events, median" if device == "cuda" else "wall clock, median", "rows": [],
    }  # fmt: skip
    for prompt in (64,) if smoke else (512, 1024):
        latency["rows"] += measure(config, (prompt,), (1,) if smoke else (1, 8), LATENCY_SPEEDUPS, iters,
                                   2 if smoke else 32, device, dtype, log)  # fmt: skip
        if on_prompt is not None:
            on_prompt(latency)
    return latency


def latency_only(args: argparse.Namespace, device: str, log, wall: float) -> int:
    """Just the GPU timings (no corpus, no training): ``causal-latency.json`` + ``.md`` under ``--out``."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: render_causal's table
    from render_causal import latency_table

    versions = {
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "python": platform.python_version(),
    }
    device_name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu"
    head = {"schema_version": SCHEMA_VERSION, "created_utc": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
            "smoke": args.smoke, "device": device_name, "versions": versions}  # fmt: skip

    def write(latency: dict[str, Any]) -> None:
        data = {**head, "latency": latency, "wall_s": time.perf_counter() - wall}
        text = "\n".join([f"# GPT-2-small TTFT on {device_name}", "", *latency_table(latency), ""])
        for name, body in (("causal-latency.json", json.dumps(data, indent=2, default=float) + "\n"),
                           ("causal-latency.md", text)):  # fmt: skip
            tmp = args.out / f".{name}.tmp"
            tmp.write_text(body)
            tmp.replace(args.out / name)  # atomic: a timeout never leaves half a file

    if fused_status(device) is None:
        head["fused_check"] = check_fused(device, 40 if args.smoke else 300)
        log(f"fused vs eager prefill: {head['fused_check']}")
    latency = run_latency(device, args.smoke, 2 if args.smoke else args.latency_iters, log, write)
    log(f"done: {args.out / 'causal-latency.json'}")
    print("\n".join(latency_table(latency)), flush=True)
    return 0


def write_results(out: Path, results: dict[str, Any], wall: float) -> None:
    results["wall_s"] = time.perf_counter() - wall
    (out / "causal-results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path(".device/corpus"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny model and budgets: the same steps in < 60 s")
    parser.add_argument("--pretrain-seconds", type=float, default=150.0)
    parser.add_argument("--finetune-seconds", type=float, default=45.0)
    parser.add_argument("--eval-windows", type=int, default=256)
    parser.add_argument("--prompt-len", type=int, default=448, help="held-out prompt length P (continuation C = 64)")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--latency-only", action="store_true", help="skip corpus and training: only the GPU timings")
    parser.add_argument("--latency-iters", type=int, default=10, help="timed prefills per row with --latency-only")
    args = parser.parse_args(argv)
    wall = time.perf_counter()

    def log(text):
        return print(f"[{time.perf_counter() - wall:6.1f}s] {text}", flush=True)

    device = "cpu" if args.smoke or not torch.cuda.is_available() else "cuda"
    if device == "cpu" and not args.smoke:
        raise SystemExit("no CUDA device: run on the GPU machine, or pass --smoke for the CPU check")
    torch.manual_seed(0)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.latency_only:
        return latency_only(args, device, log, wall)

    corpus = load_token_corpus(args.corpus, ["train", "heldout"])
    train_ids, heldout_ids = corpus["train"], corpus["heldout"]
    if args.smoke:
        train_ids, heldout_ids = train_ids[:200_000], heldout_ids[:20_000]
    tokenizer = prepare_tokenizer(hf_tokenizer(corpus.tokenizer_path, eos_token=EOS_TOKEN, bos_token=EOS_TOKEN))
    config = model_config(len(tokenizer), tokenizer.eos_token_id, args.smoke)
    log(f"corpus: train {train_ids.size:,} tokens, held-out {heldout_ids.size:,}; device {device}")
    options = CausalTrainOptions(
        seq_len=64 if args.smoke else 512, batch_size=8 if args.smoke else 128, device=device,
        pretrain_seconds=args.pretrain_seconds, pretrain_max_steps=4 if args.smoke else 100_000,
        finetune_seconds=args.finetune_seconds, finetune_max_steps=3 if args.smoke else 100_000,
        finetune_batch_size=4 if args.smoke else 32, prompt_lens=(32, 48) if args.smoke else (128, 256, 384, 448),
        continuation_len=16 if args.smoke else 64, warmup_steps=2 if args.smoke else 100,
    )  # fmt: skip
    from transformers import GPT2LMHeadModel

    hf = GPT2LMHeadModel._from_config(config, attn_implementation="sdpa").to(device)
    params = sum(p.numel() for p in hf.parameters())
    log(
        f"model: {config.n_layer} layers x {config.n_embd}, {config.n_head} heads, vocab {config.vocab_size}, {params:,} parameters"
    )
    pre = pretrain(hf, train_ids, options, log)
    model = AccGPT2LMHeadModel(hf, attention="sdpa").eval()
    prompt_len = 48 if args.smoke else args.prompt_len
    windows = heldout_windows(heldout_ids, prompt_len, 16 if args.smoke else 64, 4 if args.smoke else args.eval_windows)
    log("curve before ACC fine-tuning")
    before = curve(model, windows, prompt_len, device, log, args.smoke)
    fine = acc_finetune(model, train_ids, options, log)
    log("curve after ACC fine-tuning")
    after = curve(model, windows, prompt_len, device, log, args.smoke)

    versions = {
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "python": platform.python_version(),
    }
    device_name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu"
    training = {
        "data": "Debian-package corpus: " + ", ".join(s["name"] for s in corpus.meta.get("sources", [])),
        "corpus": {k: corpus.meta.get(k) for k in ("sources", "splits", "words", "vocab_size", "heldout_documents")},
        "options": options.to_dict(), "phases": [pre.to_dict(), fine.to_dict()], "parameters": params,
        "perplexity": {"definition": "prompt-prefix perplexity, docs/causal.md", "prompt_len": prompt_len,
                       "continuation_len": windows.shape[1] - prompt_len, "before_acc": before, "after_acc": after},
        "device_name": device_name, "versions": versions, "recipe": "benchmarks/device/train_causal.sh",
        "stored_dtype": "float16",
    }  # fmt: skip
    dense_ppl = after[0]["perplexity"]
    card = (f"{config.n_layer}-layer, {config.n_embd}-wide GPT-2 ({params / 1e6:.1f}M parameters) trained here from scratch on "
            f"{train_ids.size / 1e6:.1f}M tokens of Debian-package English (KJV, Python/Perl manuals, GCIDE), "
            f"ACC-fine-tuned; held-out perplexity {dense_ppl:.1f} (P={prompt_len})")  # fmt: skip
    loaded = LoadedCausalLM(
        model, tokenizer, causal_acc_config(max_length=config.n_positions, training=training), device
    )
    hf.to("cpu")
    checkpoint = save_causal_checkpoint(loaded, Path("/tmp") / MODEL_NAME, fp16=True, extra={"card": card})
    with tarfile.open(args.out / f"{MODEL_NAME}.tar", "w") as tar:
        tar.add(checkpoint, arcname=MODEL_NAME)
    log(f"checkpoint {MODEL_NAME}.tar written ({(args.out / f'{MODEL_NAME}.tar').stat().st_size / 2**20:.1f} MiB)")

    results = {
        "schema_version": SCHEMA_VERSION, "created_utc": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        "smoke": args.smoke, "device": device_name, "versions": versions, "model": MODEL_NAME, "card": card,
        "config": config.to_dict(), "training": training, "latency": None,
    }  # fmt: skip
    write_results(args.out, results, wall)  # written now too, so a timeout in the latency part loses nothing else
    if not args.skip_latency:

        def partial(latency: dict[str, Any]) -> None:
            results["latency"] = latency
            write_results(args.out, results, wall)

        run_latency(device, args.smoke, 2 if args.smoke else 20, log, partial)
    log(f"done: {args.out / 'causal-results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
