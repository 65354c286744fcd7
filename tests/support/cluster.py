"""A real multi-node Ray cluster on this machine for tests: a head and worker nodes, each its own raylet.

:func:`multinode_cluster` starts a head (``ray start --head``) and two worker nodes (``ray start
--address=...``) the way a cloud cluster is started, with token authentication on. Each node has

- its own temp dir (``--temp-dir``, also its ``RAY_TMPDIR``): its own session folder, sockets, logs
  and runtime-env downloads (``working_dir``, ``py_modules``), so nodes share no Ray folder;
- its own environment marker (``CRYORAY_TEST_NODE=<hex>``) besides the cluster's
  (:func:`~tests.support.servers.cluster_marker`), so its processes (raylet, agents, workers) are
  found by process id and a single node can be killed while the others run on, and the whole
  cluster is stopped without touching any other Ray on the machine;
- a custom resource naming it (``{"node_a": 1}``), by which tests find its node id;
- its own ports (node manager, object manager, agents, metrics): other Ray instances run beside
  this one on the same machine (the session's ``ray_local``, other people's tests). Nodes are
  started with ``--node-ip-address=127.0.0.1``; Ray 2.60 still lists them under the machine's
  own address, which is as reachable.

The head has no CPUs, so every task, actor and Train worker runs on the worker nodes and the drivers
(``ray job submit`` entrypoints) stay on the head. Node deaths are noticed within about 3 s (the
GCS health check runs every second here, three misses declare a node dead; Ray's default is about
15 s). Checkpoints, stores and MLflow artefacts go to S3 (moto) in the tests that need the nodes
to share nothing: the S3 variables are in every node's environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.data import REPO
from tests.support.servers import _alive, cluster_marker, free_port, marked_pids, stop_test_cluster

__all__ = ["BIN", "WORKERS", "WORKER_CPUS", "Cluster", "Node", "last_json", "multinode_cluster", "put_s3"]

BIN = Path(sys.executable).parent
#: the worker nodes of :func:`multinode_cluster` and their CPUs (logical: the machine has 2 cores). Three
#: CPUs let a test force one task or actor per node by size (2 CPUs: never two on a node) and still
#: leave a CPU beside each for Ray Data's reads.
WORKERS = ("a", "b")
WORKER_CPUS = 3
OBJECT_STORE_BYTES = 100 * 1024**2
#: jobs run in the repository (the working dir) with cryoray shipped as a module, as on a cloud cluster
RUNTIME_ENV = {
    "py_modules": [str(REPO / "platform" / "cryoray")],
    "excludes": [".venv", "runs", ".git", "tests", "mlruns"],
}
#: GCS health checks: a node that misses 3 checks 1 s apart is dead (Ray's default: 5 × 3 s)
FAST_NODE_DEATH = {
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


@dataclass
class Node:
    """One node of the test cluster: its name (its custom resource is ``node_NAME``), temp dir and process marker."""

    name: str
    temp_dir: Path
    marker: dict[str, str]
    node_id: str | None = None

    def _needles(self) -> list[bytes]:
        return [f"{k}={v}".encode() + b"\0" for k, v in {**self.marker, "RAY_TMPDIR": str(self.temp_dir)}.items()]

    def pids(self) -> list[int]:
        """Live processes of this node: its raylet, agents and workers (by marker or open files under its temp dir)."""
        return _alive(marked_pids(self._needles(), str(self.temp_dir)))

    def kill(self, *, timeout: float = 30.0) -> list[int]:
        """SIGKILL every process of this node (a lost machine); returns the pids killed.

        Repeated until none is left: a worker being started meanwhile is killed too.
        """
        killed: list[int] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = self.pids()
            if not left:
                return killed
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.2)
        raise RuntimeError(f"node {self.name}: processes {self.pids()} survived SIGKILL for {timeout} s")

    def stop(self) -> int:
        """Stop this node's processes (SIGTERM, then SIGKILL); how many were found."""
        return stop_test_cluster(self.marker, str(self.temp_dir))


