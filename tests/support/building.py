"""Realistic HMM states from deposited models, shared by the build tests and bench_build.

True Cα positions (with Gaussian noise per axis) become states, a fraction of them is removed,
and decoys (side-chain-like density 1.5–3 Å from a true Cα) are added. Amino-acid rows are
informative but noisy: a Dirichlet draw with extra weight on the true residue (decoys: on the
residue they sit next to, less). States are shuffled so their order says nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cryoray.io.models import read_model
from cryoray.io.sequences import AMINO_ACIDS, one_letter
from cryoray.modelbuild.states import HmmStates

__all__ = ["HAEMOGLOBIN", "SyntheticCase", "make_case", "model_chains", "random_walk_chain", "tile"]

#: 5ME2, the deposited model of EMD-3488 (relative to shared/data/real)
HAEMOGLOBIN = "EMD-3488_5ME2_haemoglobin/5me2.pdb"


@dataclass(frozen=True)
class SyntheticCase:
    """States plus the truth: per chain its id, sequence, true Cα (T×3) and true state (-1: removed)."""

    states: HmmStates
    chain_ids: list[str]
    sequences: list[str]
    true_xyz: list[np.ndarray]
    true_state: list[np.ndarray]


def model_chains(path: str) -> tuple[list[str], list[str], list[np.ndarray]]:
    """Chain ids, Cα sequences (one letter; unknown residues become A) and Cα positions of a model."""
    atoms = read_model(path).atoms()
    ca = atoms.is_ca
    ids, seqs, xyzs = [], [], []
    for chain in dict.fromkeys(atoms.chain[ca]):
        sel = ca & (atoms.chain == chain)
        letters = "".join(one_letter(n) for n in atoms.residue_name[sel]).replace("X", "A")
        ids.append(str(chain))
        seqs.append(letters)
        xyzs.append(atoms.xyz[sel])
    return ids, seqs, xyzs


def tile(ids: list[str], seqs: list[str], xyzs: list[np.ndarray], copies: int, offset: float) -> tuple:
    """``copies`` copies of a complex, each shifted by ``offset`` Å along x; chain ids get a digit suffix."""
    out_ids, out_seqs, out_xyz = [], [], []
    for c in range(copies):
        for cid, seq, xyz in zip(ids, seqs, xyzs, strict=True):
            out_ids.append(cid if c == 0 else f"{cid}{c}")
            out_seqs.append(seq)
            out_xyz.append(xyz + np.array([c * offset, 0.0, 0.0]))
    return out_ids, out_seqs, out_xyz


def random_walk_chain(n: int, rng: np.random.Generator, *, step: float = 3.8) -> np.ndarray:
    """A self-avoiding-ish compact Cα walk of ``n`` residues (steps of ``step`` Å, no two closer than 4 Å)."""
    xyz = np.zeros((n, 3))
    for t in range(1, n):
        for _ in range(200):
            v = rng.normal(size=3)
            cand = xyz[t - 1] + step * v / np.linalg.norm(v)
            if t < 2 or np.min(np.linalg.norm(xyz[: t - 1] - cand, axis=1)) > 4.0:
                break
        xyz[t] = cand
    return xyz


def _dirichlet_rows(rng: np.random.Generator, n: int, favoured: np.ndarray, boost: float) -> np.ndarray:
    alpha = np.full((n, 20), 0.5)
    alpha[np.arange(n), favoured] += boost
    rows = rng.gamma(alpha)
    return rows / rows.sum(axis=1, keepdims=True)


def make_case(
    ids: list[str],
    seqs: list[str],
    xyzs: list[np.ndarray],
    *,
    noise: float,
    decoy_fraction: float = 0.3,
    missing_fraction: float = 0.0,
    seed: int = 0,
    true_boost: float = 3.0,
    decoy_boost: float = 1.5,
) -> SyntheticCase:
    """States for chains ``ids`` with sequences ``seqs`` at true Cα ``xyzs`` (see module docs)."""
    rng = np.random.default_rng(seed)
    true_all = np.concatenate(xyzs)
    codes_all = np.array([AMINO_ACIDS.index(c) for c in "".join(seqs)])
    n_true = len(true_all)
    keep = rng.random(n_true) >= missing_fraction
    kept = np.flatnonzero(keep)
    n_decoy = round(decoy_fraction * n_true)
    anchor = rng.integers(0, n_true, n_decoy)
    direction = rng.normal(size=(n_decoy, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    decoy_xyz = true_all[anchor] + direction * rng.uniform(1.5, 3.0, (n_decoy, 1))
    xyz = np.concatenate([true_all[kept] + rng.normal(0.0, noise, (len(kept), 3)), decoy_xyz])
    aa = np.concatenate(
        [
            _dirichlet_rows(rng, len(kept), codes_all[kept], true_boost),
            _dirichlet_rows(rng, n_decoy, codes_all[anchor], decoy_boost),
        ]
    )
    ca_prob = np.concatenate([rng.uniform(0.5, 1.0, len(kept)), rng.uniform(0.4, 0.8, n_decoy)])
    perm = rng.permutation(len(xyz))
    inverse = np.empty_like(perm)
    inverse[perm] = np.arange(len(perm))
    state_of_true = np.full(n_true, -1)
    state_of_true[kept] = inverse[np.arange(len(kept))]
    bounds = np.cumsum([0] + [len(x) for x in xyzs])
    return SyntheticCase(
        states=HmmStates.validated(xyz[perm], aa[perm], ca_prob[perm]),
        chain_ids=list(ids),
        sequences=list(seqs),
        true_xyz=[np.asarray(x, dtype=np.float64) for x in xyzs],
        true_state=[state_of_true[bounds[c] : bounds[c + 1]] for c in range(len(xyzs))],
    )
