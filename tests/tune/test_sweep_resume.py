"""Kill a sweep's driver (and its Ray) after the first of its two trials finished; --resume completes
the sweep without re-running what finished."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.support.servers import cluster_marker, stop_test_cluster
from tests.support.training import small_sweep


def _finished_children(db: Path) -> list:
    # Only once the sweep has written its record: by then its driver has created the database
    # (opening it earlier would race the driver's schema migration).
    if not (db.parent / "s" / "cryoray_sweep.json").exists():
        return []
    client = MlflowClient(f"sqlite:///{db}")
    found = client.get_experiment_by_name("cryoray")
    if found is None:
        return []
    runs = client.search_runs([found.experiment_id], "tags.mlflow.parentRunId != ''")
    return [r for r in runs if r.info.status == "FINISHED"]


@pytest.mark.timeout(1500)
def test_killed_sweep_resumes_without_rerunning_finished_trials(sample_store, tmp_path) -> None:
    sweep = small_sweep(sample_store, tmp_path / "out", scheduler={"kind": "none"})
    sweep["space"] = {"optimizer.lr": {"grid": [1e-3, 3e-3]}}
    sweep["train"]["schedule"] = {"epochs": 2, "max_steps_per_epoch": 2}
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump(sweep))
    db = tmp_path / "out" / "mlflow.db"

    ray_tmp = Path(tempfile.mkdtemp(prefix="cs", dir="/tmp"))  # short: Ray's socket paths are limited
    marker = cluster_marker()
    env = {**os.environ, **marker, "RAY_TMPDIR": str(ray_tmp)}
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, "-m", "cryoray.cli.main", "-q", "tune", str(config), "--num-cpus", "2", "--json"]
    log = tmp_path / "first.log"
    try:
        with open(log, "wb") as out:
            child = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 900
        while not _finished_children(db) and time.monotonic() < deadline and child.poll() is None:
            time.sleep(1)
        assert child.poll() is None, f"sweep ended before it was killed:\n{log.read_text()[-2000:]}"
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        stop_test_cluster(marker, str(ray_tmp))
        finished = {r.info.run_id: r.data.tags["mlflow.runName"] for r in _finished_children(db)}
        assert len(finished) == 1

        done = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True, timeout=1200)
        assert done.returncode == 0, done.stderr[-3000:]
    finally:
        stop_test_cluster(marker, str(ray_tmp))
        shutil.rmtree(ray_tmp, ignore_errors=True)

    client = MlflowClient(f"sqlite:///{db}")
    runs = client.search_runs([client.get_experiment_by_name("cryoray").experiment_id], "tags.mlflow.parentRunId != ''")
    assert sorted(r.data.params["optimizer.lr"] for r in runs) == ["0.001", "0.003"]  # one run per trial
    for run_id in finished:  # a finished trial was not trained again
        steps = [m.step for m in client.get_metric_history(run_id, "val/loss")]
        assert steps == [0, 2, 4]
    assert sum(r.info.status == "FINISHED" for r in runs) == 2
