"""Local Ray as cryoray starts it: its workers find their own cluster, whatever else runs beside it."""

from __future__ import annotations

import os

import ray


@ray.remote(num_cpus=0)
def _state_api_view() -> tuple[str, str, list[str]]:
    """What a worker (like Ray Train's placement-group cleaner) sees through the State API."""
    from ray.util.state import list_actors

    names = [a.name for a in list_actors(filters=[("state", "=", "ALIVE")])]
    return ray.get_runtime_context().gcs_address, os.environ.get("RAY_ADDRESS", ""), names


@ray.remote(num_cpus=0)
class _Marker:
    def ping(self) -> bool:
        return True


def test_workers_reach_their_own_cluster_through_the_state_api(ray_local) -> None:
    marker = _Marker.options(name="cryoray-test-marker").remote()
    assert ray.get(marker.ping.remote())
    gcs, address, names = ray.get(_state_api_view.remote())
    assert address == gcs  # not discovered by scanning the machine (which fails beside another Ray)
    assert "cryoray-test-marker" in names
    ray.kill(marker)
