"""A synthetic store layout and entries, for store tests without ingest or Ray."""

from __future__ import annotations

import numpy as np

from cryoray.preprocessing.tiling import PRESETS, box_origins
from cryoray.store import EntryGrids, StoreLayout

LAYOUT = StoreLayout(tiling=PRESETS["c2s"], label_kinds=("atom", "simulated"), prepare={"voxel_size": 1.0})
SHA = "0" * 64


def metadata(entry_id: str, n: int, shape=(40, 30, 20)) -> dict:
    """Entry metadata as ingest writes it, for ``n`` sub-grids of a ``shape`` (z, y, x) grid at 1 Å."""
    frame = {"shape": list(shape[::-1]), "voxel_size": [1.0, 1.0, 1.0], "origin": [0.0, 0.0, 0.0]}
    return {
        "entry_id": entry_id,
        "emdb_id": entry_id,
        "pdb_id": None,
        "resolution": 3.0,
        "source_frame": frame,
        "frame": frame,
        "normalization": {"percentile": 95.0, "scale": 1.0, "method": "positive-percentile, clip [0, 1]"},
        "n_subgrids": n,
        "n_boxes_total": n,
        "checksums": {"map": SHA, "model": SHA, "sequence": None},
        "secondary_structure_source": "none",
        "sequences": [{"name": "a", "sequence": "MKV", "chains": ["A"]}],
    }


def make_entry(seed: int, shape=(40, 30, 20)) -> EntryGrids:
    """Random input, atom and simulated grids of ``shape`` with their c2s box origins."""
    rng = np.random.default_rng(seed)
    grids = {
        "input": rng.random(shape, dtype=np.float32),
        "atom": rng.integers(0, 4, shape).astype(np.uint8),
        "simulated": rng.random(shape, dtype=np.float32),
    }
    return EntryGrids(origins=box_origins(shape, PRESETS["c2s"]), grids=grids)
