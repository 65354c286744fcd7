"""Q-score (Pintilie et al. 2020, Nat Methods 17:328) computed the way MapQ computes it.

For every non-hydrogen atom, map values are sampled around it and correlated with a Gaussian
reference of σ = 0.6 Å:

* radii R = 0, 0.1, …, 2.0 Å; at R = 0 the value at the atom centre counts 8 times;
* at R > 0, points spread evenly on the sphere of radius R (8 points, then 10, 12, … for up to
  50 tries) are kept where no atom of the model lies within 0.9·R; the first try keeping at
  least 8 points gives all the shell's points (no such try: the shell is skipped);
* values by trilinear interpolation (0 outside the box); reference exp(−R²/2σ²) (MapQ's A·g + B
  with A > 0 gives the same correlation);
* Q(atom) = Pearson correlation (about the means) of all its values with their references.

Residue Q is the mean over its atoms (backbone N, CA, C, O; side chain the rest), chain and
overall Q the mean over atoms. Sphere points follow the spiral of Saff & Kuijlaars (1997),
fixed in orientation, as MapQ uses. Atoms are processed in chunks: memory grows with the chunk,
not with the model; sampling is scipy's ``map_coordinates``, the 0.9·R test a ``cKDTree`` query.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from cryoray.errors import ConfigError, EmptyModelError
from cryoray.io.density_map import DensityMap
from cryoray.io.models import AtomTable

__all__ = [
    "BACKBONE",
    "QScoreReport",
    "ResidueQScores",
    "atom_q_scores",
    "expected_q_score",
    "q_score",
    "summarise_q_scores",
]

SIGMA = 0.6  # Å, width of the reference Gaussian
RADII = np.round(np.arange(0.0, 2.0 + 1e-9, 0.1), 1)  # Å
MIN_POINTS = 8  # points a shell needs (and the weight of the centre value)
MAX_TRIES = 50
EXCLUSION = 0.9  # a point is dropped when any atom lies within EXCLUSION * R of it
BACKBONE = ("N", "CA", "C", "O")
_CHUNK_ATOMS = 2048


@lru_cache(maxsize=MAX_TRIES)
def _unit_sphere(n: int) -> np.ndarray:
    """``n`` unit vectors ``(n, 3)`` spread over the sphere by the Saff–Kuijlaars spiral.

    Heights h_k = −1 + 2(k−1)/(n−1) from pole to pole; the azimuth advances by 3.6/√(n(1−h_k²))
    between points, and is 0 at both poles.
    """
    h = -1.0 + 2.0 * np.arange(n) / (n - 1)
    polar = np.arccos(h)
    step = np.zeros(n)
    step[1:-1] = 3.6 / np.sqrt(n * (1.0 - h[1:-1] ** 2))
    azimuth = np.mod(np.cumsum(step), 2.0 * np.pi)
    azimuth[-1] = 0.0
    out = np.stack([np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)], axis=1)
    out.flags.writeable = False
    return out


def _shell_points(centres: np.ndarray, radius: float, tree: cKDTree) -> tuple[np.ndarray, np.ndarray]:
    """Kept points of the shell at ``radius`` around each centre: positions ``(M, 3)`` and centre index ``(M,)``."""
    limit = EXCLUSION * radius
    pending = np.arange(len(centres))
    points, owners = [], []
    for attempt in range(MAX_TRIES):
        if len(pending) == 0:
            break
        n = MIN_POINTS + 2 * attempt
        candidates = centres[pending, None, :] + radius * _unit_sphere(n)[None]
        # The tree's bound is strict and only prunes; the exact rule (no atom within 0.9 R) is applied below.
        nearest, _ = tree.query(candidates.reshape(-1, 3), distance_upper_bound=limit * (1 + 1e-9) + 1e-12)
        free = (nearest > limit).reshape(len(pending), n)
        done = free.sum(axis=1) >= MIN_POINTS
        points.append(candidates[done][free[done]])
        owners.append(np.repeat(pending[done], free[done].sum(axis=1)))
        pending = pending[~done]
    if not points:
        return np.empty((0, 3)), np.empty(0, dtype=np.int64)
    return np.concatenate(points), np.concatenate(owners)


def _grouped_pearson(values: np.ndarray, reference: np.ndarray, weight: np.ndarray, group: np.ndarray, n: int):
    """Weighted Pearson correlation of ``values`` with ``reference`` within each group (NaN if constant)."""

    def total(x: np.ndarray) -> np.ndarray:
        return np.bincount(group, weights=weight * x, minlength=n)

    count = total(np.ones_like(values))
    mean_v, mean_r = total(values) / count, total(reference) / count
    dv, dr = values - mean_v[group], reference - mean_r[group]
    denominator = np.sqrt(total(dv * dv) * total(dr * dr))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, total(dv * dr) / denominator, np.nan)


def atom_q_scores(density: DensityMap, xyz: np.ndarray) -> np.ndarray:
    """Q-score of each position ``(N, 3)`` in Å (x, y, z): the model's non-hydrogen atoms, all of them.

    Every position both is scored and excludes sphere points of the others, so pass the whole
    model, not a part. NaN where all sampled values are equal (e.g. the atom lies far outside the box).
    """
    xyz = np.ascontiguousarray(xyz, dtype=np.float64).reshape(-1, 3)
    tree = cKDTree(xyz)
    out = np.empty(len(xyz))
    for start in range(0, len(xyz), _CHUNK_ATOMS):
        centres = xyz[start : start + _CHUNK_ATOMS]
        positions, owners, references = [centres], [np.arange(len(centres))], [np.ones(len(centres))]
        for radius in RADII[1:]:
            points, owner = _shell_points(centres, float(radius), tree)
            positions.append(points)
            owners.append(owner)
            references.append(np.full(len(owner), np.exp(-(radius**2) / (2 * SIGMA**2))))
        position = np.concatenate(positions)
        index = density.frame.xyz_to_index(position).T  # (3, M) fractional z, y, x
        values = ndimage.map_coordinates(density.data, index, order=1, mode="constant", cval=0.0, prefilter=False)
        weight = np.ones(len(position))
        weight[: len(centres)] = MIN_POINTS  # the centre value counts as a whole shell
        out[start : start + len(centres)] = _grouped_pearson(
            values.astype(np.float64), np.concatenate(references), weight, np.concatenate(owners), len(centres)
        )
    return out


def expected_q_score(resolution: float) -> float | None:
    """Q expected for a protein map at ``resolution`` Å: −0.1775·R + 1.1192 (Pintilie et al. 2020).

    The line was fitted to maps of about 1–5 Å; it reaches 0 at 6.3 Å, and beyond that it means
    nothing (a Q-score is at least ~0 for any map): None there.

    Raises:
        ConfigError: the resolution is not a positive finite number.
    """
    if not (np.isfinite(resolution) and resolution > 0):
        raise ConfigError("resolution", f"must be a positive number of Å, got {resolution}")
    expected = -0.1775 * resolution + 1.1192
    return expected if expected > 0 else None


@dataclass(frozen=True)
class ResidueQScores:
    """Per-residue Q in model order (all arrays one per residue; NaN where a part has no scored atom)."""

    chain: np.ndarray
    seq_id: np.ndarray
    icode: np.ndarray
    residue_name: np.ndarray
    q: np.ndarray
    q_backbone: np.ndarray
    q_side_chain: np.ndarray

    def __len__(self) -> int:
        return len(self.q)


@dataclass(frozen=True)
class QScoreReport:
    """Q-scores of a model in a map.

    Args:
        atom_q: Q of every input atom, NaN for atoms not scored (hydrogens) or undefined.
        residues: per-residue Q (all atoms, backbone, side chain).
        chains: chain name -> mean Q of its atoms.
        overall: mean Q over all scored atoms.
        n_atoms: atoms with a defined Q.
    """

    atom_q: np.ndarray
    residues: ResidueQScores
    chains: dict[str, float]
    overall: float
    n_atoms: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary in ``cryoray evaluate``'s layout: ``mean``, ``per_chain`` and
        ``per_residue`` rows (``chain``, ``number``, ``name``, Q of backbone, side chain and all;
        ``icode`` only for residues with an insertion code); NaN is written as None."""

        def clean(value: float) -> float | None:
            return None if np.isnan(value) else round(float(value), 4)

        r = self.residues
        rows = []
        for i in range(len(r)):
            row: dict[str, object] = {"chain": str(r.chain[i]), "number": int(r.seq_id[i])}
            if str(r.icode[i]).strip():
                row["icode"] = str(r.icode[i])
            row |= {
                "name": str(r.residue_name[i]),
                "q_backbone": clean(r.q_backbone[i]),
                "q_side_chain": clean(r.q_side_chain[i]),
                "q": clean(r.q[i]),
            }
            rows.append(row)
        return {
            "mean": clean(self.overall),
            "per_chain": {k: clean(v) for k, v in self.chains.items()},
            "per_residue": rows,
        }


