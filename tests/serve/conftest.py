"""The Serve application on the session's local Ray, on 127.0.0.1 at a free port, with tiny random-weight models."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from cryoray.serve import ServeConfig
from tests.infer.conftest import CE, TINY_SEGFORMER, TINY_UNETRPP, write_checkpoint
from tests.servers import free_port

#: Small enough for a loaded 2-core machine: the network sees a 4 Å grid (the sample: 27³ voxels).
LIMITS = {"max_request_bytes": 4 << 20, "max_map_voxels": 200**3, "max_map_dimension": 128, "max_sequence_length": 1000}


@dataclass(frozen=True)
class Served:
    url: str
    config: ServeConfig

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=120, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.url + path, timeout=300, **kwargs)


@pytest.fixture(scope="session")
def serve_models(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("serve-models")
    seg = {"atom": {"label": "atom", "loss": CE}, "amino_acid": {"label": "amino_acid", "loss": CE}}
    enh = {"output": {"label": "simulated", "loss": {"terms": [{"kind": "masked_mse"}]}}}
    return {
        "c2s2": str(write_checkpoint(root / "segformer", TINY_SEGFORMER, seg)),
        "enhance": str(write_checkpoint(root / "unetrpp", TINY_UNETRPP, enh)),
    }


def candidate_threshold(checkpoint: str, voxel_size: float) -> float:
    """A P(Cα) threshold that a random network passes at a few hundred voxels of the sample."""
    import numpy as np

    from cryoray.infer import InferConfig, Predictor, predict_map
    from cryoray.io import read_map
    from cryoray.sample import haemoglobin

    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    prediction = predict_map(
        read_map(haemoglobin().map), predictor, InferConfig(device="cpu", voxel_size=voxel_size), heads=["atom"]
    )
    ca = prediction.data[prediction.index("atom_CA")]
    return float(np.quantile(ca, 1 - 300 / ca.size))


@pytest.fixture(scope="package")  # shut down after tests/serve: its replicas hold CPUs later tests need
def served(ray_local, serve_models) -> Iterator[Served]:
    from ray import serve

    from cryoray.serve.app import serve_application

    config = ServeConfig.model_validate(
        {
            "port": free_port(),
            "models": serve_models,
            "limits": LIMITS,
            # one call of 2 boxes in flight per request: batches above 2 boxes merge requests
            "batching": {"max_batch_size": 16, "batch_wait_timeout_s": 0.1, "boxes_per_call": 2, "calls_in_flight": 1},
            "infer": {"device": "cpu", "voxel_size": 4.0},
            "build": {
                "candidates": {"threshold": candidate_threshold(serve_models["c2s2"], 4.0), "cluster_radius": 3.0}
            },
            "deployments": {"ingress_num_cpus": 0.1, "model_num_cpus": 0.25, "alignment_num_cpus": 0.25},
        }
    )
    serve_application(config)
    url = f"http://127.0.0.1:{config.port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(url + "/health", timeout=5).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, "the Serve application did not answer /health within 120 s"
        time.sleep(0.5)
    try:
        yield Served(url, config)
    finally:
        serve.shutdown()
