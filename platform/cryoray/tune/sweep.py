"""Run a sweep with Ray Tune: each trial is a Ray Train run; one MLflow parent run, a child per trial.

Trials are the Train-V2 pattern of this Ray version: a function trainable builds the
TorchTrainer (through :func:`cryoray.train.run_training`) and reports through
``TuneReportCallback``, so ASHA sees every validation and can stop a trial. The best trial's best
checkpoint (weights + config) is logged to its run and registered in MLflow's model registry.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from ray import tune

from cryoray.config import validate_config
from cryoray.errors import ConfigError
from cryoray.runtime import Progress, ensure_ray
from cryoray.train import TrainConfig
from cryoray.train.run import RUN_RECORD, check_cluster
from cryoray.train.tracking import Tracker, default_tracking_uri, flatten, open_run
from cryoray.tune.config import SweepConfig
from cryoray.tune.space import check_space, param_space
from cryoray.tune.summary import save_sweep_plot, trial_table
from cryoray.tune.trial import run_trial

__all__ = ["SweepProgress", "SweepResult", "run_sweep", "trial_base"]

SWEEP_RECORD = "cryoray_sweep.json"


@dataclass(frozen=True)
class SweepResult:
    sweep_dir: str
    tracking_uri: str
    parent_run_id: str
    best_trial: str | None
    best_metric: float | None
    best_checkpoint: str | None
    registered_model: str | None
    registered_version: str | None
    trials: list[dict]
    table: str


def trial_base(sweep: SweepConfig, uri: str) -> dict[str, Any]:
    """The training config every trial starts from: ``train:`` tracked in the sweep's MLflow."""
    base = dict(sweep.train)
    base.setdefault("name", "trial")
    base["tracking"] = {"uri": uri, "experiment": sweep.tracking.experiment}
    return base


class SweepProgress(tune.Callback):
    """Trials finished (of all), running, and the best ``metric`` so far, on the driver's terminal.

    The line is made in :meth:`setup`, so the callback pickles with the Tuner's state (resume).
    """

    def __init__(self, metric: str, mode: str, *, enabled: bool = True) -> None:
        self.metric, self.mode, self.enabled = metric, mode, enabled
        self.best: float | None = None
        self._progress: Progress | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_progress": None}

    def setup(self, stop=None, num_samples=None, total_num_samples=None, **info) -> None:
        self._progress = Progress("tune", total_num_samples, unit="trials", enabled=self.enabled)

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info) -> None:
        value = result.get(self.metric)
        if not isinstance(value, (int, float)) or value != value:  # absent, or NaN
            pass
        elif self.best is None or (value < self.best if self.mode == "min" else value > self.best):
            self.best = float(value)
        self._show(trials)

    def on_step_end(self, iteration: int, trials: list, **info) -> None:
        self._show(trials)

    def on_experiment_end(self, trials: list, **info) -> None:
        self._show(trials)
        if self._progress is not None:
            self._progress.close()

    def _show(self, trials: list) -> None:
        if self._progress is None:
            return
        finished = sum(t.status in ("TERMINATED", "ERROR") for t in trials)
        figures: dict[str, object] = {"running": sum(t.status == "RUNNING" for t in trials)}
        if self.best is not None:
            figures[f"best {self.metric}"] = self.best
        self._progress.update(finished, **figures)


def _searcher(sweep: SweepConfig):
    if sweep.search.algorithm == "optuna":
        from ray.tune.search.optuna import OptunaSearch  # optional dependency: optuna

        return OptunaSearch(seed=sweep.search.seed)
    return None  # Ray's variant generator: grids crossed, other dimensions drawn


def _scheduler(sweep: SweepConfig, epochs: int):
    s = sweep.scheduler
    if s.kind == "none":
        return None
    return tune.schedulers.ASHAScheduler(
        time_attr="training_iteration",
        max_t=s.max_t or epochs,
        grace_period=s.grace_period,
        reduction_factor=s.reduction_factor,
    )


