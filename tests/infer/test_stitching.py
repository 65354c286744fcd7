"""Tiling and stitching: exact round trips for every preset and blend, any arrival order, bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from cryoray.infer import CandidateSink, DenseSink, Stitcher, TilePlan, blend_weights, output_channels, run_plan
from cryoray.preprocessing.tiling import PRESETS, get_tiling
from tests.support.models import identity_predictor

TILINGS = [*PRESETS.values(), get_tiling("custom", box=12, stride=5, core=6), get_tiling("custom", box=9, stride=4)]
SHAPES = {"non-cubic": (37, 23, 51), "odd": (33, 35, 31), "smaller-than-box": (10, 7, 5), "cubic": (50, 50, 50)}


@pytest.mark.parametrize("blend", ["constant", "gaussian"])
@pytest.mark.parametrize("tiling", TILINGS, ids=[f"{t.name}-{t.box}" for t in TILINGS])
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_identity_model_stitches_back_voxel_for_voxel(shape, tiling, blend) -> None:
    data = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    predictor = identity_predictor(tiling.box)
    plan = TilePlan.for_shape(shape, tiling)
    sink = DenseSink(shape, 1)
    stats = run_plan(
        [data],
        [predictor],
        output_channels([predictor]),
        plan,
        sink=sink,
        batch_size=3,
        weights=blend_weights(tiling, blend),
    )
    assert np.array_equal(sink.data[0], data)
    assert stats.boxes == len(plan) and predictor.boxes_predicted == len(plan)


def _box_predictions(plan: TilePlan, seed: int = 0) -> np.ndarray:
    """Different values per box (an order-dependent or off-by-one average would show)."""
    rng = np.random.default_rng(seed)
    b = plan.tiling.box
    return rng.uniform(size=(len(plan), 2, b, b, b)).astype(np.float32)


def _reference_mean(plan: TilePlan, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    total = np.zeros((values.shape[1], *plan.shape))
    wsum = np.zeros(plan.shape)
    m = plan.tiling.margin
    for origin, box in zip(plan.origins, values, strict=True):
        lo, hi = plan.kept_region(origin)
        dst = tuple(slice(a, c) for a, c in zip(lo, hi, strict=True))
        src = tuple(slice(a - o, c - o) for a, c, o in zip(lo, hi, origin, strict=True))
        wsrc = tuple(slice(a - o - m, c - o - m) for a, c, o in zip(lo, hi, origin, strict=True))
        total[(slice(None), *dst)] += box[(slice(None), *src)] * weights[wsrc]
        wsum[dst] += weights[wsrc]
    return total / wsum


@pytest.mark.parametrize("blend", ["constant", "gaussian"])
def test_weighted_mean_does_not_depend_on_arrival_order(blend) -> None:
    tiling = PRESETS["cryoten-eval"]
    plan = TilePlan.for_shape((60, 50, 100), tiling)
    values = _box_predictions(plan)
    weights = blend_weights(tiling, blend)
    expected = _reference_mean(plan, values, weights)
    results = []
    for order in (np.arange(len(plan)), np.random.default_rng(3).permutation(len(plan))):
        sink = DenseSink(plan.shape, 2)
        stitcher = Stitcher(plan, 2, weights=weights, sink=sink)
        for chunk in np.array_split(order, 5):
            stitcher.add(plan.origins[chunk], values[chunk])
        stitcher.finish()
        results.append(sink.data)
    np.testing.assert_allclose(results[0], expected, rtol=1e-6)
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6)
    # a constant prediction stays constant (no sum / (count + 1))
    sink = DenseSink(plan.shape, 2)
    stitcher = Stitcher(plan, 2, weights=weights, sink=sink)
    stitcher.add(plan.origins, np.full_like(values, 0.7))
    stitcher.finish()
    np.testing.assert_allclose(sink.data, 0.7, rtol=1e-6)


@pytest.mark.parametrize("tiling", [PRESETS["cryoten-eval"], get_tiling("custom", box=12, stride=5, core=6)])
@pytest.mark.parametrize("max_sections", [1, 13, 25, 1000])
def test_slabs_stitched_apart_equal_the_whole_map(tiling, max_sections) -> None:
    """Each slab stitched on its own (its boxes cut from its input sections only) gives exactly the
    whole map's sections; the slabs tile the map's z-sections, none shallower than a box."""
    plan = TilePlan.for_shape((61, 20, 23), tiling)
    data = np.random.default_rng(4).normal(size=plan.shape).astype(np.float32)
    values = _box_predictions(plan)
    weights = blend_weights(tiling, "gaussian")
    expected = _reference_mean(plan, values, weights)
    slabs = plan.slabs(max_sections)
    assert [s.lo for s in slabs[1:]] == [s.hi for s in slabs[:-1]] and slabs[0].lo == 0 and slabs[-1].hi == 61
    assert len(slabs) == max(1, min(-(-61 // max_sections), 61 // tiling.box))
    assert all(s.hi - s.lo >= tiling.box for s in slabs) or len(slabs) == 1
    whole = np.zeros_like(expected)
    for slab in slabs:
        sink = DenseSink((slab.hi - slab.lo, *plan.shape[1:]), 2, z0=slab.lo)
        stitcher = Stitcher(plan, 2, weights=weights, sink=sink, z_range=(slab.lo, slab.hi))
        part = data[slab.read_lo : slab.read_hi]
        batches = plan.batches(part, 4, start=slab.first, stop=slab.stop, z_offset=slab.read_lo)
        cut = np.concatenate([boxes for _, boxes in batches])
        whole_cut = np.concatenate([boxes for _, boxes in plan.batches(data, 4, start=slab.first, stop=slab.stop)])
        np.testing.assert_array_equal(cut, whole_cut)  # the slab's input holds everything its boxes read
        stitcher.add(plan.origins[slab.first : slab.stop], values[slab.first : slab.stop])
        stitcher.finish()
        whole[:, slab.lo : slab.hi] = sink.data
    np.testing.assert_allclose(whole, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="outside the data"):
        next(plan.batches(data[1:], 4, z_offset=1))


def test_gaussian_weights_peak_in_the_centre() -> None:
    weights = blend_weights(PRESETS["cryoten-eval"], "gaussian")
    assert weights.shape == (48, 48, 48) and weights.max() == 1.0 and weights.min() > 0
    assert weights[23, 23, 23] > weights[0, 23, 23] > weights[0, 0, 0]


def test_missing_or_repeated_boxes_are_errors() -> None:
    plan = TilePlan.for_shape((40, 30, 30), PRESETS["c2s"])
    values = _box_predictions(plan)
    stitcher = Stitcher(plan, 2, sink=DenseSink(plan.shape, 2))
    stitcher.add(plan.origins[:-1], values[:-1])
    with pytest.raises(ValueError, match="incomplete"):
        stitcher.finish()
    stitcher.add(plan.origins[-1:], values[-1:])
    stitcher.finish()
    with pytest.raises(ValueError, match="already finished"):
        stitcher.add(plan.origins[:1], values[:1])


def test_candidate_sink_keeps_only_voxels_above_threshold() -> None:
    plan = TilePlan.for_shape((30, 20, 25), PRESETS["cryoten-eval"])
    data = np.random.default_rng(0).uniform(size=(3, *plan.shape)).astype(np.float32)
    sink = CandidateSink(0, 0.9, [1, 2])
    stitcher = Stitcher(plan, 3, sink=sink)
    for origins, _ in plan.batches(data[0], 4):
        boxes = np.stack([np.stack([_crop(data[c], o, plan.tiling.box) for c in range(3)]) for o in origins])
        stitcher.add(origins, boxes)
    stitcher.finish()
    index, value, rows = sink.result()
    expected = np.argwhere(data[0] > 0.9)
    np.testing.assert_array_equal(index, expected)
    np.testing.assert_array_equal(value, data[0][tuple(expected.T)])
    np.testing.assert_array_equal(rows, data[1:, expected[:, 0], expected[:, 1], expected[:, 2]].T)


def _crop(data: np.ndarray, origin, box: int) -> np.ndarray:
    from cryoray.preprocessing.tiling import extract_box

    return extract_box(data, origin, box)


def test_memory_is_bounded_by_boxes_not_by_the_map() -> None:
    """200³ map, c2s (1,000 boxes of 32³): the boxes alone would be 131 MiB; the map 32 MiB."""
    shape = (200, 200, 200)
    tiling = PRESETS["c2s"]
    data = np.random.default_rng(0).uniform(size=shape).astype(np.float32)
    predictor = identity_predictor(tiling.box)
    plan = TilePlan.for_shape(shape, tiling)
    all_boxes = len(plan) * tiling.box**3 * 4
    map_bytes = data.nbytes
    sink = CandidateSink(0, 0.999, [])
    tracemalloc.start()
    try:
        stats = run_plan([data], [predictor], output_channels([predictor]), plan, sink=sink, batch_size=8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats.boxes == 1000 and all_boxes > 4 * map_bytes
    # one batch of boxes + about one box depth of open float64 sections (2 x 20 x 200² x 8 B)
    assert peak < map_bytes, f"peak {peak / 2**20:.0f} MiB"
    assert stats.peak_open_sections <= tiling.core + tiling.stride
    index, _, _ = sink.result()
    assert np.array_equal(index, np.argwhere(data > 0.999))
