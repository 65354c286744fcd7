"""Split planning, augmentation and class counts on the real sample store (no Ray)."""

from __future__ import annotations

import numpy as np
import pytest

from cryoray.data import AugmentConfig, augment_block, class_counts, plan_blocks
from cryoray.data.selection import held_out
from cryoray.errors import ConfigError
from cryoray.store import SubgridStore
from cryoray.train import TrainConfig
from cryoray.train.run import plan_training
from tests.support.training import small_config


def _ids(blocks) -> list[tuple[str, int]]:
    out = []
    for b in blocks:
        rows = range(b.stop - b.start) if b.keep is None else b.keep
        out += [(b.entry_id, b.start + r) for r in rows]
    return out


def test_subgrid_holdout_partitions_every_entry(sample_store) -> None:
    store = SubgridStore.open(sample_store)
    n = store.entry_metadata("EMD-3488")["n_subgrids"]
    train = _ids(plan_blocks(store, "train", holdout="subgrids", val_fraction=0.25, block_subgrids=16))
    val = _ids(plan_blocks(store, "val", holdout="subgrids", val_fraction=0.25, block_subgrids=16))
    assert not set(train) & set(val)
    assert sorted(train + val) == [("EMD-3488", i) for i in range(n)]
    assert 0 < len(val) < n / 2
    assert plan_blocks(store, "test", holdout="subgrids", val_fraction=0.25) == []
    # Stable: the same hash whatever the block size.
    again = _ids(plan_blocks(store, "val", holdout="subgrids", val_fraction=0.25, block_subgrids=64))
    assert again == val
    with pytest.raises(ValueError, match="records no splits"):
        plan_blocks(store, "train", holdout="splits")


def test_excluded_entries_are_in_no_split_and_unknown_ones_are_refused(sample_store) -> None:
    """Leave-one-map-out: an excluded entry is never read; a typo in the list is a config error."""
    store = SubgridStore.open(sample_store)
    for split in ("train", "val"):
        assert plan_blocks(store, split, holdout="subgrids", exclude={"EMD-3488"}) == []
        assert plan_blocks(store, split, holdout="subgrids", exclude={"EMD-9999"}) != []
    config = small_config(sample_store, sample_store.parent / "runs", data__exclude_entries=["EMD-9999"])
    with pytest.raises(ConfigError, match=r"data.exclude_entries: \['EMD-9999'\] not in the store"):
        plan_training(TrainConfig.model_validate(config), source="cfg")


def test_held_out_fraction_is_close_to_asked() -> None:
    share = held_out("EMD-1234", np.arange(20000), 0.1).mean()
    assert 0.09 < share < 0.11


def test_blocks_are_whole_chunks(sample_store) -> None:
    store = SubgridStore.open(sample_store)
    chunk = store.settings["chunk_subgrids"]
    for block in plan_blocks(store, "train", holdout="subgrids", block_subgrids=chunk + 1):
        assert block.start % (2 * chunk) == 0  # rounded up to two chunks


def test_augment_moves_input_and_labels_together() -> None:
    rng = np.random.default_rng(1)
    density = rng.random((6, 16, 16, 16)).astype(np.float32)
    labels = (density > 0.7).astype(np.uint8) + (density > 0.9)
    for config in (AugmentConfig(rot90=1.0, flip=0.5), AugmentConfig(crop=10, rot90=0.5, flip=1.0)):
        out = augment_block({"input": density, "atom": labels}, config, np.random.default_rng(2))
        side = config.crop or 16
        assert out["input"].shape == (6, side, side, side) and out["atom"].dtype == np.uint8
        expected = (out["input"] > 0.7).astype(np.uint8) + (out["input"] > 0.9)
        np.testing.assert_array_equal(out["atom"], expected)
    whole = augment_block({"input": density}, AugmentConfig(rot90=1.0), np.random.default_rng(3))["input"]
    assert not np.array_equal(whole, density)  # every sub-grid was rotated
    np.testing.assert_allclose(np.sort(whole.ravel()), np.sort(density.ravel()))
    with pytest.raises(ValueError, match="larger than the store's boxes"):
        augment_block({"input": density}, AugmentConfig(crop=17), rng)


def test_gain_scales_and_clips_the_input_only() -> None:
    density = np.linspace(0.0, 0.5, 6 * 8**3, dtype=np.float32).reshape(6, 8, 8, 8)
    labels = np.arange(density.size, dtype=np.float32).reshape(density.shape)
    out = augment_block(
        {"input": density, "ca_heatmap": labels}, AugmentConfig(gain=(1.5, 4.0)), np.random.default_rng(4)
    )
    np.testing.assert_array_equal(out["ca_heatmap"], labels)
    factors = out["input"][:, 0, 0, 1] / density[:, 0, 0, 1]  # unclipped voxels give each box's factor
    assert np.all((factors >= 1.5 - 1e-5) & (factors <= 4.0 + 1e-5)) and np.ptp(factors) > 0.1
    np.testing.assert_allclose(out["input"], np.clip(density * factors.reshape(6, 1, 1, 1), 0.0, 1.0), rtol=1e-3)
    assert out["input"].max() == 1.0  # the brightest voxels saturate
    with pytest.raises(ValueError, match="low <= high"):
        AugmentConfig(gain=(2.0, 1.0))


def test_class_counts_match_the_labels(sample_store) -> None:
    store = SubgridStore.open(sample_store)
    blocks = plan_blocks(store, "train", holdout="subgrids", val_fraction=0.2)
    counts = class_counts(store, blocks, "atom", 4)
    labels = np.concatenate(
        [store.read(b.entry_id, "atom", b.start, b.stop)[list(b.keep or range(b.stop - b.start))] for b in blocks]
    )
    np.testing.assert_array_equal(counts, np.bincount(labels.ravel(), minlength=4))
    assert counts[1] > 0 and counts[0] > 100 * counts[1]  # Cα voxels are rare
    with pytest.raises(ValueError, match="has 2 classes"):
        class_counts(store, blocks, "atom", 2)
