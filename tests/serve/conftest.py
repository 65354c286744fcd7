"""The Serve application on the session's local Ray, on 127.0.0.1 at a free port, with tiny random-weight models."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cryoray.serve import ServeConfig
from tests.support.models import write_enhance_checkpoint, write_segment_checkpoint
from tests.support.servers import free_port
from tests.support.serving import LIMITS, Served, candidate_threshold, wait_for_health


@pytest.fixture(scope="session")
def serve_models(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("serve-models")
    return {
        "c2s2": str(write_segment_checkpoint(root / "segformer")),
        "enhance": str(write_enhance_checkpoint(root / "unetrpp")),
    }


@pytest.fixture(scope="package")  # shut down after tests/serve: its replicas hold CPUs later tests need
def served(ray_local, serve_models) -> Iterator[Served]:
    from ray import serve

    from cryoray.serve.app import serve_application

    config = ServeConfig.model_validate(
        {
            "port": free_port(),
            "models": serve_models,
            "limits": LIMITS | {"max_requests_in_flight": 8},  # test_app posts 8 map requests at once
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
    wait_for_health(url, 120)
    try:
        yield Served(url, config)
    finally:
        serve.shutdown()
