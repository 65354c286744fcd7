"""A small sweep on the sample store: 2 model families × 2 losses, ASHA over 3 epochs."""

from __future__ import annotations

from pathlib import Path

from tests.train.conftest import small_config

UNET = {
    "name": "unet",
    "out_channels": 4,
    "img_size": 32,
    "channels": [4, 8, 16],
    "strides": [2, 2],
    "num_res_units": 1,
}


def small_sweep(store: Path, output: Path, **changes: object) -> dict:
    base = small_config(
        store, output / "unused", schedule={"epochs": 3, "max_steps_per_epoch": 2}, workers={"cpus_per_worker": 0.5}
    )
    base.pop("output")
    sweep = {
        "name": "s",
        "output": str(output),
        "train": base,
        "space": {
            "model": {"grid": [base["model"], UNET]},
            "targets.output.loss": {"grid": [{"terms": [{"kind": "weighted_ce"}]}, {"terms": [{"kind": "ce"}]}]},
        },
        "search": {"metric": "val/output/macro_f1", "mode": "max", "max_concurrent": 1},
        "scheduler": {"kind": "asha", "grace_period": 1, "reduction_factor": 3},
        "register_as": "sample-atoms-best",
    }
    sweep.update(changes)
    return sweep
