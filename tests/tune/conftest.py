"""A small sweep on the sample store: 2 model families × 2 losses, ASHA over 2 epochs.

Trials run one at a time in grid order (the model varies fastest): the two plain-CE trials
first, then the two weighted-CE ones. After one epoch, weighted CE (background weight ≈ 0.01)
still labels most background voxels as atoms, so its macro F1 sits well below plain CE's and
ASHA's first rung cuts it: a systematic gap, not a coin toss between near-identical trials.
"""

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
        store,
        output / "unused",
        schedule={"epochs": 2, "max_steps_per_epoch": 4},
        workers={"cpus_per_worker": 0.5},
        optimizer={"name": "adam", "lr": 3e-3},
    )
    base.pop("output")
    sweep = {
        "name": "s",
        "output": str(output),
        "train": base,
        "space": {
            "model": {"grid": [base["model"], UNET]},
            "targets.output.loss": {"grid": [{"terms": [{"kind": "ce"}]}, {"terms": [{"kind": "weighted_ce"}]}]},
        },
        "search": {"metric": "val/output/macro_f1", "mode": "max", "max_concurrent": 1},
        "scheduler": {"kind": "asha", "grace_period": 1, "reduction_factor": 3},
        "register_as": "sample-atoms-best",
    }
    sweep.update(changes)
    return sweep
