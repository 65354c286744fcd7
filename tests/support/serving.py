"""The Serve application under test: its limits, a client for it, and a threshold a random network passes."""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from cryoray.serve import ServeConfig

#: Small enough for a loaded 2-core machine: the network sees a 4 Å grid (the sample: 27³ voxels).
LIMITS = {"max_request_bytes": 4 << 20, "max_map_voxels": 200**3, "max_map_dimension": 128, "max_sequence_length": 1000}


@dataclass(frozen=True)
class Served:
    """The running application: its base URL and config; ``get``/``post`` with generous timeouts."""

    url: str
    config: ServeConfig

    def get(self, path: str, **kwargs) -> requests.Response:
        """GET ``path`` (2 minutes at most)."""
        return requests.get(self.url + path, timeout=120, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        """POST to ``path`` (5 minutes at most)."""
        return requests.post(self.url + path, timeout=300, **kwargs)


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


def wait_for_health(url: str, seconds: float) -> None:
    """Poll ``url``/health until it answers 200; fail after ``seconds`` (refused connections are retried)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if requests.get(url + "/health", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass  # not listening yet
        assert time.monotonic() < deadline, f"{url} did not answer /health within {seconds:g} s"
        time.sleep(0.5)
