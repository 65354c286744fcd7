"""Class statistics of label arrays, for class-weighted losses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cryoray.data.selection import Block
from cryoray.store import SubgridStore

__all__ = ["class_counts"]


def class_counts(store: SubgridStore, blocks: Sequence[Block], label: str, n_classes: int) -> np.ndarray:
    """Voxels per class of ``label`` over ``blocks`` (int64, length ``n_classes``).

    Reads only that label array (small, highly compressed chunks), one block at a time.

    Raises:
        ValueError: a label value outside ``0..n_classes-1`` (a model with too few classes).
    """
    counts = np.zeros(n_classes, np.int64)
    for block in blocks:
        values = store.read(block.entry_id, label, block.start, block.stop)
        if block.keep is not None:
            values = values[list(block.keep)]
        found = np.bincount(values.ravel(), minlength=n_classes)
        if len(found) > n_classes:
            raise ValueError(f"{store.url}: {label} holds class {len(found) - 1}, the model has {n_classes} classes")
        counts += found
    return counts
