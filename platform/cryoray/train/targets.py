"""What the store's label kinds mean to a training head: classes or regression values."""

from __future__ import annotations

from collections.abc import Mapping

from cryoray.bundle import HeadSpec

__all__ = ["CLASS_NAMES", "REGRESSION_LABELS", "head_specs", "is_classification"]

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
    "molecule_mask": ("background", "molecule"),
}
#: label kinds that hold values (regression targets): densities, resolutions in Å
REGRESSION_LABELS = (
    "denoise_regression",
    "simulated",
    "global_resolution",
    "relative_resolution",
    "ca_heatmap",
)


def is_classification(label: str) -> bool:
    return label in CLASS_NAMES


def head_specs(out_channels: Mapping[str, int], labels: Mapping[str, str | None]) -> tuple[HeadSpec, ...]:
    """The heads of a network with ``out_channels`` (head → channels) trained on ``labels`` (head → store label).

    Classification labels give their class names (``class0``, ... when the channels do not
    match them); a head without a label, or with a regression label, has none.
    """
    heads = []
    for name, channels in out_channels.items():
        label = labels.get(name)
        names = CLASS_NAMES.get(label) if label else None
        if names is not None and len(names) != channels:
            names = tuple(f"class{c}" for c in range(channels))
        heads.append(HeadSpec(name=name, channels=int(channels), label=label, class_names=names))
    return tuple(heads)
