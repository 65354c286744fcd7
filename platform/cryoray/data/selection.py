"""Which sub-grids belong to a split, planned as chunk-aligned read blocks."""

from __future__ import annotations

import zlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cryoray.store import SubgridStore

__all__ = ["Block", "held_out", "plan_blocks"]

Split = Literal["train", "val", "test"]


@dataclass(frozen=True)
class Block:
    """Sub-grids ``start:stop`` of one entry, read in one call; ``keep`` selects rows (None = all)."""

    entry_id: str
    start: int
    stop: int
    keep: tuple[int, ...] | None = None

    @property
    def size(self) -> int:
        return self.stop - self.start if self.keep is None else len(self.keep)


def held_out(entry_id: str, indices: np.ndarray, fraction: float) -> np.ndarray:
    """Whether each sub-grid is held out: a stable hash of (entry, number) below ``fraction``."""
    salt = zlib.crc32(entry_id.encode())
    mixed = (indices.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(salt)) & np.uint64(0xFFFFFFFF)
    mixed = (mixed * np.uint64(0x85EBCA6B)) & np.uint64(0xFFFFFFFF)
    return (mixed >> np.uint64(8)).astype(np.float64) / float(1 << 24) < fraction


def plan_blocks(
    store: SubgridStore,
    split: Split,
    *,
    holdout: Literal["splits", "subgrids"],
    val_fraction: float = 0.1,
    block_subgrids: int | None = None,
    exclude: Collection[str] = (),
) -> list[Block]:
    """Read blocks covering the sub-grids of ``split``.

    ``holdout="splits"``: whole entries, as the store's recorded splits assign them (an error
    if it has none). ``holdout="subgrids"``: every entry is split by sub-grid
    (:func:`held_out`): ``val`` gets the held-out share, ``train`` the rest, ``test`` nothing.
    Blocks are whole chunks (``block_subgrids`` rounded up to a multiple
    of the store's chunk), so a read never decodes a chunk twice. Entries in ``exclude`` are
    left out of every split.
    """
    chunk = int(store.settings["chunk_subgrids"])
    per_block = chunk * max(1, -(-(block_subgrids or 4 * chunk) // chunk))
    splits = store.attrs["splits"] if holdout == "splits" else None
    if holdout == "splits" and splits is None:
        raise ValueError(f"{store.url} records no splits")
    blocks = []
    for entry_id in store.entries:
        if entry_id in exclude:
            continue
        n = int(store.entry_metadata(entry_id)["n_subgrids"])
        if splits is not None:
            if splits["assignment"].get(entry_id) != split:
                continue
            keep_mask = np.ones(n, bool)
        elif split == "test":
            continue
        else:
            out = held_out(entry_id, np.arange(n), val_fraction)
            keep_mask = out if split == "val" else ~out
        for start in range(0, n, per_block):
            stop = min(n, start + per_block)
            rows = np.flatnonzero(keep_mask[start:stop])
            if len(rows) == stop - start:
                blocks.append(Block(entry_id, start, stop))
            elif len(rows):
                blocks.append(Block(entry_id, start, stop, tuple(int(r) for r in rows)))
    return blocks
