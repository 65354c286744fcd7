"""A Tune sweep on the multi-node cluster: two trials at once, one on each worker node."""

from __future__ import annotations

import pytest

from tests.support.cluster import last_json, put_s3
from tests.support.training import small_sweep

pytestmark = pytest.mark.slow


def test_sweep_runs_trials_on_both_nodes(nodes, s3_sample_store, bucket, tmp_path) -> None:
    """Two trials (``ce`` and ``weighted_ce``) at once (``max_concurrent: 2``) on the sample store on S3;
    each trial's Train worker takes 1.6 CPUs, so two never fit on one node of three CPUs: their
    workers run on node a and node b (State API), and both trials finish.

    The sweep's own folder (Tune's state, trial runs) is local: a sweep writes to a local or
    mounted folder (SweepConfig refuses s3://), i.e. a shared file system on a real cluster.

    Costs about 85 s on the 2-core machine: the job's start, two trials of two steps side by side.
    """
    sweep = small_sweep(
        s3_sample_store,
        tmp_path / "sweeps",
        space={"targets.output.loss": {"grid": [{"terms": [{"kind": "ce"}]}, {"terms": [{"kind": "weighted_ce"}]}]}},
        search={"metric": "val/output/macro_f1", "mode": "max", "max_concurrent": 2},
        scheduler={"kind": "none"},
        tracking={"uri": f"sqlite:///{tmp_path}/mlflow.db"},
        register_as="multinode-best",
    )
    sweep["train"]["data"]["store"] = s3_sample_store
    sweep["train"]["schedule"] = {"epochs": 1, "max_steps_per_epoch": 2}
    sweep["train"]["workers"] = {"cpus_per_worker": 1.6, "data_cpus": 1}
    config = put_s3(f"s3://{bucket}/configs/sweep.yaml", sweep)

    job = nodes.submit("python", "jobs/tune.py", config, "--json")
    logs = nodes.job_logs(job)
    assert nodes.job_status(job) == "SUCCEEDED", logs[-4000:]
    result = last_json(logs)
    assert len(result["trials"]) == 2 and result["best_trial"] is not None, result["table"]
    assert result["registered_model"] == "multinode-best"

    names = nodes.node_names()
    workers = nodes.state("actors", f"job_id={nodes.job_id(job)}", "class_name=RayTrainWorker")
    assert sorted(names[w["node_id"]] for w in workers) == ["a", "b"], workers
