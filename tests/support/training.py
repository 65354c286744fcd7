"""Training and sweep configs small enough for one CPU, on the sample store (the ``sample_store`` fixture).

The sweep: 2 model families × 2 losses, ASHA over 2 epochs. Trials run one at a time in grid
order (the model varies fastest): the two plain-CE trials first, then the two weighted-CE ones.
After one epoch, weighted CE (background weight ≈ 0.01) still labels most background voxels as
atoms, so its macro F1 sits well below plain CE's and ASHA's first rung cuts it: a systematic
gap, not a coin toss between near-identical trials.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.models import tiny_model


def small_config(store: Path, output: Path, **changes: object) -> dict:
    """A tiny UNETR atom classifier on the sample (seconds per epoch on one CPU).

    ``changes`` set keys by path, ``__`` between levels: ``schedule__epochs=3``.
    """
    config = {
        "name": "t",
        "output": str(output),
        "data": {"store": str(store), "val_fraction": 0.2, "augment": {"rot90": 0.4, "flip": 0.4}},
        "model": tiny_model("unetr", img_size=32, num_heads=2, feature_size=8),
        "targets": {"output": {"label": "atom", "loss": {"terms": [{"kind": "weighted_ce"}]}}},
        "optimizer": {"name": "adam", "lr": 1e-3},
        "schedule": {"epochs": 2, "max_steps_per_epoch": 4},
        "batch_size": 4,
    }
    for dotted, value in changes.items():
        node = config
        *parents, last = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return config


def small_sweep(store: Path, output: Path, **changes: object) -> dict:
    """The sweep of the module docstring over :func:`small_config`; ``changes`` replace top-level keys."""
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
            "model": {"grid": [base["model"], tiny_model("unet", img_size=32, out_channels=4)]},
            "targets.output.loss": {"grid": [{"terms": [{"kind": "ce"}]}, {"terms": [{"kind": "weighted_ce"}]}]},
        },
        "search": {"metric": "val/output/macro_f1", "mode": "max", "max_concurrent": 1},
        "scheduler": {"kind": "asha", "grace_period": 1, "reduction_factor": 3},
        "register_as": "sample-atoms-best",
    }
    sweep.update(changes)
    return sweep
