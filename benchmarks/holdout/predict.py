"""Predict labels for an unlabelled SST-2 holdout TSV, one file per profile (labels are scored elsewhere).

Input: a TSV with header ``id<TAB>sentence``. Output, per profile: ``<out>/<name>_<profile>.tsv`` with header
``id<TAB>label`` (0 negative, 1 positive), rows in input order. Two sources:

- ``--bundle DIR``: the exported bundle through ``acc.runtime.Runtime`` (ONNX Runtime, what a deployment runs),
  every profile it ships (``--profiles`` to choose);
- ``--model NAME --speedups 1.5,3,4.8``: the PyTorch ACC model with offline-tuned profiles (as ``acc-eval``).

    python benchmarks/holdout/predict.py HOLDOUT.tsv --bundle bundles/bert-sst2
    python benchmarks/holdout/predict.py HOLDOUT.tsv --model ckpt/mpnet-sst2 --speedups 1.5,2,3,4,4.8 --name mpnet-sst2

The holdout file is not shipped; pass its path. Nothing here looks at labels: there are none in the input.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "holdout"
BATCH = 64


def read_holdout(path: Path) -> tuple[list[str], list[str]]:
    """Ids and sentences of ``path``; a header other than ``id<TAB>sentence`` or a short row is one clear error."""
    if not path.is_file():
        raise SystemExit(f"error: holdout file {path} not found; pass the path of the id<TAB>sentence TSV")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or rows[0][:2] != ["id", "sentence"]:
        raise SystemExit(f"error: {path} starts with {rows[0][:2] if rows else 'nothing'}, expected the header "
                         "'id<TAB>sentence'; pass the holdout TSV")  # fmt: skip
    for line_no, row in enumerate(rows[1:], start=2):
        if len(row) < 2 or not row[1].strip():
            raise SystemExit(f"error: {path}:{line_no} is not 'id<TAB>sentence' (got {row!r}); fix that line")
    return [row[0] for row in rows[1:]], [row[1] for row in rows[1:]]


def bundle_predictions(bundle: Path, sentences: list[str], profiles: Sequence[str] | None) -> dict[str, list[int]]:
    """Label ids per profile from the bundle's graphs on ONNX Runtime (CPU)."""
    from acc.runtime import Runtime

    runtime = Runtime.load(bundle)
    names = list(profiles) if profiles else runtime.manifest.profile_names
    out: dict[str, list[int]] = {}
    for name in names:
        speedup = runtime.manifest.profile(name).target_speedup
        labels: list[int] = []
        for start in range(0, len(sentences), BATCH):
            prediction = runtime.predict(sentences[start : start + BATCH], speedup=speedup)
            if prediction.profile != name:
                raise SystemExit(f"error: speedup {speedup:g} ran profile {prediction.profile}, not {name}; file a bug")
            labels += [int(i) for i in prediction.label_ids]
        out[name] = labels
    return out


def model_predictions(model: str, sentences: list[str], speedups: Sequence[float]) -> dict[str, list[int]]:
    """Label ids per offline-tuned profile (dense first) from the PyTorch ACC model."""
    import torch

    from acc.exporter.config import config_for
    from acc.exporter.pipeline import build_profiles
    from acc.modeling.checkpoint import load_model
    from acc.profiles import DEFAULT_REFERENCE_LENGTH

    loaded = load_model(model)
    # Cut where the runtime cuts (the model's position limit, the bundle's max_length), not at the training length,
    # so both sources see the same tokens.
    max_length = config_for(loaded.model.config).max_length
    out: dict[str, list[int]] = {}
    for profile in build_profiles(loaded.model.shape, tuple(speedups), DEFAULT_REFERENCE_LENGTH, loaded.model.min_keep):
        ratios = None if profile.name == "dense" else list(profile.keep_ratios)
        labels: list[int] = []
        for start in range(0, len(sentences), BATCH):
            batch = loaded.tokenizer(sentences[start : start + BATCH], padding="longest", truncation=True,
                                     max_length=max_length, return_tensors="pt")  # fmt: skip
            with torch.no_grad():
                logits = loaded.model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"),
                                      keep_ratios=ratios).logits  # fmt: skip
            labels += logits.argmax(-1).tolist()
        out[profile.name] = labels
    return out


def write_predictions(out_dir: Path, name: str, ids: list[str], labels: dict[str, list[int]]) -> dict[str, Path]:
    """One ``<name>_<profile>.tsv`` per profile; returns profile → path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for profile, values in labels.items():
        path = out_dir / f"{name}_{profile}.tsv"
        path.write_text("id\tlabel\n" + "".join(f"{i}\t{v}\n" for i, v in zip(ids, values, strict=True)))
        written[profile] = path
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("holdout", type=Path, help="TSV with header id<TAB>sentence")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--bundle", type=Path, help="exported bundle directory (runs its graphs on ONNX Runtime)")
    source.add_argument("--model", help="ACC checkpoint directory or alias (runs PyTorch)")
    parser.add_argument("--speedups", default="1.5,3,4.8", help="with --model: offline-tuned profiles beside dense")
    parser.add_argument("--profiles", help="with --bundle: comma-separated profile names (default: all)")
    parser.add_argument("--name", help="file name prefix (default: the bundle's or model's directory name)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)

    from acc.profiles import AccError, parse_speedups

    ids, sentences = read_holdout(args.holdout)
    try:
        if args.bundle is not None:
            profiles = args.profiles.split(",") if args.profiles else None
            labels = bundle_predictions(args.bundle, sentences, profiles)
        else:
            labels = model_predictions(args.model, sentences, parse_speedups(args.speedups))
    except AccError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    name = args.name or Path(str(args.bundle or args.model)).name
    for profile, path in write_predictions(args.out, name, ids, labels).items():
        print(f"{path}  ({len(ids)} rows, {sum(labels[profile])} predicted positive)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
