"""The accuracy–speedup study (issue #8), one stage per subcommand, and ``render`` to merge the parts.

A research recipe, not part of the installed package: run it from a checkout with ``benchmarks/study/run.sh`` (or
``PYTHONPATH=benchmarks/study python -m acc_study``).

    run.sh dense -o OUT                    # dense fine-tuning + post-hoc ACC curve
    run.sh power-bert -o OUT --power-speedup 3
    run.sh lat -o OUT                      # LengthDrop training + evolutionary search
    run.sh acc -o OUT                      # shipped bert-sst2: offline-tuning curve + per-layer search
    run.sh render OUT/study-*.json -o benchmarks/results
    run.sh rerender benchmarks/results/accuracy-sst2_20261125T145121Z.json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acc.profiles import AccError
from acc.tools import cli
from acc.tools.export_extra import needs_export_extra

EXAMPLES = tuple(line.strip() for line in __doc__.splitlines() if line.startswith("    run.sh"))
RENAMED = {"--out": "--output", "--output-dir": "--output", "--no-progress": "--quiet"}
_STAGES = {
    "dense": "dense fine-tuning (the shared budget), then the post-hoc ACC curve on the dense model",
    "power-bert": "PoWER-BERT at one target speedup, from the dense stage's model",
    "lat": "Length-Adaptive Transformer: LengthDrop training, then an evolutionary search per budget",
    "acc": "the shipped ACC model: offline-tuning curve and per-layer search (FLOPs; latency with --latency-bundle)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .options import StudyOptions

    commands = parser.add_subparsers(dest="stage", required=True, metavar="{dense,power-bert,lat,acc,render,rerender}")
    for name, text in _STAGES.items():
        examples = [line for line in EXAMPLES if line.startswith(f"run.sh {name} ")]
        StudyOptions.add_arguments(cli.add_subcommand(commands, name, text, examples))
    render = cli.add_subcommand(commands, "render", "merge study parts into accuracy-<name>_<UTC>.json/.md/.png",
                                [line for line in EXAMPLES if line.startswith("run.sh render ")])  # fmt: skip
    render.add_argument("parts", nargs="+", help="study-*.json files written by the stages")
    cli.add_output(render, "folder the report goes to", default="benchmarks/results", metavar="DIR")
    render.add_argument("--name", default="sst2", help="report name: accuracy-<name>_<UTC>.*")
    rerender = cli.add_subcommand(commands, "rerender", "regenerate <stem>.md and <stem>.png from a report's <stem>.json",
                                  [line for line in EXAMPLES if line.startswith("run.sh rerender ")])  # fmt: skip
    rerender.add_argument("reports", nargs="+", help="accuracy-*.json report(s) written by render")


def run(args: argparse.Namespace) -> int:
    try:
        if args.stage == "render":
            from .report import merge_parts, write_report

            files = write_report(merge_parts(args.parts), args.output, args.name)
            print(f"wrote {files.json}, {files.markdown.name} and {files.png.name}")
            return 0
        if args.stage == "rerender":
            from .report import render_files

            for report in args.reports:
                files = render_files(report)
                print(f"wrote {files.markdown} and {files.png}")
            return 0
        from . import stages
        from .options import StudyOptions

        options = StudyOptions.from_args(args)
        if args.stage == "dense":
            path = stages.run_dense(options)
        elif args.stage == "power-bert":
            path = stages.run_power_bert(options)
        elif args.stage == "lat":
            path = stages.run_lat(options)
        else:
            path = stages.run_acc(options, _latency_cost(options))
    except AccError as exc:
        return cli.fail(exc)
    print(path)
    return 0


def _latency_cost(options):
    """The bundle's latency table as a search cost; reading the manifest is the runtime's job, not modeling's."""
    if options.latency_bundle is None:
        return None
    from acc.profiles.search import LatencyCost
    from acc.runtime import read_manifest

    manifest = read_manifest(options.latency_bundle, verify=False)
    return LatencyCost.from_manifest(manifest, batch=options.latency_batch, seq=options.latency_seq)


def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser("run.sh", "Accuracy vs speedup: ACC against its baselines, one stage per subcommand.",
                             EXAMPLES)  # fmt: skip
    add_arguments(parser)
    return parser


@needs_export_extra("acc-study")
def main(argv: Sequence[str] | None = None) -> int:
    return run(cli.parse_args(build_parser(), argv, RENAMED))


if __name__ == "__main__":
    sys.exit(main())
