"""Session fixtures: small synthetic maps, local S3 and EMDB-like servers, local Ray, the sample store.

Helpers (real-data paths, servers) live in tests/support.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from cryoray.io import DensityMap, GridFrame
from cryoray.pipelines.sample import ingest_sample_in_process
from tests.support.data import REAL_MAPS, real
from tests.support.models import write_enhance_checkpoint, write_segment_checkpoint
from tests.support.servers import emdb_layout, http_server, moto_s3, s3_env, stop_test_cluster


@pytest.fixture
def make_map() -> Callable[..., DensityMap]:
    """Build a random synthetic map: ``make_map(shape_zyx, voxel_size=..., origin=..., seed=...)``."""

    def _make(
        shape: tuple[int, int, int] = (16, 16, 16),
        voxel_size: float | tuple[float, float, float] = 1.0,
        origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
        seed: int = 0,
    ) -> DensityMap:
        rng = np.random.default_rng(seed)
        voxel = np.broadcast_to(np.asarray(voxel_size, dtype=float), (3,))
        return DensityMap(rng.normal(size=shape).astype(np.float32), GridFrame(shape, tuple(voxel), origin))

    return _make


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server for the session; boto3/s3fs find it through AWS_* variables."""
    with moto_s3() as endpoint:
        saved = {k: os.environ.get(k) for k in s3_env(endpoint)}
        os.environ.update(s3_env(endpoint))
        try:
            yield endpoint
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture(scope="session")
def emdb_mirror(tmp_path_factory) -> Iterator[tuple[str, dict[str, str]]]:
    """An HTTP server laid out like the EMDB archive: (base URL, entry -> relative path)."""
    root = tmp_path_factory.mktemp("emdb")
    layout = emdb_layout(
        root,
        {"EMD-3488": real(REAL_MAPS["3488"]), "EMD-8249": real(REAL_MAPS["8249-negstart"])},
    )
    with http_server(root) as base:
        yield base, layout


@pytest.fixture(scope="session")
def ray_local(s3_endpoint):
    """A local Ray instance for the session (started after the S3 variables, so workers see them).

    It lives in its own temp dir (yielded), so whatever `ray.shutdown()` leaves behind is found
    and stopped, and tests can find its processes.
    """
    import ray

    from cryoray.runtime import start_local_ray

    tmp = tempfile.mkdtemp(prefix="rl", dir="/tmp")  # short: Ray's socket paths are limited
    start_local_ray(2, _temp_dir=tmp)  # as `cryoray` starts local Ray (State API that finds it)
    yield tmp
    ray.shutdown()
    stop_test_cluster({}, tmp)
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory) -> Path:
    """The bundled EMD-3488 sample ingested in-process (c2s, all labels): a real store for data and training tests."""
    return ingest_sample_in_process(tmp_path_factory.mktemp("train") / "sample.zarr")


@pytest.fixture(scope="session")
def segformer_checkpoint(tmp_path_factory) -> Path:
    """A random-weight SegFormer3D on 32³ boxes with Cryo2Struct2's atom and amino-acid heads."""
    return write_segment_checkpoint(tmp_path_factory.mktemp("ckpt") / "segformer")


@pytest.fixture(scope="session")
def enhance_checkpoint(tmp_path_factory) -> Path:
    """A random-weight UNETR++ on 16³ boxes with one regression head onto the simulated map."""
    return write_enhance_checkpoint(tmp_path_factory.mktemp("ckpt") / "unetrpp")
