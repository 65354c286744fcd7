"""Run the main job on the bundled sample (EMD-3488 + 5ME2): prepare, ingest, train on local Ray.

Writes prepared.mrc, resampled_back.mrc (overlay both on the input in ChimeraX), slices.png,
sample.zarr (the sample ingested on local Ray), summary.json, and runs/ (a small UNETR atom
classifier trained for a few minutes on CPU: checkpoints in runs/sample-atoms/, metrics and
pictures in the MLflow database runs/mlflow.db) to the output directory.

Example usage:
  $ cryoray demo
  $ cryoray demo -o runs/demo --json
  $ cryoray demo --epochs 2
  $ mlflow ui --backend-store-uri sqlite:///runs/demo/runs/mlflow.db
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from cryoray.cli.output import add_json_flag, emit
from cryoray.pipelines.sample import run_sample_pipeline


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", default="runs/demo", help="run directory (default: %(default)s)")
    parser.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the sample_atoms config's)")
    parser.add_argument("--no-train", dest="train", action="store_false", help="skip the training stage")
    add_json_flag(parser)


def main(args: argparse.Namespace) -> None:
    # Imported here: torch, Ray Train and MLflow load only when this command runs.
    from cryoray.train import train_sample
    summary = run_sample_pipeline(args.output, num_cpus=args.num_cpus)
    if args.train:
        out = Path(args.output)
        summary["training"] = asdict(train_sample(out / "sample.zarr", out, epochs=args.epochs))
        summary["outputs"].append("runs")
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if args.json:
        emit(args, summary)
        return
    fit, shifted, rt = summary["fit"], summary["fit_model_shifted_20A"], summary["roundtrip_correlation"]
    emit(
        args,
        {
            "entry": f"{summary['entry']} / {summary['model']}",
            "fit (CA inside, σ at CA)": f"{fit['fraction_inside']:.2f}, {fit['mean_sigma_at_ca']:.2f} σ",
            "fit, model shifted 20 Å": f"{shifted['fraction_inside']:.2f}, {shifted['mean_sigma_at_ca']:.2f} σ",
            "prepared grid (x y z)": summary["prepare"]["frame"]["shape"],
            "round trip corr. (molecule)": f"{rt['inside_molecule']:.5f}",
            "store (sample.zarr)": f"{summary['store']['n_subgrids']} sub-grids of {summary['store']['tiling']['box']}³",
            **(_training_lines(summary["training"]) if "training" in summary else {}),
            "outputs": f"{args.output}/ " + " ".join(summary["outputs"]),
            "seconds": summary["seconds"],
        },
    )


def _training_lines(run: dict) -> dict[str, str]:
    m = run["metrics"]
    return {
        "training": f"{m['step']} steps, {m['epoch']} epochs; val Cα F1 {m['val/output/f1/CA']:.3f}, val loss {m['val/loss']:.3f}",
        "best checkpoint": str(run["best_checkpoint"]),
        "MLflow": f"run {run['mlflow_run_id']} in {run['tracking_uri']} (mlflow ui --backend-store-uri {run['tracking_uri']})",
    }
