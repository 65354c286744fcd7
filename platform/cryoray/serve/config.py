"""Settings of the Serve application (one YAML file for ``cryoray serve`` and ``serve run``).

Example (``cluster/serve_config.yaml`` names such a file)::

    host: 127.0.0.1            # bind address of Serve's HTTP proxy (loopback unless told otherwise)
    port: 8000
    models:                    # the registry: requests name a model, never a path
      c2s2: runs/c2s2/checkpoint_000020      # a checkpoint directory
      enhance: models:/cryoten/3             # or an MLflow registered model
    tracking_uri: sqlite:///runs/mlflow.db   # for registered models (else MLFLOW_TRACKING_URI)
    limits: {max_request_bytes: 67108864, max_map_voxels: 16777216, max_map_dimension: 512, max_sequence_length: 5000,
             memory_budget_mb: 8192, max_requests_in_flight: 4, request_timeout_s: 300, retry_after_s: 5}
    batching: {max_batch_size: 16, batch_wait_timeout_s: 0.02, boxes_per_call: 4}
    infer: {device: auto, blend: gaussian}   # cryoray.infer.InferConfig
    build: {candidates: {threshold: 0.4}}    # cryoray.modelbuild.BuildConfig
    deployments: {ingress_replicas: 1, model_replicas: 1, model_num_cpus: 1, model_num_gpus: 0, alignment_actors: 1}

Memory: one ingress replica stays within ``limits.memory_budget_mb``. The replica's own memory
(:data:`REPLICA_BASE_MB`) is reserved; the rest is shared by ``limits.max_requests_in_flight``
map requests (``/enhance``, ``/segment``, ``/build``), and a map request whose worst case
(:meth:`LimitsConfig.request_bytes`) does not fit its share gets 413. More map requests than
that get 503 with ``Retry-After`` at once, and one running longer than ``request_timeout_s`` 504.
"""

from __future__ import annotations

import re

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from cryoray.config import Section
from cryoray.errors import ConfigError, InputError
from cryoray.infer.config import InferConfig
from cryoray.infer.reference import resolve_reference
from cryoray.modelbuild.config import BuildConfig

__all__ = [
    "INPUT_BYTES_PER_VOXEL",
    "OUTPUT_BYTES_PER_VOXEL",
    "REPLICA_BASE_MB",
    "REQUEST_BASE_MB",
    "BatchingConfig",
    "DeploymentsConfig",
    "LimitsConfig",
    "ServeConfig",
    "check_models",
]

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


#: Memory of an ingress replica before any request (Python, torch, Ray, FastAPI; measured 0.6-0.7 GiB).
REPLICA_BASE_MB = 1024
#: Ingress memory of any map request besides its body and voxels (worker threads' arenas, buffers;
#: measured about 60 MiB).
REQUEST_BASE_MB = 64
#: Ingress bytes per voxel that every map request needs whatever it answers: the parsed map,
#: resampling to the network's grid, normalising, tiles (measured: tests/benchmarks/bench_serve_memory.py).
INPUT_BYTES_PER_VOXEL = 24
#: Ingress bytes per voxel and output channel: the stitched map, the map back on the input's grid,
#: its MRC bytes, the ZIP and the response on its way to the proxy.
OUTPUT_BYTES_PER_VOXEL = 12
_MIB = 1 << 20


