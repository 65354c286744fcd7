"""Tiling presets cover every voxel of any shape, and stitching rebuilds maps exactly."""

from __future__ import annotations

import numpy as np
import pytest

from cryoray.preprocessing.tiling import PRESETS, Tiling, box_origins, extract_box, get_tiling, stitch

SHAPES = {
    "cubic-100": (100, 100, 100),
    "non-cubic-odd": (37, 81, 53),
    "smaller-than-box": (5, 17, 9),
    "one-box": (48, 48, 48),
}


@pytest.mark.parametrize("shape_name", list(SHAPES))
@pytest.mark.parametrize("preset", [*PRESETS, "custom"])
def test_tile_then_stitch_is_exact(preset, shape_name) -> None:
    shape = SHAPES[shape_name]
    tiling = get_tiling(preset, box=16, stride=11) if preset == "custom" else PRESETS[preset]
    data = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    origins = box_origins(shape, tiling)
    boxes = [extract_box(data, o, tiling.box) for o in origins]
    assert all(b.shape == (tiling.box,) * 3 for b in boxes)
    np.testing.assert_array_equal(stitch(boxes, origins, shape, tiling), data)


def test_c2s_matches_published_layout() -> None:
    origins = box_origins((100, 100, 100), PRESETS["c2s"])
    assert sorted(set(origins[:, 0])) == [-6, 14, 34, 54, 74]  # cores start at 0, 20, ... 80
    assert len(origins) == 125


def test_cryoten_eval_adds_end_aligned_box() -> None:
    origins = box_origins((100, 60, 48), PRESETS["cryoten-eval"])
    assert sorted(set(origins[:, 0])) == [0, 38, 52]
    assert sorted(set(origins[:, 1])) == [0, 12]
    assert sorted(set(origins[:, 2])) == [0]


def test_cryoten_train_stride() -> None:
    assert sorted(set(box_origins((160, 10, 64), PRESETS["cryoten-train"])[:, 0])) == [0, 50, 100]


def test_extract_box_pads_with_fill() -> None:
    data = np.arange(27, dtype=np.float32).reshape(3, 3, 3)
    box = extract_box(data, (-1, -1, -1), 4, fill=-1)
    assert box[0, 0, 0] == -1 and box[1, 1, 1] == data[0, 0, 0] and box[3, 3, 3] == data[2, 2, 2]


@pytest.mark.parametrize("kwargs", [dict(box=8, stride=9), dict(box=8, stride=0), dict(box=32, stride=20, core=19)])
def test_bad_custom_tiling(kwargs) -> None:
    with pytest.raises(ValueError):
        Tiling("custom", **kwargs)


def test_unknown_preset() -> None:
    with pytest.raises(ValueError, match="unknown tiling"):
        get_tiling("c3s")
