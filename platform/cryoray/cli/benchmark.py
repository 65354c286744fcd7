"""Benchmark models on a test manifest: predict, then evaluate every map and built model as the field does.

The manifest is the ingest one (CSV or JSON lines: entry_id,map,model,resolution, optional
sequence, half_map_1, half_map_2). The models are run over it with batch inference (their
regression maps, and a model for entries with a sequence when they build models) into
OUTPUT/predictions; then every entry is evaluated on Ray: the deposited map, each --baseline
(no-network yardsticks: lowpass = the deposited map low-passed at its resolution; peaks = a
model built from the map's density peaks, for entries with a sequence), each predicted map
(map–model FSC, CC_box/mask/volume/peaks, Q-score against the deposited model; the half-map FSC
for the deposited map), and the built model against the deposited one (Cα recall/precision/F1,
residue coverage, sequence match and recall, TM-score). Writes OUTPUT/results.csv (a row per
entry × kind), summary.md (means per kind), paired_*.png, failures.json and benchmark.json;
with --tracking-uri, an MLflow run. Failing entries are listed and the others complete.

Example usage:
  $ cryoray benchmark test.csv --model runs/enhance/checkpoint_000009 -o bench/ --baseline lowpass
  $ cryoray benchmark test.csv --model c2s-atoms/2 --model c2s-amino/1 -o s3://bucket/bench \\
      --tracking-uri sqlite:///mlflow.db
"""

from __future__ import annotations

import argparse

from cryoray.cli.options import add_ray_args
from cryoray.cli.output import add_json_flag, emit


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", help="test manifest (CSV or JSON lines), path or URL")
    parser.add_argument("-o", "--output", required=True, help="output prefix: folder or s3:// URL")
    parser.add_argument(
        "--model", action="append", help="model reference (checkpoint dir or NAME[/VERSION]); repeat for two models"
    )
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        choices=["lowpass", "peaks"],
        help="a no-network yardstick to evaluate too: lowpass (a map), peaks (a model built from density peaks)",
    )
    parser.add_argument("--config", help="YAML batch config (models, infer, build, actors), as predict-batch takes")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="change one setting, e.g. infer.batch_size=64"
    )
    parser.add_argument("--tracking-uri", help="log the results as one MLflow run there")
    parser.add_argument("--experiment", default="benchmark", help="MLflow experiment (default: %(default)s)")
    add_ray_args(parser)
    add_json_flag(parser)


def main(args: argparse.Namespace) -> None:
    import yaml

    from cryoray.benchmark import run_benchmark
    from cryoray.config import load_config_with_sets
    from cryoray.infer.batch_config import BatchInferConfig

    sets = list(args.set)
    if args.model:
        sets.append("models=" + yaml.safe_dump(list(args.model), default_flow_style=True).strip())
    config = load_config_with_sets(BatchInferConfig, args.config, sets)
    report = run_benchmark(
        args.manifest,
        args.output,
        config,
        baselines=args.baseline,
        address=args.address,
        num_cpus=args.num_cpus,
        tracking_uri=args.tracking_uri,
        experiment=args.experiment,
        progress=not args.quiet,
    )
    if not args.json:
        report = {k: v for k, v in report.items() if k not in ("failed", "means")} | {
            "failed": [f["entry_id"] for f in report["failed"]]
        }
    emit(args, report)
