"""GridFrame as JSON: to_dict / from_dict round trips, axis order included."""

from __future__ import annotations

import json

import pytest

from cryoray.io import GridFrame, read_map
from tests.support.data import REAL_MAPS, real


@pytest.mark.parametrize(
    "frame",
    [
        GridFrame((7, 11, 13), (1.05, 1.05, 1.05), (-12.6, 3.15, 42.0)),
        GridFrame((9, 5, 12), (0.8, 1.3, 2.1), (10.37, -4.2, 0.55)),  # every axis differs
        read_map(real(REAL_MAPS["8249-negstart"])).frame,
    ],
    ids=["odd", "anisotropic", "real-negstart"],
)
def test_round_trip_through_json(frame: GridFrame) -> None:
    data = json.loads(json.dumps(frame.to_dict()))
    back = GridFrame.from_dict(data)
    assert back == frame
    assert back.shape == frame.shape  # (z, y, x), although the dict lists (x, y, z)


def test_shape_order_is_xyz_in_the_dict() -> None:
    assert GridFrame.from_dict({"shape": [4, 5, 6], "voxel_size": [1, 2, 3], "origin": [0, 0, 0]}).shape == (6, 5, 4)
    with pytest.raises(ValueError, match="voxel_size"):
        GridFrame.from_dict({"shape": [4, 5, 6], "voxel_size": [1, 2], "origin": [0, 0, 0]})