def _group_mean(values: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
    """Mean of the finite ``values`` in each of ``n`` groups (NaN for a group without one)."""
    ok = np.isfinite(values)
    count = np.bincount(group[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.bincount(group[ok], weights=values[ok], minlength=n) / count


def summarise_q_scores(
    atom_q: np.ndarray,
    chain: np.ndarray,
    seq_id: np.ndarray,
    residue_name: np.ndarray,
    atom_name: np.ndarray,
    icode: np.ndarray | None = None,
) -> QScoreReport:
    """Per-residue, per-chain and overall Q from per-atom Q (NaN atoms are left out of every mean)."""
    atom_q = np.asarray(atom_q, dtype=np.float64)
    chain, residue_name, atom_name = (np.asarray(a).astype(str) for a in (chain, residue_name, atom_name))
    seq_id = np.asarray(seq_id, dtype=np.int64)
    icode = np.full(len(atom_q), " ") if icode is None else np.asarray(icode).astype(str)
    if {len(a) for a in (chain, seq_id, residue_name, atom_name, icode)} != {len(atom_q)}:
        raise ValueError(f"every per-atom array needs {len(atom_q)} entries, one per Q value")
    keys = chain
    for part in (seq_id.astype(str), icode, residue_name):
        keys = np.char.add(np.char.add(keys, "\x00"), part)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first)  # residues in model order
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    residue = rank[inverse]
    n = len(order)
    backbone = np.isin(atom_name, BACKBONE)
    rows = first[order]
    residues = ResidueQScores(
        chain=chain[rows],
        seq_id=seq_id[rows],
        icode=icode[rows],
        residue_name=residue_name[rows],
        q=_group_mean(atom_q, residue, n),
        q_backbone=_group_mean(np.where(backbone, atom_q, np.nan), residue, n),
        q_side_chain=_group_mean(np.where(backbone, np.nan, atom_q), residue, n),
    )
    names, chain_first, chain_index = np.unique(chain, return_index=True, return_inverse=True)
    chain_q = _group_mean(atom_q, chain_index, len(names))
    chain_order = np.argsort(chain_first)
    defined = np.isfinite(atom_q)
    return QScoreReport(
        atom_q=atom_q,
        residues=residues,
        chains={str(names[i]): float(chain_q[i]) for i in chain_order},
        overall=float(atom_q[defined].mean()) if defined.any() else float("nan"),
        n_atoms=int(defined.sum()),
    )


def q_score(density: DensityMap, atoms: AtomTable, *, source: str = "model") -> QScoreReport:
    """Q-scores of a model (as read by ``cryoray.io.models``) in ``density``: every non-hydrogen atom.

    Hydrogens are ignored: they are neither scored nor counted when sphere points near other atoms are dropped.

    Raises:
        EmptyModelError: the model has no non-hydrogen atom.
    """
    heavy = atoms.atomic_number != 1
    if not heavy.any():
        raise EmptyModelError(source, "model has no non-hydrogen atoms to score")
    atom_q = np.full(len(atoms), np.nan)
    atom_q[heavy] = atom_q_scores(density, atoms.xyz[heavy])
    return summarise_q_scores(atom_q, atoms.chain, atoms.seq_id, atoms.residue_name, atoms.atom_name, atoms.icode)
