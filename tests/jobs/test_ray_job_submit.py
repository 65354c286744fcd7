"""`ray job submit` of the ingest and training jobs to a real local head (`ray start --head` on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from cryoray.sample import haemoglobin
from cryoray.store import store_info
from tests.support.data import REPO
from tests.support.servers import cluster_marker, free_port, stop_test_cluster
from tests.support.training import small_config

BIN = Path(sys.executable).parent
HEAD_CPUS = 2  # the head's CPUs: the training job must fit its workers and data reads in them
#: the repository as the jobs' working dir, with cryoray itself shipped as a module
RUNTIME_ENV = {"py_modules": [str(REPO / "platform" / "cryoray")], "excludes": [".venv", "runs", ".git", "tests"]}


@pytest.fixture(scope="module")
def ray_head() -> Iterator[tuple[dict[str, str], str]]:
    """A head node of our own, stopped through its unique markers (never a machine-wide stop)."""
    tmp = Path(tempfile.mkdtemp(prefix="rh", dir="/tmp"))  # short: Ray's socket paths are limited
    gcs, dashboard, client, agent, agent_grpc, runtime_env_agent, metrics = (free_port() for _ in range(7))
    marker = cluster_marker()
    env = {
        **os.environ,
        **marker,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "RAY_TMPDIR": str(tmp),
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }
    env.pop("RAY_ADDRESS", None)
    start = [
        str(BIN / "ray"),
        "start",
        "--head",
        "--node-ip-address=127.0.0.1",
        f"--port={gcs}",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard}",
        f"--ray-client-server-port={client}",
        # Ports of our own: another Ray on this machine (the session's `ray_local`) holds the
        # defaults, e.g. the dashboard agent's 52365, and the job agent would never come up.
        f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--runtime-env-agent-port={runtime_env_agent}",
        f"--metrics-export-port={metrics}",
        f"--num-cpus={HEAD_CPUS}",
        "--disable-usage-stats",
    ]
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=120)
    try:
        yield env, f"http://127.0.0.1:{dashboard}"
    finally:
        stop_test_cluster({**marker, "RAY_AUTH_TOKEN": env["RAY_AUTH_TOKEN"]}, str(tmp))
        shutil.rmtree(tmp, ignore_errors=True)


def _ray(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "ray"), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _submit(
    env: dict[str, str], address: str, *entrypoint: str, submission_id: str | None = None
) -> subprocess.CompletedProcess:
    """`ray job submit` (waits for the job to end, tailing its logs) with the repository as working dir."""
    ids = ["--submission-id", submission_id] if submission_id else []
    args = [
        "job",
        "submit",
        "--address",
        address,
        *ids,
        "--working-dir",
        str(REPO),
        "--runtime-env-json",
        json.dumps(RUNTIME_ENV),
        "--",
        *entrypoint,
    ]
    for _ in range(5):  # the head's job agent may still be starting: Ray says to try again later
        done = _ray(env, *args, timeout=600)
        if "No available agent to submit job" not in done.stdout + done.stderr:
            break
        time.sleep(2)
    return done


def _last_json(text: str) -> dict:
    """The last JSON object printed at the start of a line (what ``--json`` prints, after Ray's log lines)."""
    start = text.rindex("\n{\n") + 1 if "\n{\n" in text else text.index("{\n")
    return json.JSONDecoder().raw_decode(text[start:])[0]


def test_ingest_job_runs_under_ray_job_submit(ray_head, tmp_path) -> None:
    env, address = ray_head
    entry = haemoglobin()
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "entry_id,map,model,sequence,resolution\n"
        f"{entry.entry_id},{entry.map},{entry.model},{entry.sequence},{entry.resolution}\n"
    )
    store = tmp_path / "job.zarr"
    done = _submit(env, address, "python", "jobs/ingest.py", str(manifest), "-o", str(store), "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "succeeded" in done.stdout + done.stderr
    info = store_info(store)
    assert info["n_entries"] == 1 and info["n_subgrids"] == 39


def test_training_job_runs_under_ray_job_submit(ray_head, sample_store, tmp_path) -> None:
    env, address = ray_head
    # Absolute paths: the job runs in Ray's copy of the working dir, not here.
    output = (tmp_path / "runs").resolve()
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(small_config(Path(sample_store).resolve(), output)))
    job_id = f"train-{secrets.token_hex(4)}"
    sets = {
        "name": "submitted",
        "schedule.epochs": 1,
        "schedule.max_steps_per_epoch": 2,
        "batch_size": 4,
        # One worker and the data reads must fit the head's CPUs, or training refuses the config.
        "workers.num_workers": 1,
        "workers.cpus_per_worker": HEAD_CPUS - 1,
        "workers.data_cpus": 1,
    }
    args = [arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]
    done = _submit(
        env, address, "python", "jobs/train.py", str(config.resolve()), *args, "--json", submission_id=job_id
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    status = _ray(env, "job", "status", "--address", address, job_id)
    assert f"Job '{job_id}' succeeded" in status.stdout + status.stderr, (
        status.stdout[-3000:] + status.stderr[-3000:]
    )  # SUCCEEDED

    logs = _ray(env, "job", "logs", "--address", address, job_id)
    assert logs.returncode == 0, logs.stderr[-3000:]
    result = _last_json(logs.stdout)
    assert result["run_dir"] == f"{output}/submitted"
    assert result["metrics"]["step"] == 2 and result["metrics"]["epoch"] == 1
    assert result["metrics"]["val/loss"] > 0

    # A checkpoint of safetensors weights under OUTPUT/NAME, the one the job reported.
    checkpoint = Path(result["checkpoint"])
    assert checkpoint.is_relative_to(output / "submitted")
    assert (checkpoint / "model.safetensors").is_file()
    assert list((output / "submitted").rglob("model.safetensors"))

    # The MLflow run in OUTPUT/mlflow.db finished, with the validation loss the job reported.
    assert result["tracking_uri"] == f"sqlite:///{output}/mlflow.db"
    client = MlflowClient(f"sqlite:///{output / 'mlflow.db'}")
    run = client.get_run(result["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["val/loss"] == pytest.approx(result["metrics"]["val/loss"])
    # Validated after the last of its 2 steps (the loop may also log an untrained baseline at step 0).
    history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "val/loss")}
    assert max(history) == 2 and history[2] == pytest.approx(result["metrics"]["val/loss"])
