"""Request limits: what is too large gets 413, what is malformed gets 400, both as ``{"error": ...}``.

Every check here runs before the work it protects: a map request takes a place among the
replica's :class:`InFlight` requests before its body is read (none free: 503 at once), the body
is counted while it streams in (a missing or false ``Content-Length`` does not help), and a
map's header is checked, on both its own grid and the grid the network will see, before its
voxels are read.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from cryoray.errors import InputError, MapTooLargeError
from cryoray.io.density_map import GridFrame
from cryoray.serve.config import LimitsConfig

__all__ = ["Busy", "InFlight", "LimitError", "check_chains", "check_frame", "read_body", "status_for"]


class LimitError(InputError):
    """A request above a configured limit (HTTP 413)."""


class Busy(Exception):
    """Every place for map requests in this replica is taken (HTTP 503 with Retry-After)."""


class InFlight:
    """Counts the map requests a replica works on and refuses any above ``limit`` (one event loop: no lock).

    Args:
        limit: map requests at a time (``limits.max_requests_in_flight``).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.peak = 0

    @contextmanager
    def place(self) -> Iterator[None]:
        """Hold one place while the block runs.

        Raises:
            Busy: all ``limit`` places are held.
        """
        if self.active >= self.limit:
            raise Busy(f"{self.active} map requests in flight, the limit of this replica")
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            yield
        finally:
            self.active -= 1


def status_for(error: InputError) -> int:
    """413 for requests above a limit, 400 for any other bad input."""
    return 413 if isinstance(error, (LimitError, MapTooLargeError)) else 400


async def read_body(request: object, limits: LimitsConfig) -> bytes:
    """The request body, refused (:class:`LimitError`) as soon as it passes ``max_request_bytes``."""
    limit = limits.max_request_bytes
    declared = request.headers.get("content-length")  # type: ignore[attr-defined]
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise InputError("request", f"Content-Length {declared[:32]!r} is not a number") from None
        if size > limit:
            raise LimitError("request", f"body of {size} bytes is above the limit of {limit} bytes")
    chunks = []
    total = 0
    async for chunk in request.stream():  # type: ignore[attr-defined]
        total += len(chunk)
        if total > limit:
            raise LimitError("request", f"body is above the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise InputError("request", "empty body: send the map's bytes")
    return body


def _check_grid(frame: GridFrame, limits: LimitsConfig, what: str) -> None:
    shape = frame.shape_xyz
    if max(shape) > limits.max_map_dimension:
        raise LimitError(
            "map", f"{what} has {shape} voxels (x, y, z), above the limit of {limits.max_map_dimension} per axis"
        )
    voxels = math.prod(shape)
    if voxels > limits.max_map_voxels:
        raise LimitError("map", f"{what} has {voxels} voxels, above the limit of {limits.max_map_voxels}")


def check_frame(frame: GridFrame, limits: LimitsConfig, voxel_size: float) -> None:
    """The map's grid and the grid it is resampled to (``voxel_size`` Å) are within the limits."""
    _check_grid(frame, limits, "the map")
    _check_grid(frame.with_voxel_size(voxel_size), limits, f"the map on the network's {voxel_size:g} Å grid")


def check_chains(chains: Sequence[tuple[str, str]], limits: LimitsConfig) -> None:
    """Chains and residues of a model-building request are within the limits."""
    if len(chains) > limits.max_chains:
        raise LimitError("sequence", f"{len(chains)} chains, above the limit of {limits.max_chains}")
    residues = sum(len(sequence) for _, sequence in chains)
    if residues > limits.max_sequence_length:
        raise LimitError("sequence", f"{residues} residues, above the limit of {limits.max_sequence_length}")
