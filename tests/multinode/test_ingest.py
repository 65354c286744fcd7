"""Ingest on the multi-node cluster: one Ray task per entry, spread over both worker nodes."""

from __future__ import annotations

import pytest
import s3fs

from cryoray.store import store_info
from tests.support.cluster import last_json, put_s3
from tests.support.data import ENTRIES, SMALL, real

pytestmark = pytest.mark.slow


def test_ingest_spreads_entries_over_both_worker_nodes(nodes, bucket) -> None:
    """The two small real entries (EMD-3488, EMD-8249), read from S3 and written to a store on S3,
    are ingested by tasks on node a and node b (State API: the tasks' node ids).

    Costs about 40 s on the 2-core machine (135 s under heavy load): the job's start, two ~10 s
    entry tasks side by side, the splits.
    """
    fs = s3fs.S3FileSystem()
    rows = ["entry_id,map,model,sequence,resolution"]
    for entry in SMALL:
        *files, resolution = ENTRIES[entry]
        for relative in files:
            fs.put(str(real(relative)), f"s3://{bucket}/inputs/{relative}")
        rows.append(",".join([entry, *files, str(resolution)]))  # relative to the manifest
    manifest = put_s3(f"s3://{bucket}/inputs/manifest.csv", "\n".join(rows) + "\n")
    store = f"s3://{bucket}/stores/ingested.zarr"
    # Two CPUs per entry on nodes of three: the two entries' tasks cannot share a node, whatever
    # the scheduler's choice (Ray Data spreads tasks by default anyway).
    config = put_s3(f"s3://{bucket}/configs/ingest.yaml", {"ingest": {"cpus_per_entry": 2}})

    job = nodes.submit("python", "jobs/ingest.py", manifest, "-o", store, "--config", config, "--json")
    assert nodes.job_status(job) == "SUCCEEDED", nodes.job_logs(job)[-3000:]
    report = last_json(nodes.job_logs(job))
    assert sorted(report["ingested"]) == sorted(SMALL) and report["quarantined"] == []
    fs.invalidate_cache()
    info = store_info(store)
    assert info["n_entries"] == 2 and info["n_subgrids"] == report["n_subgrids"] == 39 + 22

    names = nodes.node_names()
    tasks = nodes.state("tasks", f"job_id={nodes.job_id(job)}", "func_or_class_name=_map_task")
    assert [t["state"] for t in tasks] == ["FINISHED", "FINISHED"], tasks
    assert sorted(names[t["node_id"]] for t in tasks) == ["a", "b"]
