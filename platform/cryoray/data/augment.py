"""Random crops, 90° rotations and axis flips, applied identically to a sub-grid's arrays; input gain."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from cryoray.data.config import AugmentConfig

__all__ = ["augment_block", "crop_size"]

_PLANES = ((0, 1), (0, 2), (1, 2))


def crop_size(config: AugmentConfig, box: int) -> int:
    """Edge of the sub-grids that come out of augmentation."""
    if config.crop is not None and config.crop > box:
        raise ValueError(f"augment.crop {config.crop} is larger than the store's boxes ({box})")
    return config.crop or box


def augment_block(
    arrays: Mapping[str, np.ndarray], config: AugmentConfig, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Augment a block of sub-grids ``name -> (n, B, B, B)``; every array gets the same draw per sub-grid.

    The crop is drawn uniformly inside the box; a rotation picks k in 1..3 and one of the three
    axis planes (so every 90° rotation of the cube except compositions is reachable, and with
    flips all 48 symmetries are); each axis flips independently.
    """
    names = list(arrays)
    n, box = arrays[names[0]].shape[:2]
    size = crop_size(config, box)
    out = {name: np.empty((n, size, size, size), arrays[name].dtype) for name in names}
    for i in range(n):
        corner = rng.integers(0, box - size + 1, 3)
        rotate = rng.random() < config.rot90
        k, plane = int(rng.integers(1, 4)), _PLANES[int(rng.integers(0, 3))]
        flips = tuple(int(a) for a in np.flatnonzero(rng.random(3) < config.flip))
        for name in names:
            view = arrays[name][
                i, corner[0] : corner[0] + size, corner[1] : corner[1] + size, corner[2] : corner[2] + size
            ]
            if rotate:
                view = np.rot90(view, k, plane)
            if flips:
                view = np.flip(view, flips)
            out[name][i] = view
    if config.gain is not None and "input" in out:
        low, high = np.log(config.gain)
        factor = np.exp(rng.uniform(low, high, n)).astype(out["input"].dtype)
        np.clip(out["input"] * factor.reshape(n, 1, 1, 1), 0.0, 1.0, out=out["input"])
    return out
