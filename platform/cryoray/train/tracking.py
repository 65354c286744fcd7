"""MLflow tracking: the driver opens the run, rank 0 logs metrics and pictures into it."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient

__all__ = ["Tracker", "default_tracking_uri", "flatten", "open_run"]


def default_tracking_uri(output: str) -> str:
    """An embedded sqlite database beside the runs (``OUTPUT/mlflow.db``)."""
    if "://" in output:
        raise ValueError(f"output {output} is remote: set tracking.uri to an MLflow server or database")
    return f"sqlite:///{os.path.abspath(os.path.join(output, 'mlflow.db'))}"


def flatten(config: Mapping, prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}`` (MLflow params are flat strings)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:6000]
    return flat


def open_run(
    uri: str,
    experiment: str,
    artifact_root: str,
    run_name: str,
    params: Mapping[str, str],
    run_id: str | None = None,
    parent_run_id: str | None = None,
) -> str:
    """Create the run (or reopen ``run_id`` when resuming) and log its params; returns its id.

    With ``parent_run_id`` the run is that run's child (a sweep trial under its sweep).
    """
    client = MlflowClient(uri)
    if run_id is not None:
        client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
        return run_id
    found = client.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id if found else client.create_experiment(experiment, artifact_location=artifact_root)
    )
    tags = {"mlflow.parentRunId": parent_run_id} if parent_run_id else None
    run = client.create_run(experiment_id, run_name=run_name, tags=tags)
    items = [Param(k, v) for k, v in params.items()]
    for start in range(0, len(items), 100):
        client.log_batch(run.info.run_id, params=items[start : start + 100])
    return run.info.run_id


class Tracker:
    """Logging into one MLflow run (metrics by step, files as artifacts)."""

    def __init__(self, uri: str, run_id: str) -> None:
        self.client = MlflowClient(uri)
        self.run_id = run_id

    def metrics(self, values: Mapping[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, step) for k, v in values.items()])

    def artifact(self, path: Path, folder: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), folder)

    def history(self, key: str) -> list[tuple[int, float]]:
        return [(m.step, m.value) for m in self.client.get_metric_history(self.run_id, key)]

    def finish(self, ok: bool) -> None:
        self.client.set_terminated(self.run_id, "FINISHED" if ok else "FAILED")
