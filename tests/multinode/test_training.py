"""DDP training across nodes: one worker per worker node, the same curve as on one node; a node lost mid-run.

The runs are made deterministic so curves can be compared exactly, not statistically: every step
is one full batch of the 32 training sub-grids (16 per worker), without augmentation or dropout,
with the unweighted ``ce`` loss. Each worker's loss is the mean over its 16 sub-grids and DDP
averages the two gradients, so a step's gradient is the same whichever sub-grids land on which
worker, and validation (fixed order, split evenly between the workers, summed over them) sees
the same sub-grids each time. What is left is floating-point summation order.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import s3fs
from mlflow.tracking import MlflowClient

from cryoray.config import validate_config
from cryoray.errors import ConfigError
from cryoray.train import TrainConfig
from tests.support.cluster import Cluster, last_json, put_s3
from tests.support.models import tiny_model
from tests.support.training import small_config

#: relative tolerance on validation losses between runs (measured: up to 2e-6)
RTOL = 1e-5
EPOCHS = 4  # one full-batch step each


def ddp_config(store: str, bucket: str, mlflow_dir: Path, name: str, **workers: object) -> dict:
    """Two workers of half a CPU, full-batch steps, checkpoints on S3, MLflow metadata in a local sqlite file."""
    return small_config(
        store,
        f"s3://{bucket}/runs",
        name=name,
        data={"store": store, "val_fraction": 0.2, "augment": {"rot90": 0.0, "flip": 0.0}},
        model=tiny_model("unetr", img_size=32, num_heads=2, feature_size=8, dropout_rate=0.0),
        targets={"output": {"label": "atom", "loss": {"terms": [{"kind": "ce"}]}}},
        schedule={"epochs": EPOCHS, "max_steps_per_epoch": 1, "scheduler": "none"},
        batch_size=16,
        workers={"num_workers": 2, "cpus_per_worker": 0.5, "data_cpus": 1, **workers},
        tracking={"uri": f"sqlite:///{mlflow_dir}/mlflow.db"},
    )


def train(cluster: Cluster, config: dict, bucket: str) -> tuple[str, dict]:
    """Submit ``jobs/train.py`` on the config (uploaded to S3) and wait; the submission id and the result JSON."""
    url = put_s3(f"s3://{bucket}/configs/{config['name']}.yaml", config)
    job = cluster.submit("python", "jobs/train.py", url, "--json")
    logs = cluster.job_logs(job)
    assert cluster.job_status(job) == "SUCCEEDED", logs[-4000:]
    return job, last_json(logs)


def worker_groups(cluster: Cluster, job: str) -> list[list[str]]:
    """The job's Train worker groups (one placement group each), as the sorted names of their workers' nodes."""
    names = cluster.node_names()
    groups: dict[str, list[str]] = {}
    for actor in cluster.state("actors", f"job_id={cluster.job_id(job)}", "class_name=RayTrainWorker"):
        groups.setdefault(actor["placement_group_id"], []).append(names[actor["node_id"]])
    return sorted(sorted(nodes) for nodes in groups.values())


def val_curve(result: dict) -> dict[int, float]:
    client = MlflowClient(result["tracking_uri"])
    return {m.step: m.value for m in client.get_metric_history(result["mlflow_run_id"], "val/loss")}


def assert_same_curve(curve: dict[int, float], reference: dict[int, float]) -> None:
    assert sorted(curve) == sorted(reference) == list(range(EPOCHS + 1))
    for step, value in reference.items():
        assert abs(curve[step] - value) <= RTOL * abs(value), (step, curve[step], value)


def test_placement_strategy_is_pack_or_spread(tmp_path) -> None:
    """``workers.placement_strategy``: PACK by default, SPREAD on request, anything else refused by key."""
    config = small_config(tmp_path / "s.zarr", tmp_path)
    assert validate_config(TrainConfig, config, source="t.yaml").workers.placement_strategy == "PACK"
    config["workers"] = {"placement_strategy": "SPREAD"}
    assert validate_config(TrainConfig, config, source="t.yaml").workers.placement_strategy == "SPREAD"
    config["workers"] = {"placement_strategy": "STRICT_SPREAD"}
    with pytest.raises(ConfigError, match=r"t\.yaml: workers\.placement_strategy"):
        validate_config(TrainConfig, config, source="t.yaml")


@pytest.fixture(scope="module")
def single_node_run(cluster, s3_sample_store, bucket, tmp_path_factory) -> tuple[dict, Path]:
    """The reference: the run with PACK (the default), which puts both workers on one node.

    About 65 s on the 2-core machine (start-up, four steps), paid once for the module.
    """
    cluster.ensure_workers()
    mlflow_dir = tmp_path_factory.mktemp("mlflow")
    job, result = train(cluster, ddp_config(s3_sample_store, bucket, mlflow_dir, "single"), bucket)
    groups = worker_groups(cluster, job)
    assert len(groups) == 1 and groups[0] in (["a", "a"], ["b", "b"]), groups
    assert result["metrics"]["step"] == EPOCHS and result["metrics"]["epoch"] == EPOCHS
    assert result["checkpoint"].removeprefix("s3://").startswith(f"{bucket}/runs/single/")  # Ray gives S3 paths bare
    return result, mlflow_dir


@pytest.mark.slow
def test_ddp_one_worker_per_node_matches_single_node(single_node_run, nodes, s3_sample_store, bucket) -> None:
    """The same run with SPREAD puts one worker on node a and one on node b, and gives the single-node
    run's validation curve (steps 0-4) within RTOL (measured: identical at steps 0-1, 1e-6 relative after).

    Costs about 60 s on the 2-core machine (105 s under load): one training job, plus the module's
    single-node run.
    """
    single, mlflow_dir = single_node_run
    job, spread = train(
        nodes, ddp_config(s3_sample_store, bucket, mlflow_dir, "spread", placement_strategy="SPREAD"), bucket
    )
    assert worker_groups(nodes, job) == [["a", "b"]]
    assert spread["metrics"]["step"] == EPOCHS and spread["metrics"]["epoch"] == EPOCHS
    assert spread["checkpoint"].removeprefix("s3://").startswith(f"{bucket}/runs/spread/")
    curve, reference = val_curve(spread), val_curve(single)
    assert_same_curve(curve, reference)
    assert reference[EPOCHS] < reference[0]  # it learns


@pytest.mark.slow
def test_node_lost_mid_training_restores_on_the_remaining_node(single_node_run, nodes, s3_sample_store, bucket) -> None:
    """SPREAD over nodes a and b; once the Train controller has registered a checkpoint, node b is killed
    (its raylet, agents and workers: SIGKILL by pid). The worker group restarts from that checkpoint on
    the remaining capacity (both workers on node a: 2 × 0.5 CPU, CPUs left for reads), the run ends at
    step 4 and its validation curve is the single-node run's within RTOL.

    Costs about 100 s on the 2-core machine (240 s under heavy load): one training job with a
    restart (node death is noticed within ~3 s), plus the module's single-node run.
    """
    single, mlflow_dir = single_node_run
    config = ddp_config(s3_sample_store, bucket, mlflow_dir, "lost-node", placement_strategy="SPREAD")
    url = put_s3(f"s3://{bucket}/configs/lost-node.yaml", config)
    fs = s3fs.S3FileSystem()
    snapshot = f"{bucket}/runs/lost-node/checkpoint_manager_snapshot.json"
    killed: list[int] = []

    def registered() -> int:
        """Checkpoints the Train controller has registered (its snapshot on S3), not merely written:
        a worker group killed before that restarts from scratch."""
        fs.invalidate_cache()
        try:
            return len(json.loads(fs.cat_file(snapshot)).get("checkpoint_results", []))
        except (OSError, ValueError):  # not written yet, or caught mid-write
            return 0

    def kill_after_first_checkpoint() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not killed:
            if registered() >= 1:
                killed.extend(nodes.kill("b"))
            time.sleep(0.3)

    job = nodes.submit("python", "jobs/train.py", url, "--json", wait=False)
    killer = threading.Thread(target=kill_after_first_checkpoint, daemon=True)
    killer.start()
    status = nodes.wait_job(job, timeout=900)
    killer.join(timeout=5)
    logs = nodes.job_logs(job)
    assert killed, "node b was never killed"
    assert status == "SUCCEEDED", logs[-4000:]
    result = last_json(logs)
    assert result["metrics"]["step"] == EPOCHS and result["metrics"]["epoch"] == EPOCHS

    restored = MlflowClient(result["tracking_uri"]).get_metric_history(result["mlflow_run_id"], "restored_from_step")
    assert restored and all(1 <= m.value < EPOCHS for m in restored), restored
    # The first worker group spread over a and b; every restarted one (one, unless a restart
    # raced the node's death) has both workers on a.
    groups = worker_groups(nodes, job)
    assert ["a", "b"] in groups and len(groups) >= 2, groups
    assert all(group == ["a", "a"] for group in groups if group != ["a", "b"]), groups
    assert_same_curve(val_curve(result), val_curve(single))
