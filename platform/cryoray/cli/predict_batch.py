"""Predict a manifest of maps on Ray: enhanced or probability maps on each input's grid, and models.

Entries with a sequence also get a model.

The manifest is CSV with a header (entry_id,map[,sequence]; the ingest columns model and
resolution are accepted and ignored; JSON lines also work); sources are paths, s3:// or
http(s):// URLs. Each entry gets OUTPUT/ENTRY/NAME.mrc per output channel, model.cif when it
has a sequence and the models have atom and amino-acid heads, and summary.json, written last.
Re-running skips entries with a summary.json and retries failed ones. Failing entries are listed
with their reasons in OUTPUT/failures.json and the run completes. Exit 0 when every failure is
its entry's input's fault (missing or corrupt map, bad sequence), 1 when some entry failed for
another reason (an output that cannot be written, a crash), 2 with --strict when any entry
failed; a bad config, manifest or model reference exits 2 before any work. Progress (entries
finished and failed, rate, ETA) goes to stderr: one line redrawn on a terminal, else a line
every 30 s (none with -q).
Settings come from --config (the whole file is a batch config), with --set KEY=VALUE on top.

Example usage:
  $ cryoray predict-batch manifest.csv -o predictions/ --model runs/c2s2/checkpoint_000020
  $ cryoray predict-batch manifest.csv -o s3://bucket/predictions --model c2s-atoms/2 --model c2s-amino/1 \\
      --set actors.predictors=4 --set actors.gpus_per_predictor=1
  $ ray job submit --working-dir . -- python jobs/infer.py manifest.csv -o s3://bucket/out --config batch.yaml
"""

from __future__ import annotations

import argparse
import sys

from cryoray.cli.options import add_ray_args
from cryoray.cli.output import add_json_flag, emit


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", help="CSV or JSON-lines manifest, path or URL")
    parser.add_argument(
        "-o", "--output", required=True, help="output prefix: folder or s3:// URL (created, or resumed)"
    )
    parser.add_argument(
        "--model", action="append", help="model reference (checkpoint dir or NAME[/VERSION]); repeat for two models"
    )
    parser.add_argument("--config", help="YAML batch config (models, infer, build, outputs, actors)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="change one setting, e.g. infer.batch_size=64"
    )
    parser.add_argument("--strict", action="store_true", help="exit 2 when any entry failed")
    add_ray_args(parser)
    add_json_flag(parser)


def main(args: argparse.Namespace) -> int:
    import yaml

    from cryoray.config import load_config_with_sets
    from cryoray.errors import ConfigError
    from cryoray.infer.batch import run_batch_inference
    from cryoray.infer.batch_config import BatchInferConfig

    sets = list(args.set)
    if args.model:
        sets.append("models=" + yaml.safe_dump(list(args.model), default_flow_style=True).strip())
    config = load_config_with_sets(BatchInferConfig, args.config, sets)
    report = run_batch_inference(
        args.manifest, args.output, config, address=args.address, num_cpus=args.num_cpus, progress=not args.quiet
    )
    emit(
        args,
        report
        if args.json
        else {k: v for k, v in report.items() if k != "failed"} | {"failed": [f["entry_id"] for f in report["failed"]]},
    )
    failures = f"{args.output.rstrip('/')}/failures.json"
    if args.strict and report["failed"]:
        raise ConfigError(failures, f"{report['n_failed']} entries failed")
    if report["n_failed_internal"]:
        # not the input's fault: the run failed, though it completed (exit 1, one line, no traceback)
        print(
            f"cryoray predict-batch: error: {failures}: {report['n_failed_internal']} entries failed "
            "for reasons other than their input (input_fault: false)",
            file=sys.stderr,
        )
        return 1
    return 0
