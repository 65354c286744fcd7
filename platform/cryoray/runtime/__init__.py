"""Connecting to Ray: a cluster when one is named, else a local instance."""

from __future__ import annotations

from cryoray.runtime.ray_cluster import ensure_ray, start_local_ray

__all__ = ["ensure_ray", "start_local_ray"]