class LimitsConfig(Section):
    """What one request may ask for (413 above), and how many map requests a replica takes (503 above).

    Args:
        max_request_bytes: request body size (as sent, before any gzip is undone).
        max_map_voxels: voxels of the input map, and of the grid the network sees (after
            resampling to the model's voxel size): a coarse map can grow a lot on a 1 Å grid.
            A request's own limit can be lower: its worst case must fit its share of the budget.
        max_map_dimension: voxels along any axis (of either grid).
        max_sequence_length: residues over all chains of a model-building request.
        max_chains: chains of a model-building request.
        memory_budget_mb: memory (RSS) one ingress replica stays within, its own included.
        max_requests_in_flight: map requests (enhance, segment, build) one ingress replica works
            on at a time; each gets an equal share of the budget; more get 503 with Retry-After.
        request_timeout_s: a map request not answered by then is cancelled and gets 504.
        retry_after_s: the ``Retry-After`` seconds of a 503.
    """

    max_request_bytes: PositiveInt = 64 << 20
    max_map_voxels: PositiveInt = 256**3
    max_map_dimension: PositiveInt = 512
    max_sequence_length: PositiveInt = 10_000
    max_chains: PositiveInt = 64
    memory_budget_mb: PositiveInt = 8192
    max_requests_in_flight: PositiveInt = 4
    request_timeout_s: PositiveFloat = 300.0
    retry_after_s: PositiveInt = 5

    @model_validator(mode="after")
    def _check_budget(self) -> LimitsConfig:
        if self.voxel_limit(1) < 1:
            raise ValueError(
                f"memory_budget_mb ({self.memory_budget_mb}) leaves no room for max_requests_in_flight "
                f"({self.max_requests_in_flight}) requests of max_request_bytes ({self.max_request_bytes}) "
                f"and {REQUEST_BASE_MB} MiB each besides the replica's own {REPLICA_BASE_MB} MiB"
            )
        return self

    @property
    def request_share_bytes(self) -> int:
        """Memory one map request may use: the budget less the replica's own, split between the requests."""
        return (self.memory_budget_mb - REPLICA_BASE_MB) * _MIB // self.max_requests_in_flight

    @staticmethod
    def request_bytes(voxels: int, channels: int, body_bytes: int) -> int:
        """Worst-case ingress memory of a map request: a base, its body, ``voxels`` (the larger grid) by channels."""
        return (
            REQUEST_BASE_MB * _MIB + body_bytes + voxels * (INPUT_BYTES_PER_VOXEL + channels * OUTPUT_BYTES_PER_VOXEL)
        )

    def voxel_limit(self, channels: int) -> int:
        """Voxels (on either grid) of a map request with ``channels`` output maps that fit its share."""
        room = self.request_share_bytes - self.request_bytes(0, channels, self.max_request_bytes)
        return min(self.max_map_voxels, room // (INPUT_BYTES_PER_VOXEL + channels * OUTPUT_BYTES_PER_VOXEL))

    def for_channels(self, channels: int) -> LimitsConfig:
        """These limits with ``max_map_voxels`` lowered to :meth:`voxel_limit` (one request's limits)."""
        return self.model_copy(update={"max_map_voxels": self.voxel_limit(channels)})


class BatchingConfig(Section):
    """How sub-grid predictions are batched across concurrent requests (``@serve.batch``).

    Args:
        max_batch_size: boxes per forward pass (over all requests that are waiting).
        batch_wait_timeout_s: how long a batch waits to fill up.
        boxes_per_call: boxes a request sends to the model deployment in one call.
        calls_in_flight: calls one request keeps waiting at a time (bounds its memory).
    """

    max_batch_size: PositiveInt = 16
    batch_wait_timeout_s: float = Field(0.02, ge=0.0, le=10.0)
    boxes_per_call: PositiveInt = 4
    calls_in_flight: PositiveInt = 8

    @model_validator(mode="after")
    def _check(self) -> BatchingConfig:
        if self.boxes_per_call > self.max_batch_size:
            raise ValueError(
                f"boxes_per_call ({self.boxes_per_call}) must not exceed max_batch_size ({self.max_batch_size})"
            )
        return self


class DeploymentsConfig(Section):
    """Replicas and resources.

    Args:
        ingress_replicas: HTTP replicas (tiling, stitching, encoding: CPU).
        ingress_num_cpus: CPUs reserved per ingress replica.
        max_ongoing_requests: requests of any kind one ingress replica takes at a time (above
            ``limits.max_requests_in_flight`` map requests it answers 503 at once; /health answers).
        max_queued_requests: requests waiting in each proxy for an ingress replica; more get 503
            with Retry-After from Serve itself.
        model_replicas: replicas per model (each holds the network once).
        model_num_cpus / model_num_gpus: reserved per model replica (GPUs: set 1 on a GPU node).
        alignment_actors: CPU actors threading sequences (shared by all ingress replicas).
        alignment_num_cpus: CPUs reserved per alignment actor.
    """

    ingress_replicas: PositiveInt = 1
    ingress_num_cpus: float = Field(0.5, ge=0.0)
    max_ongoing_requests: PositiveInt = 32
    max_queued_requests: PositiveInt = 64
    model_replicas: PositiveInt = 1
    model_num_cpus: float = Field(1.0, ge=0.0)
    model_num_gpus: float = Field(0.0, ge=0.0)
    alignment_actors: PositiveInt = 1
    alignment_num_cpus: PositiveFloat = 1.0


class ServeConfig(Section):
    """The whole Serve application: where it listens, its models, limits and resources.

    Args:
        host: bind address of the HTTP proxy; 127.0.0.1 unless set (``0.0.0.0`` exposes it).
        port: HTTP port.
        models: model name → reference (checkpoint directory or MLflow registered model),
            resolved when the application starts; requests choose among these names only.
        tracking_uri: MLflow tracking URI for registered models (default: MLFLOW_TRACKING_URI).
        name: the Serve application's name.
    """

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    name: str = "cryoray"
    models: dict[str, str]
    tracking_uri: str | None = None
    limits: LimitsConfig = LimitsConfig()
    batching: BatchingConfig = BatchingConfig()
    infer: InferConfig = InferConfig()
    build: BuildConfig = BuildConfig()
    deployments: DeploymentsConfig = DeploymentsConfig()

    @field_validator("models")
    @classmethod
    def _names(cls, models: dict[str, str]) -> dict[str, str]:
        if not models:
            raise ValueError("give at least one model (name: checkpoint directory or registered model)")
        bad = [name for name in models if not _MODEL_NAME.match(name)]
        if bad:
            raise ValueError(f"model names must be letters, digits, '.', '_' or '-' (at most 64): {bad}")
        return models


def check_models(config: ServeConfig) -> None:
    """Resolve every model reference now (a registered model is downloaded once), so a bad
    registry fails at startup rather than at the first request.

    Raises:
        ConfigError: naming ``models.NAME`` and why its reference cannot be used.
    """
    for name, ref in config.models.items():
        try:
            resolve_reference(ref, tracking_uri=config.tracking_uri)
        except InputError as exc:
            raise ConfigError(f"models.{name}", exc.reason) from None
