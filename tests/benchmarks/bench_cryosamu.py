"""CryoSAMU after brief CPU training: enhanced vs input maps of held-out real entries, with and without structure.

    .venv/bin/python -m tests.benchmarks.bench_cryosamu [--train EMD-3488 EMD-21457] [--test EMD-0093]
        [--resolution 6] [--epochs 8] [--max-steps-per-epoch 20] [--smoke]

(from the repository root; ``--smoke``: one epoch of 2 steps on EMD-3488, tested on EMD-21457.)

1. Inputs: every entry's map low-passed to ``--resolution`` Å (the paper's 4-8 Å range; 0 keeps the
   deposited maps); targets: maps simulated from the models at that resolution (ingest's
   ``simulated`` label). The ``--train`` entries are ingested without Ray (32³ boxes, stride 16,
   the built-in ``structure`` embedding, 29 features).
2. Two tiny CryoSAMU networks (residual, so they start as the identity) trained on Ray Train with
   the same steps: ``structure`` with ``data.embedding`` (10 % of boxes see "no structure"), and
   ``ablation`` without embeddings (the paper's ablation).
3. Each ``--test`` entry, never seen in training: the input map and the enhanced maps (``structure``
   given the entry's model embedding; the same network with ``no_structure``; ``ablation``), each
   on the input's grid, scored against the deposited model: CC_mask and CC_box (the correlation
   with the map simulated at ``--resolution``: PCC vs simulated) and the mean Q-score. ``--score-seen``
   scores the first ``--train`` entry the same way (``"held_out": false``): whether the whole-map
   path works where the networks did learn.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import ray

from cryoray.config import validate_config
from cryoray.infer import Predictor
from cryoray.infer.config import InferConfig
from cryoray.infer.whole_map import predict_map
from cryoray.io import read_map, write_map
from cryoray.io.models import read_model
from cryoray.labels.embeddings import EmbeddingConfig, StructureEmbedder, embed_model
from cryoray.labels.simulate import simulate_map
from cryoray.metrics import cc_mask_radius, map_model_correlations, q_score
from cryoray.pipelines.ingest_config import IngestConfig
from cryoray.preprocessing import zone_mask
from cryoray.preprocessing.filters import lowpass
from cryoray.train import TrainConfig, run_training
from tests.benchmarks.common import parse_args
from tests.support.embeddings import entry_row, ingest_rows

MODEL = {
    "name": "cryosamu",
    "img_size": 32,
    "channels": [8, 16, 32],
    "num_res_units": 1,
    "embedding_dim": StructureEmbedder.dim,
    "embedding_tokens": 2,
    "bottleneck_depth": 1,
    "num_heads": 4,
    "mlp_dim": 64,
    "residual": True,
}


def lowpassed_rows(entries: list[str], resolution: float, folder: Path) -> dict:
    """Manifest rows of ``entries`` whose maps are low-passed to ``resolution`` Å (0: as deposited)."""
    rows = {}
    for entry in entries:
        row = entry_row(entry)
        if resolution > 0:
            path = folder / f"{entry}_{resolution:g}A.mrc"
            write_map(path, lowpass(read_map(row.map), resolution), overwrite=True)
            row = row.model_copy(update={"map": str(path), "resolution": resolution})
        rows[entry] = row
    return rows


def train(store: Path, output: Path, name: str, args: argparse.Namespace, *, embedding: bool) -> str:
    config = {
        "name": name,
        "output": str(output),
        "data": {"store": str(store), "holdout": "subgrids", "val_fraction": 0.2, "embedding": embedding},
        "model": MODEL,
        "targets": {"output": {"label": "simulated", "loss": {"terms": [{"kind": "masked_mse"}]}}},
        "optimizer": {"name": "adam", "lr": 2e-3},
        "schedule": {"epochs": args.epochs, "max_steps_per_epoch": args.max_steps_per_epoch},
        "batch_size": 4,
        "precision": "fp32",
        "workers": {"num_workers": 1, "cpus_per_worker": 1, "data_cpus": 1},
        "checkpoints": {"keep": 1, "metric": "val/output/pcc", "mode": "max"},
    }
    t0 = time.perf_counter()
    result = run_training(validate_config(TrainConfig, config, source=name), source=name, progress=False)
    print(json.dumps({"trained": name, "seconds": round(time.perf_counter() - t0), **_rounded(result.metrics)}))
    return result.best_checkpoint or result.checkpoint


def _rounded(metrics: dict) -> dict:
    keys = ("step", "val/loss", "val/output/pcc", "val/output/pcc_input")
    return {k: round(float(metrics[k]), 4) for k in keys if k in metrics}


def score(row, checkpoints: dict[str, str], args: argparse.Namespace) -> dict:
    """Input and enhanced maps of one entry against its model."""
    density, model = read_map(row.map), read_model(row.model)
    atoms = model.atoms()
    embedding = embed_model(StructureEmbedder(), model, atoms, [])
    resolution = float(row.resolution)
    model_map = simulate_map(atoms, density.frame, resolution)
    mask = zone_mask(density.frame, atoms.xyz, cc_mask_radius(resolution))
    maps = {"input": density}
    runs = {"structure": ("structure", embedding), "no_structure": ("structure", None), "ablation": ("ablation", None)}
    infer = InferConfig(device="cpu", batch_size=8, tiling="custom", box=32, stride=args.stride)
    t0 = time.perf_counter()
    for kind, (network, vector) in runs.items():
        predictor = Predictor.from_checkpoint(checkpoints[network], device="cpu", precision="fp32")
        predictor.set_embedding(vector)
        maps[kind] = predict_map(density, predictor, infer, heads=["output"]).on_source_frame("output")
    seconds = time.perf_counter() - t0
    out: dict[str, object] = {"entry": row.entry_id, "held_out": row.entry_id in args.test, "resolution": resolution}
    out["grid"] = list(density.frame.shape)
    correlations = {kind: map_model_correlations(m, model_map, mask) for kind, m in maps.items()}
    out["cc_mask"] = {kind: round(c.cc_mask, 4) for kind, c in correlations.items()}
    out["cc_box"] = {kind: round(c.cc_box, 4) for kind, c in correlations.items()}
    if args.q_score:
        out["q_score"] = {kind: round(q_score(m, atoms).overall, 4) for kind, m in maps.items()}
    out["infer_seconds_3_maps"] = round(seconds, 1)
    out["beats_input"] = {
        kind: bool(out["cc_mask"][kind] > out["cc_mask"]["input"]) for kind in runs
    }  # CC_mask, the paper's main real-space score
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", nargs="+", default=["EMD-3488", "EMD-21457"], help="entries to train on")
    parser.add_argument("--test", nargs="+", default=["EMD-0093"], help="held-out entries to enhance and score")
    parser.add_argument("--resolution", type=float, default=6.0, help="low-pass inputs and simulate targets (Å)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--max-steps-per-epoch", type=int, default=20)
    parser.add_argument("--stride", type=int, default=32, help="inference stride of the 32³ boxes")
    parser.add_argument("--no-q-score", dest="q_score", action="store_false", help="skip Q-scores")
    parser.add_argument("--score-seen", action="store_true", help="score the first --train entry too")
    parser.add_argument("--keep", type=Path, help="keep the maps, store and runs in this folder (default: temporary)")
    args = parse_args(parser, {"train": ["EMD-3488"], "test": ["EMD-21457"], "epochs": 1, "max_steps_per_epoch": 2})
    overlap = set(args.train) & set(args.test)
    if overlap:
        parser.error(f"entries both trained on and tested: {sorted(overlap)}")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        rows = lowpassed_rows([*args.train, *args.test], args.resolution, tmp)
        t0 = time.perf_counter()
        config = IngestConfig(tiling="custom", box=32, stride=16, labels=["simulated"], embedding=EmbeddingConfig())
        store = ingest_rows(tmp / "samu.zarr", config, [rows[e] for e in args.train])
        print(json.dumps({"store": args.train, "seconds": round(time.perf_counter() - t0)}))
        checkpoints = {
            "structure": train(store, tmp / "runs", "structure", args, embedding=True),
            "ablation": train(store, tmp / "runs", "ablation", args, embedding=False),
        }
        scored = [*args.test, *args.train[: int(args.score_seen)]]
        results = [score(rows[entry], checkpoints, args) for entry in scored]
        for result in results:
            print(json.dumps(result))
    ray.shutdown()


if __name__ == "__main__":
    main()
