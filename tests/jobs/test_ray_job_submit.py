"""`ray job submit` of the ingest job to a real local head (`ray start --head` on 127.0.0.1)."""

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

from cryoray.sample import haemoglobin
from cryoray.store import store_info
from tests.conftest import REPO
from tests.servers import cluster_marker, free_port, stop_test_cluster

BIN = Path(sys.executable).parent


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
        str(BIN / "ray"), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs}",
        "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", f"--ray-client-server-port={client}",
        # Ports of our own: another Ray on this machine (the session's `ray_local`) holds the
        # defaults, e.g. the dashboard agent's 52365, and the job agent would never come up.
        f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--runtime-env-agent-port={runtime_env_agent}", f"--metrics-export-port={metrics}",
        "--num-cpus=2", "--disable-usage-stats",
    ]
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=120)
    try:
        yield env, f"http://127.0.0.1:{dashboard}"
    finally:
        stop_test_cluster({**marker, "RAY_AUTH_TOKEN": env["RAY_AUTH_TOKEN"]}, str(tmp))
        shutil.rmtree(tmp, ignore_errors=True)


def test_ingest_job_runs_under_ray_job_submit(ray_head, tmp_path) -> None:
    env, address = ray_head
    entry = haemoglobin()
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "entry_id,map,model,sequence,resolution\n"
        f"{entry.entry_id},{entry.map},{entry.model},{entry.sequence},{entry.resolution}\n"
    )
    store = tmp_path / "job.zarr"
    runtime_env = {"py_modules": [str(REPO / "platform" / "cryoray")], "excludes": [".venv", "runs", ".git", "tests"]}
    submit = [
        str(BIN / "ray"), "job", "submit", "--address", address, "--working-dir", str(REPO),
        "--runtime-env-json", json.dumps(runtime_env),
        "--", "python", "jobs/ingest.py", str(manifest), "-o", str(store), "--json",
    ]
    for _ in range(5):  # the head's job agent may still be starting: Ray says to try again later
        done = subprocess.run(submit, env=env, capture_output=True, text=True, timeout=600)
        if "No available agent to submit job" not in done.stdout + done.stderr:
            break
        time.sleep(2)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "succeeded" in done.stdout + done.stderr
    info = store_info(store)
    assert info["n_entries"] == 1 and info["n_subgrids"] == 39
