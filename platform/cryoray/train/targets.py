"""What the store's label kinds mean to a training head: classes or regression values."""

from __future__ import annotations

__all__ = ["CLASS_NAMES", "REGRESSION_LABELS", "is_classification"]

#: amino acids in the published label order (1..20)
_THREE = (
    "ALA",
    "ARG",
    "ASN",
    "ASP",
    "CYS",
    "GLN",
    "GLU",
    "GLY",
    "HIS",
    "ILE",
    "LEU",
    "LYS",
    "MET",
    "PHE",
    "PRO",
    "SER",
    "THR",
    "TRP",
    "TYR",
    "VAL",
)

#: class names of each classification label kind, in label-value order (storage_schemas doc)
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "atom": ("background", "CA", "N", "C"),
    "amino_acid": ("none", *_THREE),
    "secondary_structure": ("none", "coil", "helix", "strand"),
    "atom_type": ("none", "CA", "CB", "C", "O", "N"),
    "denoise_class": ("background", "atom", "near"),
}
#: label kinds that hold densities (regression targets)
REGRESSION_LABELS = ("denoise_regression", "simulated")


def is_classification(label: str) -> bool:
    return label in CLASS_NAMES
