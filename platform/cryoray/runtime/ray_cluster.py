"""One rule for where work runs: an address (or RAY_ADDRESS) joins a cluster, else Ray starts locally."""

from __future__ import annotations

import os

import ray

__all__ = ["ensure_ray"]


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect this process to Ray unless it already is.

    Args:
        address: cluster address; default RAY_ADDRESS (set inside ``ray job submit`` jobs).
        num_cpus: CPUs of a local instance (ignored when joining a cluster); default all.
    """
    if ray.is_initialized():
        return
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address, log_to_driver=False)
    else:
        # The dashboard serves the State API, which Ray Train's placement-group cleaner needs:
        # without it, a run stopped from outside (a Tune trial cut by ASHA) leaves its workers'
        # CPUs reserved, and the next run's data reads wait for them forever.
        ray.init(num_cpus=num_cpus, include_dashboard=True, dashboard_host="127.0.0.1", log_to_driver=False)
