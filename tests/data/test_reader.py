"""The Ray Data reader: every selected sub-grid once, new orders each pass, the same rows from S3."""

from __future__ import annotations

import boto3
import numpy as np
import s3fs
import torch

from cryoray.data import AugmentConfig, plan_blocks, read_subgrids
from cryoray.store import SubgridStore


def _signature(x: np.ndarray) -> np.ndarray:
    """A per-sub-grid fingerprint that survives reordering (not rotation)."""
    return np.round(x.reshape(len(x), -1).astype(np.float64) @ np.linspace(1, 2, x[0].size), 3)


def test_reads_each_selected_subgrid_once_in_new_orders(sample_store, ray_local) -> None:
    store = SubgridStore.open(sample_store)
    blocks = plan_blocks(store, "train", holdout="subgrids", val_fraction=0.2, block_subgrids=8)
    expected = np.concatenate(
        [
            store.read_block(b.entry_id, ["input"], b.start, b.stop)["input"][list(b.keep or range(b.stop - b.start))]
            for b in blocks
        ]
    )
    ds = read_subgrids(str(sample_store), blocks, ["input", "atom"])
    orders = []
    for _ in range(2):
        batches = list(
            ds.iter_torch_batches(
                batch_size=5, dtypes={"input": torch.float32, "atom": torch.int64}, local_shuffle_buffer_size=16
            )
        )
        x = torch.cat([b["input"] for b in batches]).numpy()
        assert torch.cat([b["atom"] for b in batches]).dtype == torch.int64
        assert x.shape == expected.shape
        np.testing.assert_allclose(np.sort(_signature(x)), np.sort(_signature(expected.astype(np.float32))), rtol=1e-6)
        orders.append(_signature(x))
    assert not np.array_equal(orders[0], orders[1])  # a new order on every pass
    plain = np.concatenate(
        [
            b["input"]
            for b in read_subgrids(str(sample_store), blocks, ["input"], shuffle=False).iter_batches(batch_size=None)
        ]
    )
    np.testing.assert_array_equal(plain, expected)


def test_augmented_rows_are_cropped_and_labels_follow(sample_store, ray_local) -> None:
    store = SubgridStore.open(sample_store)
    blocks = plan_blocks(store, "val", holdout="subgrids", val_fraction=0.5)
    ds = read_subgrids(
        str(sample_store), blocks, ["input", "denoise_class"], augment=AugmentConfig(crop=24, rot90=1.0, flip=0.5)
    )
    rows = list(ds.iter_rows())
    assert len(rows) == sum(b.size for b in blocks)
    for row in rows:
        assert row["input"].shape == row["denoise_class"].shape == (24, 24, 24)
    # Labels were moved with their density: atom voxels stay denser than the background.
    x = np.stack([r["input"] for r in rows]).astype(np.float32)
    c = np.stack([r["denoise_class"] for r in rows])
    assert x[c == 1].mean() > 2 * x[c == 0].mean()


def test_same_rows_from_s3(sample_store, ray_local, s3_endpoint) -> None:
    boto3.client("s3").create_bucket(Bucket="reader-test")
    fs = s3fs.S3FileSystem()
    fs.put(str(sample_store), "reader-test/sample.zarr", recursive=True)
    url = "s3://reader-test/sample.zarr"
    blocks = plan_blocks(SubgridStore.open(url), "train", holdout="subgrids", val_fraction=0.2)
    local = np.concatenate(
        [
            b["atom"]
            for b in read_subgrids(str(sample_store), blocks, ["atom"], shuffle=False).iter_batches(batch_size=None)
        ]
    )
    remote = np.concatenate(
        [b["atom"] for b in read_subgrids(url, blocks, ["atom"], shuffle=False).iter_batches(batch_size=None)]
    )
    np.testing.assert_array_equal(local, remote)
    assert local.sum() > 0
