"""Training targets from atomic models: voxel labels, denoising labels, simulated maps, and CryoRes's
local-resolution labels (with half maps)."""

from __future__ import annotations

from cryoray.labels.ca_heatmap import CA_HEATMAP_SIGMA, ca_heatmap
from cryoray.labels.cryores import CRYORES_LABEL_KINDS, CryoResLabels, cryores_grids, cryores_labels, molecule_mask
from cryoray.labels.secondary_structure import secondary_structure
from cryoray.labels.simulate import simulate_map
from cryoray.labels.voxel_labels import (
    amino_acid_labels,
    atom_labels,
    atom_type_labels,
    denoise_class_labels,
    denoise_regression_target,
    secondary_structure_labels,
)

__all__ = [
    "CA_HEATMAP_SIGMA",
    "CRYORES_LABEL_KINDS",
    "CryoResLabels",
    "amino_acid_labels",
    "atom_labels",
    "atom_type_labels",
    "ca_heatmap",
    "cryores_grids",
    "cryores_labels",
    "denoise_class_labels",
    "denoise_regression_target",
    "molecule_mask",
    "secondary_structure",
    "secondary_structure_labels",
    "simulate_map",
]
