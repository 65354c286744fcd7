"""Learning check, honest and small: does training on the real sample beat the untrained model?

    .venv/bin/python -m tests.benchmarks.bench_learning [--epochs 12] [--regression-epochs 12] [--smoke]

(from the repository root; ``--smoke``: one epoch of 2 steps each).

On the bundled EMD-3488 sample (c2s sub-grids, 20 % of them held out by hash; neighbouring
boxes overlap, so held-out boxes share some context with training ones):
1. ``unetr`` atom classifier (the ``sample_atoms`` example config): validation Cα F1 of the
   untrained model (logged at step 0) and after training.
2. ``unetrpp`` regression onto the simulated map (masked MSE): validation PCC of the prediction
   vs the simulated target, against the PCC of the input map itself.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import ray
from mlflow.tracking import MlflowClient

from cryoray.config import validate_config
from cryoray.config.loading import load_config
from cryoray.pipelines.sample import ingest_sample_in_process
from cryoray.train import TrainConfig, example_config, run_training
from tests.benchmarks.common import parse_args

REGRESSION_MODEL = {
    "name": "unetrpp",
    "img_size": 32,
    "feature_size": 8,
    "dims": [16, 32, 64, 64],
    "depths": [1, 1, 1, 1],
    "num_heads": 2,
    "proj_sizes": [32, 32, 16, 8],
}


def history(result, key: str) -> list[tuple[int, float]]:
    return [
        (m.step, round(m.value, 4))
        for m in MlflowClient(result.tracking_uri).get_metric_history(result.mlflow_run_id, key)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--regression-epochs", type=int, default=12)
    parser.add_argument("--max-steps-per-epoch", type=int, help="cap on the steps of an epoch (default: none)")
    args = parse_args(parser, {"epochs": 1, "regression_epochs": 1, "max_steps_per_epoch": 2})
    ray.init(num_cpus=2, include_dashboard=True, dashboard_host="127.0.0.1", log_to_driver=False)
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = ingest_sample_in_process(tmp / "sample.zarr")
        base = load_config(TrainConfig, example_config("sample_atoms")).model_dump()
        base.update(output=str(tmp / "runs"))
        base["data"]["store"] = str(store)
        base["schedule"]["epochs"] = args.epochs
        if args.max_steps_per_epoch:
            base["schedule"]["max_steps_per_epoch"] = args.max_steps_per_epoch
        t0 = time.perf_counter()
        atoms = run_training(validate_config(TrainConfig, base, source="atoms"), source="atoms")
        f1 = history(atoms, "val/output/f1/CA")
        results["unetr_atoms"] = {
            "epochs": args.epochs,
            "seconds": round(time.perf_counter() - t0),
            "val_f1_CA_untrained": f1[0][1],
            "val_f1_CA_trained": f1[-1][1],
            "val_recall_CA_trained": history(atoms, "val/output/recall/CA")[-1][1],
            "val_precision_CA_trained": history(atoms, "val/output/precision/CA")[-1][1],
            "val_f1_CA_curve": f1,
        }
        print(json.dumps(results["unetr_atoms"]))

        regression = dict(base, name="sample-enhance", model=REGRESSION_MODEL, precision="fp32")
        regression["targets"] = {"output": {"label": "simulated", "loss": {"terms": [{"kind": "masked_mse"}]}}}
        regression["schedule"] = dict(base["schedule"], epochs=args.regression_epochs)
        regression["checkpoints"] = {"keep": 1, "metric": "val/output/pcc", "mode": "max"}
        t0 = time.perf_counter()
        enhance = run_training(validate_config(TrainConfig, regression, source="regression"), source="regression")
        pcc = history(enhance, "val/output/pcc")
        results["unetrpp_regression"] = {
            "epochs": args.regression_epochs,
            "seconds": round(time.perf_counter() - t0),
            "val_pcc_input_vs_target": history(enhance, "val/output/pcc_input")[-1][1],
            "val_pcc_untrained": pcc[0][1],
            "val_pcc_trained": pcc[-1][1],
            "val_pcc_curve": pcc,
        }
        print(json.dumps(results["unetrpp_regression"]))
    ray.shutdown()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