def run_sweep(
    sweep: SweepConfig,
    *,
    source: object,
    resume: bool = False,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: bool = True,
) -> SweepResult:
    """Check the space, then run (or ``resume``) the sweep; returns its summary and best model.

    ``progress`` shows trials finished and running and the best metric on stderr (Tune's own
    status tables, which went to stdout, are off).
    """
    sweep_dir = Path(os.path.abspath(sweep.output)) / sweep.name
    record_path = sweep_dir / SWEEP_RECORD
    if record_path.exists() and not resume:
        raise ConfigError(
            source, f"name: sweep {sweep_dir} exists; pass --resume to continue it, or choose another name"
        )
    if resume and not record_path.exists():
        raise ConfigError(source, f"--resume: no sweep at {sweep_dir} to resume")
    uri = sweep.tracking.uri or default_tracking_uri(sweep.output)
    base = trial_base(sweep, uri)
    check_space(sweep, base, source=source)
    base_config = validate_config(TrainConfig, base, source=source)
    ensure_ray(address, num_cpus)
    check_cluster(base_config, source, runs=sweep.search.max_concurrent, per_run_cpus=sweep.trial_cpus)

    if resume:
        parent_id = json.loads(record_path.read_text())["parent_run_id"]
    else:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        parent_id = open_run(
            uri,
            sweep.tracking.experiment,
            f"{sweep_dir.parent}/mlartifacts",
            sweep.name,
            flatten(sweep.model_dump(mode="json")),
        )
        (sweep_dir / "sweep.yaml").write_text(yaml.safe_dump(sweep.model_dump(mode="json"), sort_keys=False))
        Tracker(uri, parent_id).artifact(sweep_dir / "sweep.yaml")
        record_path.write_text(json.dumps({"parent_run_id": parent_id, "tracking_uri": uri}, indent=1))
    parent = Tracker(uri, parent_id)
    context = {
        "base": base,
        "trials_dir": str(sweep_dir / "trials"),
        "tracking_uri": uri,
        "experiment": sweep.tracking.experiment,
        "parent_run_id": parent_id,
        "metric": sweep.search.metric,
        "mode": sweep.search.mode,
    }
    trainable = tune.with_resources(tune.with_parameters(run_trial, context=context), {"CPU": sweep.trial_cpus})
    tune_dir = sweep_dir / "tune"
    if resume and tune.Tuner.can_restore(str(tune_dir)):
        tuner = tune.Tuner.restore(str(tune_dir), trainable=trainable, resume_unfinished=True, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=param_space(sweep.space),
            tune_config=tune.TuneConfig(
                metric=sweep.search.metric,
                mode=sweep.search.mode,
                num_samples=sweep.search.num_samples,
                search_alg=_searcher(sweep),
                scheduler=_scheduler(sweep, base_config.schedule.epochs),
                max_concurrent_trials=sweep.search.max_concurrent,
            ),
            run_config=tune.RunConfig(
                name="tune",
                storage_path=str(sweep_dir),
                verbose=0,
                callbacks=[SweepProgress(sweep.search.metric, sweep.search.mode, enabled=progress)],
            ),
        )
    ok = False
    try:
        grid = tuner.fit()
        ok = True
    finally:
        if not ok:
            parent.finish(False)
    return _conclude(sweep, sweep_dir, grid, parent, context, base_config.schedule.epochs)


def _trial_rows(sweep: SweepConfig, grid, context: dict, epochs: int) -> list[dict]:
    metric, keys = sweep.search.metric, list(sweep.space)
    rows = []
    for result in grid:
        last = result.metrics or {}
        trial_id = str(last.get("trial_id", ""))
        config = result.config or {}
        history = result.metrics_dataframe
        reports = 0 if history is None else len(history)
        values = [] if history is None or metric not in history else [v for v in history[metric].tolist() if v == v]
        best = (min(values) if sweep.search.mode == "min" else max(values)) if values else None
        record = Path(context["trials_dir"]) / trial_id / RUN_RECORD
        status = "error" if result.error else "finished" if last.get("epoch", 0) >= epochs else "stopped early"
        rows.append(
            {
                "trial": trial_id,
                "status": status,
                metric: best,
                "reports": reports,
                **{k: config.get(k) for k in keys},
                "_record": str(record),
            }
        )
    reverse = sweep.search.mode == "max"
    rows.sort(key=lambda r: (r[metric] is None, -(r[metric] or 0) if reverse else (r[metric] or 0)))
    return rows


