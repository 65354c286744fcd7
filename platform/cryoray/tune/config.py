"""The sweep config: a base training config, a search space over its keys, search and stopping."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from cryoray.config import Section
from cryoray.train.config import RunName, TrackingConfig, is_remote

__all__ = ["Dimension", "SchedulerConfig", "SearchConfig", "SweepConfig"]


class Dimension(Section):
    """One searched setting: exactly one of the forms below.

    Args:
        grid: every value, crossed with the other grid dimensions.
        choice: one value drawn at random per trial.
        uniform / loguniform: a float drawn from ``[low, high]`` (loguniform: both > 0).
        randint: an integer from ``[low, high]`` (inclusive).
    """

    grid: list[Any] | None = None
    choice: list[Any] | None = None
    uniform: tuple[float, float] | None = None
    loguniform: tuple[float, float] | None = None
    randint: tuple[int, int] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Dimension:
        given = [k for k in ("grid", "choice", "uniform", "loguniform", "randint") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of grid, choice, uniform, loguniform, randint (got {given or 'none'})")
        values = self.grid if self.grid is not None else self.choice
        if values is not None and not values:
            raise ValueError(f"{given[0]}: empty list of values")
        bounds = self.uniform or self.loguniform or self.randint
        if bounds is not None and bounds[0] > bounds[1]:
            raise ValueError(f"{given[0]}: low {bounds[0]} is above high {bounds[1]}")
        if self.loguniform is not None and self.loguniform[0] <= 0:
            raise ValueError("loguniform: bounds must be > 0")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("grid", "choice", "uniform", "loguniform", "randint") if getattr(self, k) is not None)

    def extremes(self) -> list[Any]:
        """Values that stand for the whole dimension when checking configs up front."""
        if self.grid is not None or self.choice is not None:
            return list(self.grid if self.grid is not None else self.choice)
        low, high = self.uniform or self.loguniform or self.randint
        return [low, high]


class SearchConfig(Section):
    """How trials are drawn.

    Args:
        algorithm: ``random`` (grid dimensions crossed, the others drawn; Ray's variant
            generator) or ``optuna`` (TPE, a Bayesian-style search; grid dimensions not allowed).
        num_samples: trials (with grids: repeats of the whole grid).
        metric / mode: the validation metric the search and the scheduler optimise.
        max_concurrent: trials at once (each needs its workers' CPUs plus a data CPU).
        seed: seed of the search algorithm.
    """

    algorithm: Literal["random", "optuna"] = "random"
    num_samples: PositiveInt = 1
    metric: str = "val/loss"
    mode: Literal["min", "max"] = "min"
    max_concurrent: PositiveInt = 1
    seed: int = 0


class SchedulerConfig(Section):
    """Early stopping of trials on ``search.metric`` (ASHA), at validation reports.

    ``grace_period`` and ``max_t`` count validation reports (epochs when ``val_every_steps``
    is 0); ``kind: none`` runs every trial to the end.
    """

    kind: Literal["asha", "none"] = "asha"
    grace_period: PositiveInt = 1
    reduction_factor: float = Field(2.0, gt=1.0)
    max_t: PositiveInt | None = None


class SweepConfig(Section):
    """A whole sweep (see ``cryoray tune --help`` and the example sweep)."""

    name: RunName = "sweep"
    output: str = "sweeps"
    train: dict[str, Any]
    space: dict[str, Dimension] = Field(min_length=1)
    search: SearchConfig = SearchConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    tracking: TrackingConfig = TrackingConfig()
    register_as: str | None = None
    trial_cpus: float = Field(0.01, gt=0.0)

    @field_validator("output")
    @classmethod
    def _local_output(cls, output: str) -> str:
        if is_remote(output):  # Tune's state, the trials' runs and the table are local files
            raise ValueError(f"a sweep writes to a local (or mounted) folder, not {output}")
        return output
