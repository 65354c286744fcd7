"""A Ray Data reader for sub-grid stores (Ray's own ``read_zarr`` only knows zarr-python 2).

Each planned :class:`~cryoray.data.selection.Block` becomes one Ray Data row and one read
task: whole chunks of every requested array are fetched together
(:meth:`~cryoray.store.SubgridStore.read_block`), rows not in the split dropped, the block
shuffled and augmented, and the sub-grids leave as one block of rows. Block order is
randomised on every pass over the dataset and ``iter_torch_batches(local_shuffle_buffer_size=...)``
mixes rows across blocks, so each epoch sees a new sub-grid order, not only a new chunk order.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import ray

from cryoray.data.augment import augment_block
from cryoray.data.config import AugmentConfig
from cryoray.data.selection import Block
from cryoray.store import SubgridStore

__all__ = ["read_subgrids"]


@lru_cache(maxsize=4)
def _open(url: str) -> SubgridStore:
    # Opening validates every entry: do it once per worker process, not per block.
    return SubgridStore.open(url)


def _read(
    batch: dict[str, np.ndarray], *, url: str, names: tuple[str, ...], augment: AugmentConfig | None, shuffle: bool
) -> dict[str, np.ndarray]:
    store = _open(url)
    rng = np.random.default_rng()  # fresh per block: each epoch draws new augmentations
    out: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for entry_id, start, stop, keep in zip(batch["entry_id"], batch["start"], batch["stop"], batch["keep"]):
        arrays = store.read_block(str(entry_id), names, int(start), int(stop))
        rows = np.asarray(keep, dtype=np.int64) if len(keep) else np.arange(int(stop) - int(start))
        if shuffle:
            rows = rng.permutation(rows)
        arrays = {name: a[rows] for name, a in arrays.items()}
        if augment is not None:
            arrays = augment_block(arrays, augment, rng)
        for name in names:
            out[name].append(arrays[name])
    return {name: np.concatenate(parts) for name, parts in out.items()}


def read_subgrids(
    url: str,
    blocks: Sequence[Block],
    names: Sequence[str],
    *,
    augment: AugmentConfig | None = None,
    shuffle: bool = True,
) -> ray.data.Dataset:
    """A dataset of rows ``{name: (B, B, B) array}`` over ``blocks`` of the store at ``url``.

    Args:
        url: store path or URL (opened inside the read tasks; they must be able to reach it).
        blocks: from :func:`~cryoray.data.selection.plan_blocks`.
        names: arrays to read (``input`` and the labels a task needs).
        augment: augmentation for training; None for validation and inference.
        shuffle: randomise block order on each pass and row order within blocks.
    """
    if not blocks:
        raise ValueError(f"{url}: no sub-grids selected")
    items = [{"entry_id": b.entry_id, "start": b.start, "stop": b.stop, "keep": list(b.keep or ())} for b in blocks]
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    if shuffle:
        ds = ds.randomize_block_order()
    return ds.map_batches(
        _read,
        batch_size=1,
        batch_format="numpy",
        fn_kwargs={"url": url, "names": tuple(names), "augment": augment, "shuffle": shuffle},
    )
