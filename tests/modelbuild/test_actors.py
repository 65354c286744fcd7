"""The Ray CPU actor pool runs alignments off the caller's process, in parallel, in order."""

from __future__ import annotations

import os

import numpy as np
import pytest
import ray

from cryoray.modelbuild import AlignmentJob, AlignmentPool, ThreadingConfig, thread_chains


def test_pool_runs_jobs_on_cpu_actors_in_order(ray_local, haemoglobin_case) -> None:
    case = haemoglobin_case
    chains = list(zip(case.chain_ids, case.sequences, strict=True))
    jobs = [
        AlignmentJob(case.states, chains, name="whole"),
        AlignmentJob(case.states, chains[1:2], ThreadingConfig(std_lambda=12.0), name="one chain"),
        AlignmentJob(case.states, chains[:1]),
    ]
    with AlignmentPool(2) as pool:
        pids = pool.worker_pids()
        assert len(set(pids)) == 2 and os.getpid() not in pids
        results = list(pool.map(jobs))
        single = ray.get(pool.submit(jobs[2]))
    assert [[c.chain_id for c in r.chains] for r in results] == [["A", "B", "C", "D"], ["B"], ["A"]]
    assert results[1].std_lambda == 12.0
    local = thread_chains(case.states, chains[:1])
    np.testing.assert_array_equal(results[2].chains[0].states, local.chains[0].states)
    np.testing.assert_array_equal(single.chains[0].states, local.chains[0].states)
    used = results[0].used_states()
    assert len(used) == len(np.unique(used)) == 566


def test_named_pools_share_their_actors(ray_local) -> None:
    first = AlignmentPool(1, name="cryoray-test-align")
    second = AlignmentPool(1, name="cryoray-test-align")
    try:
        assert first.worker_pids() == second.worker_pids()
    finally:
        first.shutdown()
    with pytest.raises(ValueError, match="at least 1"):
        AlignmentPool(0)
