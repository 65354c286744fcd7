"""Connecting to Ray (a cluster when one is named, else a local instance); progress on the terminal."""

from __future__ import annotations

from cryoray.runtime.progress import Progress
from cryoray.runtime.ray_cluster import ensure_ray, start_local_ray

__all__ = ["Progress", "ensure_ray", "start_local_ray"]
