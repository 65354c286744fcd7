"""Training configs small enough for one CPU, on the session's sample store (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path


def small_config(store: Path, output: Path, **changes: object) -> dict:
    """A tiny UNETR atom classifier on the sample (seconds per epoch on one CPU)."""
    config = {
        "name": "t",
        "output": str(output),
        "data": {"store": str(store), "val_fraction": 0.2, "augment": {"rot90": 0.4, "flip": 0.4}},
        "model": {"name": "unetr", "hidden_size": 32, "mlp_dim": 64, "num_heads": 2, "feature_size": 8},
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