def _conclude(sweep: SweepConfig, sweep_dir: Path, grid, parent: Tracker, context: dict, epochs: int) -> SweepResult:
    metric, keys = sweep.search.metric, list(sweep.space)
    rows = _trial_rows(sweep, grid, context, epochs)
    table = trial_table(rows, keys, metric)
    (sweep_dir / "trials.txt").write_text(table + "\n")
    parent.artifact(sweep_dir / "trials.txt")
    if any(r[metric] is not None for r in rows):
        save_sweep_plot(sweep_dir / "sweep.png", rows, keys, metric)
        parent.artifact(sweep_dir / "sweep.png")
    for row in rows:  # trials Tune stopped never closed their MLflow runs
        record = Path(row["_record"])
        if record.exists():
            run_id = json.loads(record.read_text())["mlflow_run_id"]
            parent.client.set_tag(run_id, "cryoray.trial_status", row["status"])
            if parent.client.get_run(run_id).info.status == RunStatus.to_string(RunStatus.RUNNING):
                parent.client.set_terminated(run_id, "KILLED")
    best = next((r for r in rows if r[metric] is not None), None)
    checkpoint = version = None
    if best is not None:
        parent.metrics({f"best/{metric}": best[metric]}, 0)
        checkpoint, version = _register_best(sweep, best, parent)
    parent.finish(True)
    return SweepResult(
        sweep_dir=str(sweep_dir),
        tracking_uri=context["tracking_uri"],
        parent_run_id=parent.run_id,
        best_trial=best["trial"] if best else None,
        best_metric=best[metric] if best else None,
        best_checkpoint=checkpoint,
        registered_model=sweep.register_as if version else None,
        registered_version=version,
        trials=[{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
        table=table,
    )


def _best_checkpoint(trial_dir: Path, metric: str, mode: str) -> Path | None:
    scored = []
    for folder in trial_dir.glob("checkpoint_*"):
        state = folder / "state.json"
        if state.exists():
            value = json.loads(state.read_text())["metrics"].get(metric)
            if value is not None:
                scored.append((value, folder))
    if not scored:
        return None
    return (min if mode == "min" else max)(scored, key=lambda s: s[0])[1]


def _register_best(sweep: SweepConfig, best: dict, parent: Tracker) -> tuple[str | None, str | None]:
    """Log the best trial's best checkpoint to its run as ``model/`` and register it (if asked)."""
    record = Path(best["_record"])
    if not record.exists():
        return None, None
    checkpoint = _best_checkpoint(record.parent, sweep.search.metric, sweep.search.mode)
    if checkpoint is None:
        return None, None
    run_id = json.loads(record.read_text())["mlflow_run_id"]
    client = parent.client
    staging = record.parent / "best_model"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(checkpoint, staging, ignore=shutil.ignore_patterns("training_state.pt"))
    client.log_artifacts(run_id, str(staging), "model")
    shutil.rmtree(staging)
    parent.client.set_tag(parent.run_id, "cryoray.best_trial", best["trial"])
    if not sweep.register_as:
        return str(checkpoint), None
    with contextlib.suppress(MlflowException):  # already registered by an earlier sweep: add a version
        client.create_registered_model(sweep.register_as)
    source = f"{client.get_run(run_id).info.artifact_uri}/model"
    version = client.create_model_version(
        sweep.register_as,
        source,
        run_id=run_id,
        tags={"sweep": sweep.name, "metric": sweep.search.metric, "value": str(best[sweep.search.metric])},
    )
    return str(checkpoint), str(version.version)
