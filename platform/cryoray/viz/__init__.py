"""Pictures people look at: map slices, training curves, evaluation plots (FSC, per-residue scores),
local resolution (histogram, coloured slices)."""

from __future__ import annotations

from cryoray.viz.evaluation import save_fsc_curves, save_paired_scatter, save_residue_scores
from cryoray.viz.local_resolution import save_resolution_histogram, save_resolution_slices
from cryoray.viz.slices import save_slices

__all__ = [
    "save_fsc_curves",
    "save_paired_scatter",
    "save_residue_scores",
    "save_resolution_histogram",
    "save_resolution_slices",
    "save_slices",
]
