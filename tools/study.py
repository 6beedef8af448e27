"""``acc-study``: the accuracy–speedup study (issue #8), one stage per subcommand, and ``render`` to merge the parts.

    acc-study dense --out OUT                    # dense fine-tuning + post-hoc ACC curve
    acc-study power-bert --out OUT --power-speedup 3
    acc-study lat --out OUT                      # LengthDrop training + evolutionary search
    acc-study acc --out OUT                      # shipped bert-sst2: offline-tuning curve + per-layer search
    acc-study render OUT/study-*.json --output-dir benchmarks/results
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acc.profiles import AccError

_STAGES = {
    "dense": "dense fine-tuning (the shared budget), then the post-hoc ACC curve on the dense model",
    "power-bert": "PoWER-BERT at one target speedup, from the dense stage's model",
    "lat": "Length-Adaptive Transformer: LengthDrop training, then an evolutionary search per budget",
    "acc": "the shipped ACC model: offline-tuning curve and per-layer search (FLOPs; latency with --latency-bundle)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from acc.modeling.baselines.study_options import StudyOptions

    commands = parser.add_subparsers(dest="stage", required=True, metavar="{dense,power-bert,lat,acc,render}")
    for name, text in _STAGES.items():
        StudyOptions.add_arguments(commands.add_parser(name, help=text, description=text))
    render = commands.add_parser("render", help="merge study parts into accuracy-<name>_<UTC>.json/.md/.png")
    render.add_argument("parts", nargs="+", help="study-*.json files written by the stages")
    render.add_argument("--output-dir", default="benchmarks/results", help="where the report goes (default benchmarks/results)")
    render.add_argument("--name", default="sst2", help="report name: accuracy-<name>_<UTC>.* (default sst2)")


def run(args: argparse.Namespace) -> int:
    try:
        if args.stage == "render":
            from acc.modeling.baselines.study_report import merge_parts, write_report

            files = write_report(merge_parts(args.parts), args.output_dir, args.name)
            print(f"wrote {files.json}, {files.markdown.name} and {files.png.name}")
            return 0
        from acc.modeling.baselines import study
        from acc.modeling.baselines.study_options import StudyOptions

        options = StudyOptions.from_args(args)
        if args.stage == "dense":
            path = study.run_dense(options)
        elif args.stage == "power-bert":
            path = study.run_power_bert(options)
        elif args.stage == "lat":
            path = study.run_lat(options)
        else:
            path = study.run_acc(options, _latency_cost(options))
    except AccError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


def _latency_cost(options):  # noqa: ANN001, ANN202 - StudyOptions -> LatencyCost | None
    """The bundle's latency table as a search cost; reading the manifest is the runtime's job, not modeling's."""
    if options.latency_bundle is None:
        return None
    from acc.profiles.search import LatencyCost
    from acc.runtime import read_manifest

    manifest = read_manifest(options.latency_bundle, verify=False)
    return LatencyCost.from_manifest(manifest, batch=options.latency_batch, seq=options.latency_seq)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="acc-study", description="Accuracy vs speedup: ACC against its baselines.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
