"""Streaming sub-grids from a store into training: selection, a Ray Data reader, augmentation."""

from __future__ import annotations

from cryoray.data.augment import augment_block
from cryoray.data.config import AugmentConfig, DataConfig
from cryoray.data.reader import read_subgrids
from cryoray.data.selection import Block, plan_blocks
from cryoray.data.statistics import class_counts

__all__ = [
    "AugmentConfig",
    "Block",
    "DataConfig",
    "augment_block",
    "class_counts",
    "plan_blocks",
    "read_subgrids",
]
