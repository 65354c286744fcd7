"""Batch inference on the multi-node cluster: a predictor actor on each worker node; a node lost mid-run.

Inputs, the batch config and the outputs are on S3. The model is the random-weight UNETR++ test
checkpoint (16³ boxes, one regression head) in a local folder: predict-batch resolves model
references on the driver and its actors load that folder, so on a real cluster it must be on
shared storage (cluster/README.md); here every node is on this machine.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import s3fs

from cryoray.io import read_map
from tests.support.cluster import Cluster, last_json, put_s3
from tests.support.data import REAL_MAPS, real

#: small real maps (the spike NTD segment: the same voxels with the position in ORIGIN, in NSTART, and none)
MAPS = {"EMD-21457": "21457-origin", "EMD-21457-nstart": "21457-nstart", "EMD-21457-orig0": "21457-orig0"}
pytestmark = pytest.mark.slow

SETTINGS = {
    "infer": {"batch_size": 16, "device": "cpu"},
    "outputs": {"maps": "all"},
    # Two CPUs per predictor on nodes of three: never two predictors on one node, and a CPU left
    # beside each for the read and write tasks.
    "actors": {"predictors": 2, "cpus_per_predictor": 2, "read_cpus": 0.5, "finish_cpus": 0.25},
    "retries": 1,
}


def manifest(bucket: str, name: str, copies: int = 1) -> tuple[str, dict[str, str]]:
    """Upload the maps and a manifest of ``copies`` entries per map; (manifest URL, entry -> map label)."""
    fs = s3fs.S3FileSystem()
    entries = {f"{e}-{i}" if i else e: label for e, label in MAPS.items() for i in range(copies)}
    for label in set(entries.values()):
        fs.put(str(real(REAL_MAPS[label])), f"s3://{bucket}/batch-inputs/{REAL_MAPS[label]}")
    rows = "".join(f"{e},{REAL_MAPS[label]}\n" for e, label in entries.items())
    return put_s3(f"s3://{bucket}/batch-inputs/{name}.csv", "entry_id,map\n" + rows), entries


def predict(cluster: Cluster, bucket: str, source: str, output: str, checkpoint, *, wait: bool = True) -> str:
    config = put_s3(f"s3://{bucket}/configs/batch.yaml", SETTINGS)
    entrypoint = ["python", "jobs/infer.py", source, "-o", output, "--model", str(checkpoint), "--config", config]
    return cluster.submit(*entrypoint, "--json", wait=wait)


def predictor_nodes(cluster: Cluster, job: str) -> list[tuple[str, dict]]:
    """(node name, actor record) of each predictor actor of the job (Ray Data's map worker holding PredictActor)."""
    names = cluster.node_names()
    actors = cluster.state("actors", f"job_id={cluster.job_id(job)}")
    return [(names[a["node_id"]], a) for a in actors if "PredictActor" in json.dumps(a)]


def check_outputs(output: str, entries: dict[str, str]) -> None:
    """Every entry complete: its map on the input's grid and its summary; no other file anywhere."""
    fs = s3fs.S3FileSystem()
    fs.invalidate_cache()
    prefix = output.removeprefix("s3://")
    found = {path.removeprefix(prefix + "/") for path in fs.find(prefix)}
    expected = {f"{e}/{name}" for e in entries for name in ("output.mrc", "summary.json")}
    assert found == expected | {"failures.json", "run_summary.json"}, sorted(found ^ expected)
    for entry, label in entries.items():
        enhanced = read_map(f"{output}/{entry}/output.mrc")
        assert enhanced.frame.same_as(read_map(real(REAL_MAPS[label])).frame), entry
        assert np.isfinite(enhanced.data).all()
        assert json.loads(fs.cat_file(f"{prefix}/{entry}/summary.json"))["status"] == "done"


def test_predictors_on_both_nodes(nodes, bucket, enhance_checkpoint) -> None:
    """``actors.predictors=2``: one predictor actor on node a, one on node b (State API); every
    entry's enhanced map is on its input's grid.

    Costs about 65 s on the 2-core machine (85 s under load): the job's start, three small maps.
    """
    source, entries = manifest(bucket, "three")
    output = f"s3://{bucket}/predictions/both"
    job = predict(nodes, bucket, source, output, enhance_checkpoint)
    logs = nodes.job_logs(job)
    assert nodes.job_status(job) == "SUCCEEDED", logs[-4000:]
    report = last_json(logs)
    assert sorted(report["done"]) == sorted(entries) and report["failed"] == []
    assert sorted(node for node, _ in predictor_nodes(nodes, job)) == ["a", "b"]
    check_outputs(output, entries)


def test_node_lost_mid_run_entries_rerun_nothing_half_written(nodes, bucket, enhance_checkpoint) -> None:
    """Node b (a predictor, read and write tasks) is killed by pid once the first entry is written,
    and a replacement node b joins: the work lost with the node is re-run (Ray retries the tasks
    and reconstructs lost blocks), and every entry ends done with complete outputs in the one run;
    no file is half written or left over.

    Costs about 90 s on the 2-core machine (280 s under heavy load): the job's start, six small maps,
    a node's death and a new node's start.
    """
    source, entries = manifest(bucket, "six", copies=2)
    output = f"s3://{bucket}/predictions/lost-node"
    fs = s3fs.S3FileSystem()
    killed: list[int] = []
    lost = nodes.workers["b"].node_id

    def kill_after_first_entry() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not killed:
            fs.invalidate_cache()
            if fs.glob(f"{output.removeprefix('s3://')}/*/summary.json"):
                killed.extend(nodes.kill("b"))
            time.sleep(0.3)

    killer = threading.Thread(target=kill_after_first_entry, daemon=True)
    killer.start()
    job = predict(nodes, bucket, source, output, enhance_checkpoint, wait=False)
    killer.join(timeout=600)
    assert killed, "node b was never killed"
    replacement = nodes.add_worker("b").node_id
    status = nodes.wait_job(job, timeout=900)
    logs = nodes.job_logs(job)
    assert status == "SUCCEEDED", logs[-4000:]
    report = last_json(logs)
    assert sorted(report["done"]) == sorted(entries) and report["failed"] == [], report
    check_outputs(output, entries)

    # Node b had a predictor when it died. Whether Ray restarts that actor (and where) or the other
    # predictor finishes the work alone depends on timing (CI has seen each); the outcome asserted
    # above is what matters: every entry done, complete, once.
    # The State API lists a restarted actor under its new node, with its restart count.
    predictors = sorted((a["node_id"], a.get("num_restarts", 0)) for _, a in predictor_nodes(nodes, job))
    on_b_then = any(node == lost or restarts > 0 for node, restarts in predictors)
    assert len(predictors) == 2 and on_b_then, (predictors, lost, replacement)
    # Work was in flight on b when it died (the predictor's queued batches at least), and was re-run.
    failed_on_lost = [
        t["name"]
        for t in nodes.state("tasks", f"job_id={nodes.job_id(job)}")
        if t.get("node_id") == lost and t["state"] == "FAILED"
    ]
    assert failed_on_lost, "nothing was running on node b when it was killed"
