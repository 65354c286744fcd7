"""Maps and models from real S3 (moto_server) and HTTP (EMDB-layout mirror) endpoints."""

from __future__ import annotations

import boto3
import numpy as np
import pytest

from cryoray.errors import SourceError
from cryoray.io import read_map, write_map
from cryoray.io.models import read_model
from tests.support.data import REAL_MAPS, real


@pytest.fixture(scope="module")
def bucket(s3_endpoint: str) -> str:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="cryoray-test")
    s3.upload_file(str(real(REAL_MAPS["3488"])), "cryoray-test", "maps/emd_3488.mrc")
    s3.upload_file(str(real("EMD-3488_5ME2_haemoglobin/5me2.pdb")), "cryoray-test", "models/5me2.pdb")
    return "cryoray-test"


def test_map_from_s3_equals_local(bucket: str) -> None:
    remote = read_map(f"s3://{bucket}/maps/emd_3488.mrc")
    local = read_map(real(REAL_MAPS["3488"]))
    assert remote.frame == local.frame
    np.testing.assert_array_equal(remote.data, local.data)


def test_model_from_s3(bucket: str) -> None:
    assert len(read_model(f"s3://{bucket}/models/5me2.pdb").atoms()) == 4468


def test_write_to_s3_appears_whole(bucket: str, make_map) -> None:
    density = make_map((5, 6, 7), voxel_size=1.3, origin=(2.6, 0.0, -1.3))
    write_map(f"s3://{bucket}/out/m.mrc.gz", density)
    back = read_map(f"s3://{bucket}/out/m.mrc.gz")
    np.testing.assert_array_equal(back.data, density.data)
    assert back.frame.same_as(density.frame)
    with pytest.raises(SourceError, match="already exists"):
        write_map(f"s3://{bucket}/out/m.mrc.gz", density)


def test_missing_s3_object(bucket: str) -> None:
    with pytest.raises(SourceError, match="no such file"):
        read_map(f"s3://{bucket}/maps/absent.mrc")


def test_map_from_emdb_http_mirror(emdb_mirror) -> None:
    base, layout = emdb_mirror
    remote = read_map(f"{base}/{layout['EMD-3488']}")
    local = read_map(real(REAL_MAPS["3488"]))
    assert remote.frame == local.frame
    np.testing.assert_array_equal(remote.data, local.data)


def test_missing_http_entry(emdb_mirror) -> None:
    base, _ = emdb_mirror
    with pytest.raises(SourceError):
        read_map(f"{base}/pub/databases/emdb/structures/EMD-0000/map/emd_0000.map.gz")
