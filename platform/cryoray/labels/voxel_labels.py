"""Voxel labels for classification (Cryo2StructData) and denoising, on a map's grid.

Every atom is assigned to the voxel whose centre is nearest (``GridFrame.nearest_voxel``, the
rule the fit check uses), so a label sits exactly on the density it describes. Atoms outside
the grid are ignored. When several labelled atoms share a voxel, the one with the highest
priority wins (priorities below); equal priorities: the later atom in the file.

Classification (published codes, 0 = background):
* atoms: Cα = 1, N = 2, C = 3 (backbone of amino-acid residues; Cα has priority);
* amino acid at the Cα voxel: 1..20 in the order ALA ARG ASN ASP CYS GLN GLU GLY HIS ILE LEU
  LYS MET PHE PRO SER THR TRP TYR VAL (modified residues count as their parent, MSE -> MET;
  unknown residues 0); optionally at every voxel within a radius of the Cα (nearest Cα wins);
* secondary structure at the Cα voxel: coil = 1, helix = 2, strand = 3.
Denoising:
* atom types at atom voxels: Cα = 1, Cβ = 2, C = 3, O = 4, N = 5 (Cα first, then N, C, O, Cβ);
* 3 classes: atom voxel = 1, within ``radius`` Å of an atom = 2, background = 0 (all atoms);
* regression: the simulated map at atom voxels and within ``radius`` Å, 0 elsewhere.
"""

from __future__ import annotations

import numpy as np

from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.io.models import AtomTable
from cryoray.io.sequences import AMINO_ACIDS, one_letter
from cryoray.labels.secondary_structure import COIL, ResidueKey
from cryoray.preprocessing.masks import zone_mask

__all__ = [
    "ATOM_CLASSES",
    "ATOM_TYPE_CLASSES",
    "MAX_DENOISE_RADIUS",
    "amino_acid_labels",
    "atom_labels",
    "atom_type_labels",
    "denoise_class_labels",
    "denoise_regression_target",
    "secondary_structure_labels",
]

#: name -> label, listed from lowest to highest priority
ATOM_CLASSES = {"C": 3, "N": 2, "CA": 1}
ATOM_TYPE_CLASSES = {"CB": 2, "O": 4, "C": 3, "N": 5, "CA": 1}
#: Largest denoising radius in Å a config accepts: twice the usual 6 Å; beyond it "near an
#: atom" covers most of a map and the labels stop telling density from background.
MAX_DENOISE_RADIUS = 12.0


def _paint(frame: GridFrame, xyz: np.ndarray, values: np.ndarray, out: np.ndarray) -> None:
    """Write ``values`` at the nearest voxels of ``xyz`` (later entries win), ignoring outside atoms."""
    index = frame.nearest_voxel(xyz)
    inside = frame.contains_index(index)
    index, values = index[inside], values[inside]
    out[index[:, 0], index[:, 1], index[:, 2]] = values


def _by_priority(frame: GridFrame, atoms: AtomTable, classes: dict[str, int]) -> np.ndarray:
    out = np.zeros(frame.shape, dtype=np.uint8)
    backbone = atoms.is_amino_acid
    for name, label in classes.items():  # lowest priority first, so higher ones overwrite
        chosen = backbone & (atoms.atom_name == name)
        if name == "CA":
            chosen &= atoms.is_ca
        _paint(frame, atoms.xyz[chosen], np.full(int(chosen.sum()), label, np.uint8), out)
    return out


def atom_labels(frame: GridFrame, atoms: AtomTable) -> np.ndarray:
    """uint8 grid: Cα = 1, N = 2, C = 3 at backbone atom voxels."""
    return _by_priority(frame, atoms, ATOM_CLASSES)


def atom_type_labels(frame: GridFrame, atoms: AtomTable) -> np.ndarray:
    """uint8 grid: Cα = 1, Cβ = 2, C = 3, O = 4, N = 5 at those atoms' voxels."""
    return _by_priority(frame, atoms, ATOM_TYPE_CLASSES)


