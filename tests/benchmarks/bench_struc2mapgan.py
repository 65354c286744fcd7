"""struc2mapGAN at a tiny scale: does the generator beat the plain simulation on a held-out entry?

    .venv/bin/python -m tests.benchmarks.bench_struc2mapgan [--train EMD-0093 EMD-21457] [--hold-out EMD-3488]
        [--epochs 12] [--max-steps-per-epoch 50] [--smoke]

(from the repository root; ``--smoke``: EMD-21457 only, one epoch of 2 steps, a smaller network).

The training entries are ingested (c2s 32³ boxes, stride 20; experimental maps at 1 Å normalised
at the 99.999th percentile; labels ``simulated`` at each entry's resolution and
``denoise_class``, whose 6 Å zone masks the targets) and a struc2mapGAN is trained on them with
Ray Train (one CPU worker). The held-out entry's model is then synthesized on its map's own
grid at its resolution (``cryoray.infer.synthesize``), and the generated map and the plain
simulated map are both scored against the held-out experimental map, curated as the targets
are (normalised, zero beyond 6 Å of the atoms) and as it is (normalised only): CC_mask (mask
within the resolution, 3–10 Å, of the atoms), CC_box (Pearson over the whole box: PCC) and 3D
SSIM (MONAI; each map normalised as the targets: 99.999th percentile, clipped to [0, 1]).
``generated`` is the synthesized map as ``cryoray synthesize`` writes it (0 beyond 6 Å of the
atoms), ``unmasked`` the generator's output before that.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import ray
import torch

from cryoray.config import validate_config
from cryoray.config.loading import load_config
from cryoray.infer.predictor import Predictor
from cryoray.infer.synthesize import synthesize_map
from cryoray.io import DensityMap, read_map
from cryoray.io.models import read_model
from cryoray.metrics import cc_mask_radius, map_model_correlations, ssim3d
from cryoray.pipelines.ingest import run_ingest
from cryoray.pipelines.ingest_config import IngestConfig
from cryoray.preprocessing.masks import zone_mask
from cryoray.preprocessing.normalize import normalize
from cryoray.train import TrainConfig, example_config, run_training
from tests.benchmarks.common import parse_args
from tests.support.data import ENTRIES, REAL, local_rows, write_manifest

TARGET_RADIUS = 6.0  # Å: the zone of the store's denoise_class labels that masks the targets
PERCENTILE = 99.999  # of the positive voxels: the targets' normalisation


def _as_target(density: DensityMap) -> torch.Tensor:
    """``density`` normalised as the targets are (99.999th percentile of positive voxels, clipped to [0, 1])."""
    if not (density.data > 0).any():  # nothing positive (an untrained generator): all clipped to 0
        return torch.zeros(density.data.shape)
    return torch.tensor(normalize(density, percentile=PERCENTILE)[0].data)


def scores(candidate: DensityMap, target: DensityMap, cc_mask: np.ndarray) -> dict[str, float]:
    """CC_mask, CC_box (PCC) and SSIM of ``candidate`` against ``target`` (same grid)."""
    cc = map_model_correlations(target, candidate, cc_mask)
    ssim = ssim3d(_as_target(candidate), torch.tensor(target.data), data_range=1.0)
    return {"cc_mask": round(cc.cc_mask, 4), "pcc": round(cc.cc_box, 4), "ssim": round(ssim, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", nargs="+", default=["EMD-0093", "EMD-21457"], help="entries to train on")
    parser.add_argument("--hold-out", default="EMD-3488", help="entry to synthesize and score")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--max-steps-per-epoch", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--features", type=int, nargs="+", default=[16, 32, 64], help="generator channels per level")
    parser.add_argument("--adversarial-weight", type=float, default=1e-3)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parse_args(
        parser, {"train": ["EMD-21457"], "epochs": 1, "max_steps_per_epoch": 2, "batch_size": 4, "features": [4, 8]}
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        manifest = write_manifest(tmp / "train.csv", local_rows(args.train))
        ingest = IngestConfig.model_validate(
            {
                "labels": ["simulated", "denoise_class"],
                "prepare": {"percentile": PERCENTILE},
                "splits": {"fractions": [1, 0, 0]},
            }
        )
        report = run_ingest(str(manifest), str(tmp / "gan.zarr"), ingest, progress=False)
        print(
            f"ingested {report['n_subgrids']} sub-grids of {args.train} in {time.perf_counter() - t0:.0f} s", flush=True
        )

        config = load_config(TrainConfig, example_config("struc2mapgan")).model_dump()
        config.update(output=str(tmp / "runs"), batch_size=args.batch_size, precision="fp32")
        config["data"].update(store=str(tmp / "gan.zarr"), holdout="subgrids", val_fraction=0.1)
        config["model"].update(
            features=args.features, disc_channels=args.features, disc_strides=[2] * len(args.features), disc_hidden=[16]
        )
        config["gan"]["adversarial_weight"] = args.adversarial_weight
        config["optimizer"]["lr"] = args.lr
        config["schedule"].update(epochs=args.epochs, max_steps_per_epoch=args.max_steps_per_epoch, scheduler="none")
        config["workers"].update(use_gpu=False, cpus_per_worker=1)
        config["checkpoints"]["keep"] = 1
        t0 = time.perf_counter()
        result = run_training(validate_config(TrainConfig, config, source="bench"), source="bench", progress=False)
        trained = {
            "train_seconds": round(time.perf_counter() - t0),
            "steps": result.metrics["step"],
            "val_pcc_generated": round(result.metrics["val/output/pcc"], 4),
            "val_pcc_simulated": round(result.metrics["val/output/pcc_input"], 4),
            "val_discriminator_loss": round(result.metrics["val/discriminator/loss"], 4),
        }
        print(json.dumps(trained), flush=True)

        map_path, model_path, _, resolution = ENTRIES[args.hold_out]
        experimental = read_map(REAL / map_path)
        atoms = read_model(REAL / model_path).atoms()
        predictor = Predictor.from_reference(result.best_checkpoint or result.checkpoint, device="cpu")
        t0 = time.perf_counter()
        synthesis = synthesize_map(atoms, experimental.frame, resolution, predictor, source=args.hold_out)
        synth_seconds = time.perf_counter() - t0

    frame = experimental.frame
    unmasked = synthesis.prediction.on_source_frame("output")  # before zeroing beyond 6 Å of the atoms
    normalised, _ = normalize(experimental, percentile=PERCENTILE)
    curated = normalised.with_data(normalised.data * zone_mask(frame, atoms.xyz, TARGET_RADIUS))
    cc_mask = zone_mask(frame, atoms.xyz, cc_mask_radius(resolution))
    table = {}
    for target_name, target in (("curated", curated), ("whole_map", normalised)):
        table[target_name] = {
            "generated": scores(synthesis.density, target, cc_mask),
            "unmasked": scores(unmasked, target, cc_mask),
            "simulated": scores(synthesis.simulated, target, cc_mask),
        }
    print(f"\n{args.hold_out} held out ({resolution} Å; trained on {', '.join(args.train)}), against its map:")
    print(f"{'target':<10} {'map':<10} {'CC_mask':>8} {'PCC':>8} {'SSIM':>8}")
    for target_name, rows in table.items():
        for name, row in rows.items():
            print(f"{target_name:<10} {name:<10} {row['cc_mask']:>8.4f} {row['pcc']:>8.4f} {row['ssim']:>8.4f}")
    summary = {"hold_out": args.hold_out, "train": args.train, **trained, "synthesize_seconds": round(synth_seconds, 1)}
    summary.update({f"{target}_{name}": row for target, rows in table.items() for name, row in rows.items()})
    print(json.dumps(summary))
    ray.shutdown()


if __name__ == "__main__":
    main()
