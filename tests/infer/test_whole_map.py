"""predict_map: outputs back on the input's own frame, half maps, mask modes, real checkpoints."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import nn

from cryoray.infer import HeadSpec, InferConfig, Predictor, predict_map
from cryoray.io import DensityMap, read_map
from cryoray.preprocessing import MaskConfig, PrepareConfig, prepare_map
from tests.support.data import REAL_MAPS, real
from tests.support.models import identity_predictor


@pytest.mark.parametrize("label", ["21457-origin", "8249-negstart"])
def test_output_lies_on_the_inputs_frame(label) -> None:
    """Non-1 Å real maps (origin in ORIGIN; negative NSTART): the output's frame is the input's."""
    density = read_map(real(REAL_MAPS[label]))
    assert density.voxel_size[0] != 1.0
    prediction = predict_map(density, identity_predictor(32), InferConfig(tiling="c2s", blend="gaussian"))
    assert prediction.frame.voxel_size == (1.0, 1.0, 1.0) and prediction.frame.origin == density.origin
    out = prediction.on_source_frame("output")
    assert out.frame == density.frame and out.data.shape == density.data.shape
    # identity model: the prepared input (normalised), put back, overlays the input
    prepared, _ = prepare_map(density, PrepareConfig(percentile=99.999))
    np.testing.assert_array_equal(prediction.prepared("output").data, prepared.data)
    inside = density.data > np.percentile(density.data, 90)
    corr = np.corrcoef(out.data[inside], density.data[inside])[0, 1]
    assert corr > 0.97, corr


def _halves(density: DensityMap) -> tuple[DensityMap, DensityMap]:
    """No real half maps are available: the map ± independent noise (mean = the map)."""
    noise = np.random.default_rng(0).normal(scale=0.02 * density.data.std(), size=density.data.shape).astype(np.float32)
    return density.with_data(density.data + noise), density.with_data(density.data - noise)


def test_half_maps_average_and_both() -> None:
    density = read_map(real(REAL_MAPS["21457-origin"]))
    h1, h2 = _halves(density)
    config = InferConfig(tiling="c2s", percentile=99.0)
    whole = predict_map(density, identity_predictor(32), config).prepared("output").data
    average = predict_map([h1, h2], identity_predictor(32), config, halves="average")
    np.testing.assert_allclose(average.prepared("output").data, whole, atol=1e-5)
    predictor = identity_predictor(32)
    both = predict_map([h1, h2], predictor, config, halves="both")
    assert both.stats.passes == 2 and predictor.boxes_predicted == both.stats.boxes == 2 * average.stats.boxes
    data = both.prepared("output").data
    # the mean of the two normalised halves: equal to the whole map's where nothing was clipped
    unclipped = (whole > 0.05) & (whole < 0.6)
    np.testing.assert_allclose(data[unclipped], whole[unclipped], atol=1e-4)
    assert both.on_source_frame("output").frame == density.frame


class Zeros(nn.Module):
    """An 'enhancer' that predicts 0 everywhere: what survives in keep mode is the input."""

    out_channels_by_head: ClassVar[dict[str, int]] = {"output": 1}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"output": torch.zeros_like(x)}


def test_mask_keep_mode_keeps_the_input_inside_the_mask(tmp_path) -> None:
    from cryoray.sample import haemoglobin

    entry = haemoglobin()
    density = read_map(entry.map)
    predictor = Predictor(Zeros(), {"output": HeadSpec("output", 1)}, box=32, device="cpu")
    mask = MaskConfig(map=str(entry.contour_mask), contour=entry.contour)
    prediction = predict_map(density, predictor, InferConfig(tiling="c2s"), mask=mask, mask_mode="keep")
    out = prediction.prepared("output").data
    prepared, _ = prepare_map(density, PrepareConfig(percentile=99.999))  # regression-only model
    from cryoray.preprocessing.prepare import build_mask

    inside = build_mask(mask, prepared.frame)
    assert 0 < inside.sum() < inside.size
    np.testing.assert_array_equal(out[inside], prepared.data[inside])
    assert not out[~inside].any()
    # zero mode: the network sees only the masked map (identity model → zero outside)
    zero = predict_map(density, identity_predictor(32), InferConfig(tiling="c2s"), mask=mask, mask_mode="zero")
    assert not zero.prepared("output").data[~inside].any()
    assert zero.record.mask_voxels == int(inside.sum())


def test_checkpoint_heads_give_probabilities_that_sum_to_one(segformer_checkpoint) -> None:
    density = read_map(real(REAL_MAPS["21457-origin"]))
    predictor = Predictor.from_reference(segformer_checkpoint, device="cpu")
    prediction = predict_map(density, predictor, InferConfig(batch_size=8), heads=["atom"])
    assert prediction.tiling.name == "c2s"  # by the model's 32³ box
    assert prediction.names() == ["atom_background", "atom_CA", "atom_N", "atom_C"]
    total = sum(prediction.on_source_frame(n).data.astype(np.float64) for n in prediction.names())
    np.testing.assert_allclose(total, 1.0, atol=1e-5)


def test_predictor_contract(segformer_checkpoint, enhance_checkpoint) -> None:
    classifier = Predictor.from_reference(segformer_checkpoint, device="cpu")
    out = classifier.predict(np.random.default_rng(0).uniform(size=(3, 1, 32, 32, 32)).astype(np.float32))
    assert {k: v.shape for k, v in out.items()} == {"atom": (3, 4, 32, 32, 32), "amino_acid": (3, 21, 32, 32, 32)}
    assert all(v.dtype == np.float32 for v in out.values())
    np.testing.assert_allclose(out["amino_acid"].sum(axis=1), 1.0, atol=1e-5)
    enhancer = Predictor.from_reference(enhance_checkpoint, device="auto", precision="fp32")
    assert enhancer.spec.regression_only and enhancer.box == 16 and enhancer.heads["output"].label == "simulated"
    values = enhancer.predict(np.zeros((2, 1, 16, 16, 16), np.float32))["output"]
    assert values.shape == (2, 1, 16, 16, 16)
    with pytest.raises(ValueError, match="boxes must be"):
        enhancer.predict(np.zeros((2, 16, 16, 16), np.float32))
