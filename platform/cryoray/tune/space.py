"""Search spaces: dotted training-config keys -> Tune distributions, checked before any trial."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ray import tune

from cryoray.config import validate_config
from cryoray.errors import ConfigError, InputError
from cryoray.train import TrainConfig, plan_training
from cryoray.tune.config import Dimension, SweepConfig

__all__ = ["apply", "check_space", "param_space"]

#: keys whose values change what a plan checks (store, labels, shapes, class counts)
_PLANNED = ("model", "targets", "data", "batch_size", "workers")


def apply(base: Mapping[str, Any], assignment: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with each dotted key of ``assignment`` replaced (sections created as needed)."""
    out = copy.deepcopy(dict(base))
    for key, value in assignment.items():
        node = out
        *parents, last = key.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"{key}: {part} is not a section")
            node = child
        node[last] = copy.deepcopy(value)
    return out


def param_space(space: Mapping[str, Dimension]) -> dict[str, Any]:
    """Ray Tune's ``param_space`` for the dimensions (flat dotted keys)."""
    out: dict[str, Any] = {}
    for key, dim in space.items():
        if dim.grid is not None:
            out[key] = tune.grid_search(dim.grid)
        elif dim.choice is not None:
            out[key] = tune.choice(dim.choice)
        elif dim.uniform is not None:
            out[key] = tune.uniform(*dim.uniform)
        elif dim.loguniform is not None:
            out[key] = tune.loguniform(*dim.loguniform)
        else:
            out[key] = tune.randint(dim.randint[0], dim.randint[1] + 1)
    return out


def check_space(sweep: SweepConfig, base: Mapping[str, Any], *, source: object) -> None:
    """Every value a dimension can take (its choices, or its bounds) must give a runnable config.

    Each is applied alone to the base config, validated, and, when it touches the data or the
    model, planned against the store: an unknown model, an empty choice or a negative learning
    rate fails here, before any trial starts, naming ``space.<key>``.
    """
    base_config = _validated(base, source, "train")
    plan_training(base_config, source=source)
    if sweep.search.algorithm == "optuna" and any(d.grid is not None for d in sweep.space.values()):
        raise ConfigError(source, "space: grid dimensions need search.algorithm 'random' (use choice with optuna)")
    for key, dim in sweep.space.items():
        for value in dim.extremes():
            where = f"space.{key} = {value!r}"
            try:
                candidate = apply(base, {key: value})
            except ValueError as exc:
                raise ConfigError(source, f"space.{key}: {exc}") from exc
            config = _validated(candidate, source, where)
            if key.split(".")[0] in _PLANNED:
                try:
                    plan_training(config, source=source)
                except InputError as exc:
                    raise ConfigError(source, f"{where}: {exc.reason}") from exc


def _validated(data: Mapping[str, Any], source: object, where: str) -> TrainConfig:
    try:
        return validate_config(TrainConfig, data, source=source)
    except ConfigError as exc:
        raise ConfigError(source, f"{where}: {exc.reason}") from exc
