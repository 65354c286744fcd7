"""Shared fixtures: the real maps in ../shared/data/real and small synthetic maps."""

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
from tests.servers import emdb_layout, http_server, moto_s3, s3_env, stop_test_cluster

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "real"
BAD_INPUTS = REPO / "tests" / "bad_inputs"

#: label -> path of a real map (relative to REAL)
REAL_MAPS = {
    "3488": "EMD-3488_5ME2_haemoglobin/emd_3488.mrc",
    "3488-mask": "EMD-3488_5ME2_haemoglobin/emd_3488_contour_mask.mrc",
    "21457-origin": "EMD-21457_6VYB_spike-NTD-segment/emd_21457_seg.mrc",
    "21457-nstart": "EMD-21457_6VYB_spike-NTD-segment/emd_21457_seg_nstart.mrc",
    "21457-orig0": "EMD-21457_6VYB_spike-NTD-segment/emd_21457_seg_orig0.mrc",
    "0093-gz": "EMD-0093_6GYN_HCN4-masked/MAP_m4A.mrc.gz",
    "1883": "EMD-1883_RNA-PolII/emd_1883.map.mrc",
    "8249-negstart": "EMD-8249_5KHE_rubella-capsid/emd_8249.map",
    "3197": "EMD-3197_subtomo_header-edge-case/EMD-3197.map",
    "5170": "EMD-5170_actin-related/emd_5170.map",
    "2513": "EMD-2513_Frh_map+seq/emd_2513.mrc",
    "1461": "EMD-1461_rotavirus-VP6_map+seq/emd_1461.mrc",
    "3j9s": "3J9S-A_rotavirus-VP6_map+seq/3j9sA.mrc",
    "6824": "EMD-6824_map+seq/6824.mrc",
}


def real(relative: str) -> Path:
    """Path of a file under shared/data/real; fails (never skips) when shared/ is missing."""
    path = REAL / relative
    assert path.is_file(), f"missing test data {path}: ../shared must sit beside the repository"
    return path


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


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` by relative path, for byte-for-byte comparisons of stores."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
