"""Small real data shipped inside the package (like ``skimage.data``), for demos and tests.

>>> from cryoray.sample import haemoglobin
>>> entry = haemoglobin()
>>> entry.map.name
'emd_3488.mrc.gz'
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["SampleEntry", "haemoglobin"]


@dataclass(frozen=True)
class SampleEntry:
    """One EMDB entry's files: map, fitted model, sequence and a contour mask."""

    entry_id: str
    pdb_id: str
    resolution: float
    map: Path
    model: Path
    sequence: Path
    contour_mask: Path
    contour: float


def _file(name: str) -> Path:
    path = Path(str(resources.files(__name__).joinpath("files", name)))
    if not path.is_file():
        raise FileNotFoundError(f"bundled sample file {name} is missing from the cryoray installation ({path})")
    return path


def haemoglobin() -> SampleEntry:
    """EMD-3488: human haemoglobin at 3.2 Å (100³ voxels of 1.05 Å) with model 5ME2."""
    return SampleEntry(
        entry_id="EMD-3488",
        pdb_id="5ME2",
        resolution=3.2,
        map=_file("emd_3488.mrc.gz"),
        model=_file("5me2.pdb.gz"),
        sequence=_file("5me2.fasta"),
        contour_mask=_file("emd_3488_contour_mask.mrc.gz"),
        contour=0.5,
    )
