"""A Ray Data reader for sub-grid stores (Ray's own ``read_zarr`` only knows zarr-python 2).

Each planned :class:`~cryoray.data.selection.Block` becomes one Ray Data row; a read task
takes several (about :data:`SUBGRIDS_PER_TASK` sub-grids: a task costs ~20-30 ms of scheduling,
more than reading a block) and fetches whole chunks of every requested array together
(:meth:`~cryoray.store.SubgridStore.read_block`), drops rows not in the split, shuffles and
augments what it read, and emits it as one block of rows. Block order is
randomised on every pass over the dataset and ``iter_torch_batches(local_shuffle_buffer_size=...)``
mixes rows across blocks, so each epoch sees a new sub-grid order, not only a new chunk order.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import ray

from cryoray.data.augment import augment_block
from cryoray.data.config import AugmentConfig
from cryoray.data.selection import Block
from cryoray.store import SubgridStore

__all__ = ["SUBGRIDS_PER_TASK", "read_subgrids"]

#: sub-grids one read task aims for (measured: 1 block of 128 per task -> 4-8 blocks per task
#: cut the CPU per sub-grid from 1.4 to 0.8 ms, tests/benchmarks/bench_data_path.py)
SUBGRIDS_PER_TASK = 512


@lru_cache(maxsize=4)
def _open(url: str) -> SubgridStore:
    # Once per worker process. The blocks name their entries, so the entry list is never read;
    # each entry is checked against the schema when first read.
    return SubgridStore.open(url, read_entries=False)


def _read(
    batch: dict[str, np.ndarray],
    *,
    url: str,
    names: tuple[str, ...],
    augment: AugmentConfig | None,
    shuffle: bool,
    embedding: bool = False,
) -> dict[str, np.ndarray]:
    store = _open(url)
    rng = np.random.default_rng()  # fresh per block: each epoch draws new augmentations
    parts: dict[str, list[np.ndarray]] = {name: [] for name in (*names, *(["embedding"] * embedding))}
    for entry_id, start, stop, keep in zip(
        batch["entry_id"], batch["start"], batch["stop"], batch["keep"], strict=True
    ):
        arrays = store.read_block(str(entry_id), names, int(start), int(stop))
        rows = np.asarray(keep, dtype=np.int64) if len(keep) else np.arange(int(stop) - int(start))
        for name in names:
            parts[name].append(arrays[name][rows])
        if embedding:  # the entry's vector, repeated for each of its sub-grids
            vector = store.read_embedding(str(entry_id))
            parts["embedding"].append(np.broadcast_to(vector, (len(rows), len(vector))))
    out = {name: np.concatenate(p) for name, p in parts.items()}
    if shuffle:  # one order across all the blocks of the task
        order = rng.permutation(len(out[names[0]]))
        out = {name: a[order] for name, a in out.items()}
    if augment is None:
        return out
    vectors = out.pop("embedding", None)  # not spatial: unchanged by crops, rotations, flips
    out = augment_block(out, augment, rng)
    return out if vectors is None else {**out, "embedding": vectors}


def read_subgrids(
    url: str,
    blocks: Sequence[Block],
    names: Sequence[str],
    *,
    augment: AugmentConfig | None = None,
    shuffle: bool = True,
    blocks_per_task: int | None = None,
    ray_remote_args: dict[str, Any] | None = None,
    embedding: bool = False,
) -> ray.data.Dataset:
    """A dataset of rows ``{name: (B, B, B) array}`` over ``blocks`` of the store at ``url``.

    Args:
        url: store path or URL (opened inside the read tasks; they must be able to reach it).
        blocks: from :func:`~cryoray.data.selection.plan_blocks`.
        names: arrays to read (``input`` and the labels a task needs).
        augment: augmentation for training; None for validation and inference.
        shuffle: randomise block order on each pass and row order within blocks.
        blocks_per_task: planned blocks one read task reads; None: about :data:`SUBGRIDS_PER_TASK`
            sub-grids' worth, and at least two tasks.
        ray_remote_args: Ray options of the read tasks (``num_cpus``, ``runtime_env``...), for tuning.
        embedding: add each row's entry embedding as ``embedding``, ``(dim,)`` float32.
    """
    if not blocks:
        raise ValueError(f"{url}: no sub-grids selected")
    if blocks_per_task is not None and blocks_per_task < 1:
        raise ValueError(f"blocks_per_task must be at least 1, not {blocks_per_task}")
    items = [{"entry_id": b.entry_id, "start": b.start, "stop": b.stop, "keep": list(b.keep or ())} for b in blocks]
    per_task = blocks_per_task or max(
        1, min(round(SUBGRIDS_PER_TASK * len(blocks) / sum(b.size for b in blocks)), -(-len(blocks) // 2))
    )
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    if shuffle:
        ds = ds.randomize_block_order()
    return ds.map_batches(
        _read,
        batch_size=per_task,
        batch_format="numpy",
        fn_kwargs={"url": url, "names": tuple(names), "augment": augment, "shuffle": shuffle, "embedding": embedding},
        **(ray_remote_args or {}),
    )