@dataclass
class Cluster:
    """A running test cluster: addresses, the clients' environment, and its nodes by name."""

    env: dict[str, str]
    marker: dict[str, str]
    gcs_address: str
    dashboard: str
    root: Path
    head: Node
    workers: dict[str, Node] = field(default_factory=dict)
    #: nodes killed or stopped (their node ids stay in the GCS as DEAD)
    gone: list[Node] = field(default_factory=list)

    def ray(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run the ``ray`` command line with the cluster's environment (token, S3)."""
        return subprocess.run([str(BIN / "ray"), *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def state(self, kind: str, *filters: str, limit: int = 10000) -> list[dict]:
        """``ray list KIND --detail`` as dicts (State API through the head's dashboard), e.g. ``state("tasks")``."""
        args = ["list", kind, "--address", self.dashboard, "--format", "json", "--detail", "--limit", str(limit)]
        for condition in filters:
            args += ["--filter", condition]
        done = self.ray(*args)
        if done.returncode != 0:
            raise RuntimeError(f"ray list {kind} failed: {done.stderr[-2000:]}")
        return json.loads(done.stdout)

    def submit(self, *entrypoint: str, submission_id: str | None = None, wait: bool = True) -> str:
        """``ray job submit`` ``entrypoint`` to the head (the repository as working dir); returns the submission id.

        With ``wait`` the call returns when the job has ended (see :meth:`job_status`).
        """
        submission_id = submission_id or f"t-{secrets.token_hex(4)}"
        args = [
            "job",
            "submit",
            "--address",
            self.dashboard,
            "--submission-id",
            submission_id,
            "--working-dir",
            str(REPO),
            "--runtime-env-json",
            json.dumps(RUNTIME_ENV),
            *([] if wait else ["--no-wait"]),
            "--",
            *entrypoint,
        ]
        for _ in range(10):  # the head's job agent may still be starting: Ray says to try again later
            done = self.ray(*args, timeout=900)
            if "No available agent to submit job" not in done.stdout + done.stderr:
                break
            time.sleep(2)
        if f"'{submission_id}'" not in done.stdout + done.stderr:
            raise RuntimeError(f"ray job submit failed: {done.stdout[-3000:]}{done.stderr[-3000:]}")
        return submission_id

    def job_status(self, submission_id: str) -> str:
        """``PENDING``, ``RUNNING``, ``SUCCEEDED``, ``FAILED`` or ``STOPPED`` (from ``ray job status``)."""
        done = self.ray("job", "status", "--address", self.dashboard, submission_id)
        text = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
        ended = re.search(rf"Job '{submission_id}' (succeeded|failed|was stopped)", text)
        if ended:
            return {"succeeded": "SUCCEEDED", "failed": "FAILED", "was stopped": "STOPPED"}[ended.group(1)]
        found = re.search(rf"Status for job '{submission_id}': (?:JobStatus\.)?(\w+)", text)
        if not found:
            raise RuntimeError(f"ray job status: {text[-2000:]}")
        return found.group(1)

    def wait_job(self, submission_id: str, timeout: float = 900.0) -> str:
        """Wait for the job to end; its final status."""
        end = {"SUCCEEDED", "FAILED", "STOPPED"}
        self.wait_for(lambda: self.job_status(submission_id) in end, f"job {submission_id}", timeout)
        return self.job_status(submission_id)

    def job_logs(self, submission_id: str) -> str:
        """The job's driver output (stdout and stderr of the entrypoint)."""
        return self.ray("job", "logs", "--address", self.dashboard, submission_id).stdout

    def job_id(self, submission_id: str) -> str:
        """The Ray job id (hex) of the driver of submission ``submission_id``, for State API filters."""
        for job in self.state("jobs"):
            if job.get("submission_id") == submission_id and job.get("job_id"):
                return job["job_id"]
        raise RuntimeError(f"no driver job for submission {submission_id}")

    def node_names(self) -> dict[str, str]:
        """Node id -> node name (``head``, ``a``, ``b``...), from each node's custom resource; dead nodes too."""
        names = {}
        for node in self.state("nodes"):
            for name in [self.head.name, *self.workers, *(n.name for n in self.gone)]:
                if f"node_{name}" in node.get("resources_total", {}):
                    names[node["node_id"]] = name
        return names

    def alive_workers(self) -> dict[str, str]:
        """Name -> node id of the worker nodes the GCS counts as alive (a killed node's namesake stays
        listed as DEAD beside its replacement, so a name alone does not pick one node)."""
        return {
            name: node["node_id"]
            for node in self.state("nodes")
            if node["state"] == "ALIVE"
            for name in self.workers
            if f"node_{name}" in node.get("resources_total", {})
        }

    def add_worker(self, name: str, *, num_cpus: float = WORKER_CPUS, wait: bool = True) -> Node:
        """Start a worker node ``name`` (resource ``node_NAME``) and wait until the GCS lists it."""
        node = _start_node(self.root, name, self.env, num_cpus, [f"--address={self.gcs_address}"])
        self.workers[name] = node
        if wait:
            self.wait_for(lambda: name in self.alive_workers(), f"node {name} to join")
        node.node_id = self.alive_workers()[name]
        return node

    def kill(self, name: str) -> list[int]:
        """Kill worker node ``name`` (raylet, agents, workers) by pid; it is no longer in :attr:`workers`."""
        node = self.workers.pop(name)
        self.gone.append(node)
        return node.kill()

    def wait_for(self, condition, what: str, timeout: float = 120.0) -> None:
        """Poll ``condition()`` every half second until true; fail naming ``what`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired, ValueError):
                if condition():
                    return
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {timeout} s waiting for {what}")

    def ensure_workers(self, names: tuple[str, ...] = WORKERS) -> None:
        """Start any of the worker nodes ``names`` that is not running (after a test killed it)."""
        alive = self.alive_workers()
        for name in names:
            if name not in alive:
                if name in self.workers:
                    self.workers.pop(name).stop()
                self.add_worker(name)

    def stop(self) -> None:
        """Stop every node of this cluster (workers first), only by their markers and temp dirs."""
        for node in [*self.workers.values(), *self.gone, self.head]:
            node.stop()
        stop_test_cluster(self.marker, str(self.root))  # anything left with the cluster's marker or files


def put_s3(url: str, data: bytes | str | dict) -> str:
    """Write ``data`` (bytes, text, or a dict as YAML) to ``url`` (``s3://``); returns the URL."""
    import s3fs
    import yaml

    if isinstance(data, dict):
        data = yaml.safe_dump(data, sort_keys=False)
    fs = s3fs.S3FileSystem()
    fs.pipe(url, data.encode() if isinstance(data, str) else data)
    fs.invalidate_cache()
    return url


def last_json(text: str) -> dict:
    """The last JSON object printed at the start of a line (what ``--json`` prints, after Ray's log lines)."""
    start = text.rindex("\n{\n") + 1 if "\n{\n" in text else text.index("{\n")
    return json.JSONDecoder().raw_decode(text[start:])[0]


def _start_node(root: Path, name: str, base_env: dict[str, str], num_cpus: float, role: list[str]) -> Node:
    """``ray start`` one node under ``root``; ``role`` is ``--head`` and its ports, or ``--address=HEAD``."""
    temp_dir = root / f"{name}{uuid.uuid4().hex[:4]}"  # fresh folder: a replacement never reuses a dead node's
    temp_dir.mkdir()
    marker = {"CRYORAY_TEST_NODE": uuid.uuid4().hex}
    env = {**base_env, **marker, "RAY_TMPDIR": str(temp_dir)}
    # Ports of its own for every server of the node: several raylets (and other people's Ray) share this machine.
    ports = ["node-manager", "object-manager", "dashboard-agent-listen", "dashboard-agent-grpc", "runtime-env-agent"]
    args = [
        str(BIN / "ray"),
        "start",
        *role,
        "--node-ip-address=127.0.0.1",
        f"--temp-dir={temp_dir}",
        f"--num-cpus={num_cpus:g}",
        f"--resources={json.dumps({f'node_{name}': 1})}",
        f"--object-store-memory={OBJECT_STORE_BYTES}",
        "--disable-usage-stats",
        *(f"--{port}-port={free_port()}" for port in [*ports, "metrics-export"]),
    ]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        stop_test_cluster(marker, str(temp_dir))
        raise RuntimeError(f"ray start ({name}) failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return Node(name, temp_dir, marker)


@contextlib.contextmanager
def multinode_cluster(
    s3: dict[str, str], workers: tuple[str, ...] = WORKERS, *, worker_cpus: float = WORKER_CPUS
) -> Iterator[Cluster]:
    """A head (0 CPUs) and worker nodes ``workers`` (``worker_cpus`` each) on this machine; stopped on exit.

    ``s3`` is the S3 environment (:func:`~tests.support.servers.s3_env`) every node and client gets.
    """
    root = Path(tempfile.mkdtemp(prefix="mn", dir="/tmp"))  # short: Ray's socket paths are limited
    gcs, dashboard = free_port(), free_port()
    marker = cluster_marker()
    env = {
        **os.environ,
        **marker,
        **s3,
        **FAST_NODE_DEATH,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }
    env.pop("RAY_ADDRESS", None)
    head_role = [
        "--head",
        f"--port={gcs}",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard}",
        f"--ray-client-server-port={free_port()}",
    ]
    cluster = None
    try:
        head = _start_node(root, "head", env, 0, head_role)
        cluster = Cluster(
            env={**env, "RAY_TMPDIR": str(head.temp_dir)},
            marker=marker,
            gcs_address=f"127.0.0.1:{gcs}",
            dashboard=f"http://127.0.0.1:{dashboard}",
            root=root,
            head=head,
        )
        for name in workers:
            cluster.add_worker(name, num_cpus=worker_cpus)
        head.node_id = next(i for i, n in cluster.node_names().items() if n == "head")
        yield cluster
    finally:
        if cluster is not None:
            cluster.stop()
        stop_test_cluster(marker, str(root))
        shutil.rmtree(root, ignore_errors=True)