def _paint_within(frame: GridFrame, xyz: np.ndarray, values: np.ndarray, radius: float, out: np.ndarray) -> None:
    """Write ``values`` at every voxel within ``radius`` Å of ``xyz``; the nearest point wins a shared voxel."""
    reach = np.ceil(radius / np.asarray(frame.voxel_size)[::-1]).astype(int)  # voxels, (z, y, x)
    offsets = np.stack(np.meshgrid(*(np.arange(-r, r + 1) for r in reach), indexing="ij"), -1).reshape(-1, 3)
    index = (frame.nearest_voxel(xyz)[:, None, :] + offsets[None]).reshape(-1, 3)
    owner = np.repeat(np.arange(len(xyz)), len(offsets))
    inside = frame.contains_index(index)
    index, owner = index[inside], owner[inside]
    distance = np.linalg.norm(frame.index_to_xyz(index) - xyz[owner], axis=1)
    near = distance <= radius
    index, owner, distance = index[near], owner[near], distance[near]
    order = np.argsort(-distance, kind="stable")  # farthest first, so the nearest point is written last
    index, owner = index[order], owner[order]
    out[index[:, 0], index[:, 1], index[:, 2]] = values[owner]


def amino_acid_labels(frame: GridFrame, atoms: AtomTable, radius: float = 0.0) -> np.ndarray:
    """uint8 grid: residue type 1..20 at each Cα voxel (0 for unknown residues and background).

    ``radius`` > 0 (Å) labels every voxel within it of a Cα, the nearest Cα's type winning: a head
    trained so reads residue types a voxel or two off the Cα too, where a heatmap's peaks fall,
    and learns from ~10x more voxels per residue than the Cα's one.
    """
    ca = atoms.select(atoms.is_ca)
    lookup = {aa: i + 1 for i, aa in enumerate(AMINO_ACIDS)}
    codes = np.array([lookup.get(one_letter(name), 0) for name in ca.residue_name], dtype=np.uint8)
    out = np.zeros(frame.shape, dtype=np.uint8)
    if radius > 0:
        _paint_within(frame, ca.xyz, codes, radius, out)
    _paint(frame, ca.xyz, codes, out)  # the Cα voxel itself always (even where it lies over `radius`)
    return out


def secondary_structure_labels(frame: GridFrame, atoms: AtomTable, codes: dict[ResidueKey, int]) -> np.ndarray:
    """uint8 grid: coil = 1, helix = 2, strand = 3 at each Cα voxel (residues not in ``codes`` are coil)."""
    ca = atoms.select(atoms.is_ca)
    values = np.array(
        [codes.get((c, int(n), i), COIL) for c, n, i in zip(ca.chain, ca.seq_id, ca.icode, strict=True)], dtype=np.uint8
    )
    out = np.zeros(frame.shape, dtype=np.uint8)
    _paint(frame, ca.xyz, values, out)
    return out


def denoise_class_labels(frame: GridFrame, atoms: AtomTable, radius: float = 6.0) -> np.ndarray:
    """uint8 grid: atom voxel = 1, within ``radius`` Å of an atom = 2, background = 0."""
    out = np.where(zone_mask(frame, atoms.xyz, radius, allow_empty=True), np.uint8(2), np.uint8(0))
    _paint(frame, atoms.xyz, np.ones(len(atoms), np.uint8), out)
    return out


def denoise_regression_target(simulated: DensityMap, atoms: AtomTable, radius: float = 6.0) -> np.ndarray:
    """float32 grid: ``simulated`` at atom voxels and within ``radius`` Å of an atom, 0 elsewhere."""
    near = zone_mask(simulated.frame, atoms.xyz, radius, allow_empty=True)
    atom_voxels = np.zeros(simulated.frame.shape, dtype=bool)
    _paint(simulated.frame, atoms.xyz, np.ones(len(atoms), bool), atom_voxels)
    return np.where(near | atom_voxels, simulated.data, np.float32(0))
