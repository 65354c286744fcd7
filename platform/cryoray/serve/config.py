"""Settings of the Serve application (one YAML file for ``cryoray serve`` and ``serve run``).

Example (``cluster/serve_config.yaml`` names such a file)::

    host: 127.0.0.1            # bind address of Serve's HTTP proxy (loopback unless told otherwise)
    port: 8000
    models:                    # the registry: requests name a model, never a path
      c2s2: runs/c2s2/checkpoint_000020      # a checkpoint directory
      enhance: models:/cryoten/3             # or an MLflow registered model
    tracking_uri: sqlite:///runs/mlflow.db   # for registered models (else MLFLOW_TRACKING_URI)
    limits: {max_request_bytes: 67108864, max_map_voxels: 16777216, max_map_dimension: 512, max_sequence_length: 5000}
    batching: {max_batch_size: 16, batch_wait_timeout_s: 0.02, boxes_per_call: 4}
    infer: {device: auto, blend: gaussian}   # cryoray.infer.InferConfig
    build: {candidates: {threshold: 0.4}}    # cryoray.modelbuild.BuildConfig
    deployments: {ingress_replicas: 1, model_replicas: 1, model_num_cpus: 1, model_num_gpus: 0, alignment_actors: 1}
"""

from __future__ import annotations

import re

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from cryoray.config import Section
from cryoray.errors import ConfigError, InputError
from cryoray.infer.config import InferConfig
from cryoray.infer.reference import resolve_reference
from cryoray.modelbuild.config import BuildConfig

__all__ = ["BatchingConfig", "DeploymentsConfig", "LimitsConfig", "ServeConfig", "check_models"]

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class LimitsConfig(Section):
    """What one request may ask for; anything above gets 413 with a JSON error.

    Args:
        max_request_bytes: request body size (as sent, before any gzip is undone).
        max_map_voxels: voxels of the input map, and of the grid the network sees (after
            resampling to ``infer.voxel_size``): a coarse map can grow a lot on a 1 Å grid.
        max_map_dimension: voxels along any axis (of either grid).
        max_sequence_length: residues over all chains of a model-building request.
        max_chains: chains of a model-building request.
    """

    max_request_bytes: PositiveInt = 64 << 20
    max_map_voxels: PositiveInt = 256**3
    max_map_dimension: PositiveInt = 512
    max_sequence_length: PositiveInt = 10_000
    max_chains: PositiveInt = 64


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
        max_ongoing_requests: requests one ingress replica works on at a time (more wait in the proxy).
        model_replicas: replicas per model (each holds the network once).
        model_num_cpus / model_num_gpus: reserved per model replica (GPUs: set 1 on a GPU node).
        alignment_actors: CPU actors threading sequences (shared by all ingress replicas).
        alignment_num_cpus: CPUs reserved per alignment actor.
    """

    ingress_replicas: PositiveInt = 1
    ingress_num_cpus: float = Field(0.5, ge=0.0)
    max_ongoing_requests: PositiveInt = 64
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
