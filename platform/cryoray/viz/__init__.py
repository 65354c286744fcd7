"""Pictures people look at: map slices, training curves, evaluation plots (FSC, per-residue scores)."""

from __future__ import annotations

from cryoray.viz.evaluation import save_fsc_curves, save_paired_scatter, save_residue_scores
from cryoray.viz.slices import save_slices

__all__ = ["save_fsc_curves", "save_paired_scatter", "save_residue_scores", "save_slices"]
