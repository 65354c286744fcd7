"""One rule for where work runs: an address (or RAY_ADDRESS) joins a cluster, else Ray starts locally."""

from __future__ import annotations

import os
import socket

import ray

__all__ = ["ensure_ray", "start_local_ray"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_local_ray(num_cpus: int | None = None, **init_kwargs: object) -> str:
    """Start a local Ray instance that its own workers can always find again; returns its address.

    With the dashboard (the State API): Ray Train's placement-group cleaner asks it whether a
    run's controller is still alive, and without an answer a run stopped from outside (a Tune
    trial cut by ASHA) keeps its workers' CPUs reserved, so the next run's data reads wait
    forever. The State API finds its cluster by ``RAY_ADDRESS``, else by scanning the machine's
    processes, which fails ("multiple active Ray instances") wherever another Ray runs beside
    ours; so the GCS gets a known port and every worker of this job gets it as ``RAY_ADDRESS``.
    """
    port = _free_port()
    address = f"{ray.util.get_node_ip_address()}:{port}"
    saved = os.environ.get("RAY_GCS_SERVER_PORT")
    os.environ["RAY_GCS_SERVER_PORT"] = str(port)  # read by the head node as it starts
    try:
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=True,
            dashboard_host="127.0.0.1",
            log_to_driver=False,
            runtime_env={"env_vars": {"RAY_ADDRESS": address}},
            **init_kwargs,
        )
    finally:
        if saved is None:
            os.environ.pop("RAY_GCS_SERVER_PORT", None)
        else:
            os.environ["RAY_GCS_SERVER_PORT"] = saved
    return address


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
        start_local_ray(num_cpus)
