"""Run the main job on the bundled sample (EMD-3488 + 5ME2): ingest, train, enhance, segment, build, compare.

Prepares the map (prepared.mrc, resampled_back.mrc, slices.png), ingests it into sample.zarr on
local Ray, trains two small networks for a few minutes on CPU to show the training path (runs/: a
SegFormer3D atom + amino-acid classifier and a U-Net enhancer; checkpoints, metrics and pictures
in the MLflow database runs/mlflow.db; the classifier then segments the map into segment/*.mrc),
and runs the inference commands with the models shipped with cryoray, which never saw this map:
enhanced.mrc (default:enhancer; overlays the input in ChimeraX) and model.cif (default:builder: a
Cα model threaded with the sample's sequence; B-factor = 100 × the Cα score). Their evaluation
against the deposited 5ME2 is printed next to the yardsticks measured in the same run: the input
map's own CC_mask, CC_box and Q-score beside the enhanced map's (cryoray evaluate), and a model
built without a network from the map's density peaks (model_peaks.cif).

Example usage:
  $ cryoray demo
  $ cryoray demo -o runs/demo --json
  $ cryoray demo --epochs 2
  $ mlflow ui --backend-store-uri sqlite:///runs/demo/runs/mlflow.db
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from dataclasses import asdict
from pathlib import Path

from cryoray.cli.main import main as cli_main
from cryoray.cli.output import add_json_flag, emit
from cryoray.pipelines.sample import run_sample_pipeline
from cryoray.sample import haemoglobin


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", default="runs/demo", help="run directory (default: %(default)s)")
    parser.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    parser.add_argument("--epochs", type=int, help="training epochs of each network (default: the example configs')")
    parser.add_argument(
        "--no-train", dest="train", action="store_false", help="stop after ingest (no training or inference)"
    )
    add_json_flag(parser)


def main(args: argparse.Namespace) -> None:
    # Imported here: torch, Ray Train and MLflow load only when this command runs.
    from cryoray.train import train_sample

    summary = run_sample_pipeline(args.output, num_cpus=args.num_cpus)
    if args.train:
        out = Path(args.output)
        store = out / "sample.zarr"
        building = train_sample(store, out, example="sample_building", epochs=args.epochs)
        enhancing = train_sample(store, out, example="sample_enhance", epochs=args.epochs)
        summary["training"] = {"building": asdict(building), "enhance": asdict(enhancing)}
        summary["inference"] = _inference(out, building.best_checkpoint)
        summary["outputs"] += ["runs", "enhanced.mrc", "segment", "model.cif", "model_peaks.cif"]
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
            "store (sample.zarr)": f"{summary['store']['n_subgrids']} sub-grids of "
            f"{summary['store']['tiling']['box']}³",
            **(_training_lines(summary["training"], summary["inference"]) if "training" in summary else {}),
            "outputs": f"{args.output}/ " + " ".join(summary["outputs"]),
            "seconds": summary["seconds"],
        },
    )


def _command(*argv: str) -> dict:
    """Run one cryoray command as a user would (``--json``) and return its report."""
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        code = cli_main([*argv, "--json", "--overwrite"] if argv[0] not in _READ_ONLY else [*argv, "--json"])
    if code != 0:
        raise RuntimeError(f"cryoray {argv[0]} failed in the demo (exit {code})")
    return json.loads(captured.getvalue())


#: Commands that write nothing (no --overwrite to give).
_READ_ONLY = ("compare-models", "evaluate")


def _inference(out: Path, building: str) -> dict[str, dict]:
    """The inference commands on the sample map: the shipped models, and the classifier just trained."""
    entry = haemoglobin()
    report = {
        "enhance": _command("enhance", str(entry.map), "-o", str(out / "enhanced.mrc")),
        "segment": _command("segment", str(entry.map), "-o", str(out / "segment"), "--model", building),
        "build": _command("build-model", str(entry.map), str(entry.sequence), "-o", str(out / "model.cif")),
    }
    report["compare"] = _command("compare-models", str(out / "model.cif"), str(entry.model))
    # the yardsticks, measured in the same run: the input map itself, and a model built without a network
    resolution = f"{entry.resolution:g}"
    for name, density in (("input", entry.map), ("enhanced", out / "enhanced.mrc")):
        report[f"evaluate_{name}"] = _command(
            "evaluate", str(density), "--model", str(entry.model), "--resolution", resolution
        )
    peaks = out / "model_peaks.cif"
    _command("build-model", str(entry.map), str(entry.sequence), "-o", str(peaks), "--candidates", "peaks")
    report["compare_peaks"] = _command("compare-models", str(peaks), str(entry.model))
    return report


def _training_lines(training: dict, inference: dict) -> dict[str, str]:
    building, enhancing = training["building"], training["enhance"]
    b, e = building["metrics"], enhancing["metrics"]
    built, compared = inference["build"], inference["compare"]
    return {
        "training (atoms + amino acids)": f"{b['step']} steps; val Cα F1 {b['val/atom/f1/CA']:.3f}",
        "training (enhancement)": f"{e['step']} steps; val PCC {e['val/output/pcc']:.3f} "
        f"(input's own {e['val/output/pcc_input']:.3f})",
        "checkpoints": f"{building['best_checkpoint']}, {enhancing['best_checkpoint']}",
        "MLflow": f"{building['tracking_uri']} (mlflow ui --backend-store-uri {building['tracking_uri']})",
        "model built (default:builder)": f"{built['placed']} of {built['residues']} residues placed on "
        f"{built['states_clustered']} states",
        "vs deposited 5ME2": f"Cα F1 {compared['ca_f1']:.3f} at 3 Å, sequence match "
        f"{compared['sequence_match']:.3f}, TM-score {compared['tm_score']:.3f}",
        "no-network baseline (peaks)": f"Cα F1 {inference['compare_peaks']['ca_f1']:.3f}, sequence match "
        f"{inference['compare_peaks']['sequence_match']:.3f}, TM-score {inference['compare_peaks']['tm_score']:.3f}",
        "enhanced (default:enhancer) vs input map": "; ".join(
            f"{label} {inference['evaluate_enhanced'][a][b]:.3f} ({inference['evaluate_input'][a][b]:.3f})"
            for label, a, b in (("CC_mask", "cc", "mask"), ("CC_box", "cc", "box"), ("Q", "q_score", "mean"))
        ),
    }
