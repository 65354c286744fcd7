"""The pictures of ``cryoray evaluate -o``: FSC curves, Q along each chain, a slice of map and model map."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cryoray.evaluation.map_report import MapEvaluation
from cryoray.io.density_map import DensityMap
from cryoray.io.models import AtomTable
from cryoray.metrics.qscore import expected_q_score
from cryoray.viz import save_fsc_curves, save_residue_scores, save_slices

__all__ = ["save_pictures"]


def save_pictures(
    directory: str | Path, evaluation: MapEvaluation, density: DensityMap, atoms: AtomTable | None = None
) -> list[str]:
    """Write ``fsc.png`` (when an FSC was measured), ``q_per_residue.png`` (with a model) and
    ``slices.png`` into ``directory``; returns the file names written."""
    directory = Path(directory)
    written = []
    curves = {}
    if evaluation.fsc is not None:
        curves["half maps"] = (evaluation.fsc.frequency, evaluation.fsc.fsc)
    if evaluation.map_model_fsc is not None:
        curves["map vs model map"] = (evaluation.map_model_fsc.frequency, evaluation.map_model_fsc.fsc)
    if curves:
        save_fsc_curves(directory / "fsc.png", curves)
        written.append("fsc.png")
    if evaluation.q is not None:
        r = evaluation.q.residues
        chains = {str(c): (r.seq_id[r.chain == c], r.q[r.chain == c]) for c in dict.fromkeys(r.chain.tolist())}
        expected = None if evaluation.resolution is None else expected_q_score(evaluation.resolution)
        save_residue_scores(directory / "q_per_residue.png", chains, expected=expected)
        written.append("q_per_residue.png")
    panels = [("map", density)]
    if evaluation.model_map is not None:
        panels.append((f"model map at {evaluation.resolution:.2f} Å", evaluation.model_map))
    ca = None if atoms is None else atoms.xyz[atoms.is_ca]
    z = None if ca is None or not len(ca) else float(np.median(ca[:, 2]))
    save_slices(directory / "slices.png", panels, z=z, atoms_xyz=ca)
    written.append("slices.png")
    return written
