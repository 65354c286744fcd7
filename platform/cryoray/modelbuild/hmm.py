"""The Cryo2Struct hidden Markov model over Cα states, held in sparse form with the dense numbers.

The model, exactly as published (Cryo2Struct ``viterbi_batches.py``), natural logs:

* transition ``A[i, j] = (N(d_ij; μ, σ) + 1e-20) / Z_i`` with ``d_ij`` the distance of states
  ``i`` and ``j``, ``μ = 3.8047179727719045`` Å, ``σ = 0.03622304 × λ`` Å (``λ = 10``), and ``Z_i``
  the sum of the numerators over all ``K`` states (``j = i`` included, as in the dense matrix);
* emission ``e(s, a) = sqrt(p(s, a) · bg(a))`` normalised over the 20 amino acids, where ``p`` is
  the state's amino-acid row plus 1e-20, normalised first;
* start ``π(s) = e(s, a₁) / Σ_s e(s, a₁)`` for the chain's first residue ``a₁``.

Sparse form: beyond ``neighbour_radius(σ)`` the Gaussian is below 1e-37, so ``N + 1e-20`` rounds
to exactly ``1e-20`` in float64 and every such entry of row ``i`` equals ``far_i = 1e-20 / Z_i``.
Each row is therefore stored as its few near entries (a KD-tree query) plus the one constant
``far_i``; ``Z_i`` adds the far entries in closed form (``(K - 1 - n_i) × 1e-20``). Scores of any
path equal the dense matrices' (see ``tests/modelbuild/test_hmm.py``).

Two choices the published code leaves open, fixed here: the model is built once over all ``K``
states, and states used by earlier chains are forbidden (probability 0) rather than removed and
renormalised; residue ``X`` (unknown, from B/Z/J/X in the sequence) emits ``1/20`` from every
state, the mean of each emission row (the published code drops such residues, which would
shift the numbering).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from scipy.spatial import cKDTree
from scipy.stats import norm

from cryoray.io.sequences import AMINO_ACIDS, UNKNOWN

__all__ = [
    "BACKGROUND",
    "MU",
    "PSEUDO",
    "SIGMA_PER_LAMBDA",
    "X_CODE",
    "HmmModel",
    "build_hmm",
    "encode_sequence",
    "neighbour_radius",
]

#: Mean Cα–Cα distance of the transition Gaussian (Å).
MU = 3.8047179727719045
#: σ of the transition Gaussian per unit of λ (Å); σ = SIGMA_PER_LAMBDA × λ.
SIGMA_PER_LAMBDA = 0.03622304
#: Added to every transition numerator and every amino-acid probability before normalising.
PSEUDO = 1e-20
#: Background amino-acid frequencies bg(a), in the order of ``AMINO_ACIDS``.
BACKGROUND = np.array(
    [
        0.07943948021002176, 0.0497783411606611, 0.04433904104844631, 0.05350186331961819,
        0.022626103099067648, 0.03937526841500076, 0.05627820955072524, 0.07217724394940638,
        0.01882610864053863, 0.06108044830500256, 0.09799918263302994, 0.05331463086876411,
        0.021703725253868638, 0.045350220966155465, 0.041743693113336935, 0.06416670130086032,
        0.058655985481346026, 0.012496017067730628, 0.03598361109956638, 0.071164124516853,
    ]
)  # fmt: skip
#: Code of residue ``X`` (unknown) in encoded sequences; 0..19 follow ``AMINO_ACIDS``.
X_CODE = 20
_CODES = {letter: code for code, letter in enumerate(AMINO_ACIDS)} | {UNKNOWN: X_CODE}
#: Gaussian values below this vanish next to 1e-20 in float64 (half an ulp is ~5e-37).
_NEGLIGIBLE = 1e-37


def neighbour_radius(sigma: float) -> float:
    """Distance (Å) beyond which ``N(d; μ, σ) + 1e-20 == 1e-20`` exactly in float64."""
    z = math.sqrt(2.0 * math.log(1.0 / (sigma * math.sqrt(2.0 * math.pi) * _NEGLIGIBLE)))
    return MU + z * sigma


def encode_sequence(sequence: str) -> np.ndarray:
    """Residue codes (0..19 in ``AMINO_ACIDS`` order, 20 for ``X``) of a cleaned sequence."""
    try:
        return np.array([_CODES[c] for c in sequence], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"not a cleaned amino-acid sequence: letter {exc.args[0]!r}") from None


@dataclass(frozen=True)
class HmmModel:
    """The HMM in sparse form. Transitions are stored by target (``in_*``, CSR by ``j``).

    Args:
        xyz: ``(K, 3)`` state positions in Å.
        sigma: σ of the transition Gaussian (Å).
        in_ptr: ``(K + 1,)`` row pointers: sources of target ``j`` are ``in_src[in_ptr[j]:in_ptr[j+1]]``.
        in_src: source states ``i`` (sorted within each target, ``i != j``).
        in_logp: ``log A[i, j]`` of those entries.
        out_ptr, out_dst, out_logp: the same entries by source (targets of ``i`` sorted).
        log_far: ``(K,)`` ``log A[i, j]`` for every ``j`` beyond the neighbour radius of ``i``.
        log_self: ``(K,)`` ``log A[i, i]`` (a path that repeats a state is invalid, but scorable).
        log_emit: ``(K, 21)`` log emissions; column 20 is ``X`` (``log 1/20``).
    """

    xyz: np.ndarray
    sigma: float
    in_ptr: np.ndarray
    in_src: np.ndarray
    in_logp: np.ndarray
    out_ptr: np.ndarray
    out_dst: np.ndarray
    out_logp: np.ndarray
    log_far: np.ndarray
    log_self: np.ndarray
    log_emit: np.ndarray

    @property
    def n_states(self) -> int:
        return len(self.xyz)

    def log_start(self, first_code: int) -> np.ndarray:
        """``log π(s)`` over all states for a chain whose first residue has code ``first_code``."""
        if first_code == X_CODE:
            return np.full(self.n_states, -math.log(self.n_states))
        emit = np.exp(self.log_emit[:, first_code])
        return self.log_emit[:, first_code] - math.log(emit.sum())

    def log_transition(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """``log A[src, dst]`` for arrays of state pairs."""
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        return _lookup(self.in_ptr, self.in_src, self.in_logp, self.log_far, self.log_self, src, dst)

    def path_log_score(self, codes: np.ndarray, path: np.ndarray) -> float:
        """Log-probability of the joint of a state path and a residue sequence (same length).

        ``log π(s₁) + Σ_t log e(s_t, a_t) + Σ_{t>1} log A[s_{t-1}, s_t]``: the Viterbi objective.
        """
        codes = np.asarray(codes, dtype=np.int64)
        path = np.asarray(path, dtype=np.int64)
        if len(path) == 0:
            return 0.0
        score = float(self.log_start(int(codes[0]))[path[0]])
        score += float(self.log_emit[path, codes].sum())
        score += float(self.log_transition(path[:-1], path[1:]).sum())
        return score


@numba.njit(cache=True, nogil=True)
def _lookup(in_ptr, in_src, in_logp, log_far, log_self, src, dst):  # pragma: no cover - compiled
    out = np.empty(len(src))
    for n in range(len(src)):
        i = src[n]
        j = dst[n]
        if i == j:
            out[n] = log_self[i]
            continue
        lo = in_ptr[j]
        hi = in_ptr[j + 1]
        while lo < hi:  # binary search: sources are sorted within each target
            mid = (lo + hi) // 2
            if in_src[mid] < i:
                lo = mid + 1
            else:
                hi = mid
        out[n] = in_logp[lo] if lo < in_ptr[j + 1] and in_src[lo] == i else log_far[i]
    return out


def _gaussian(d: np.ndarray, sigma: float) -> np.ndarray:
    return norm.pdf(d, MU, sigma)  # scipy, as the published code


def build_hmm(xyz: np.ndarray, aa_probs: np.ndarray, *, std_lambda: float = 10.0) -> HmmModel:
    """The sparse HMM of states at ``xyz`` (``(K, 3)`` Å) with amino-acid rows ``aa_probs`` (``(K, 20)``).

    Memory and time are O(K × neighbours), neighbours being the states within
    :func:`neighbour_radius` (8.5 Å at λ = 10, typically 20–60).
    """
    if not std_lambda > 0:
        raise ValueError(f"`std_lambda` must be positive, got {std_lambda}")
    xyz = np.ascontiguousarray(xyz, dtype=np.float64)
    k = len(xyz)
    sigma = SIGMA_PER_LAMBDA * std_lambda
    pairs = cKDTree(xyz).query_pairs(neighbour_radius(sigma), output_type="ndarray").astype(np.int64)
    dist = np.linalg.norm(xyz[pairs[:, 0]] - xyz[pairs[:, 1]], axis=1)
    numer = _gaussian(dist, sigma) + PSEUDO
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    numer = np.concatenate([numer, numer])
    self_numer = float(_gaussian(np.zeros(1), sigma)[0]) + PSEUDO
    degree = np.bincount(src, minlength=k)
    z = np.bincount(src, weights=numer, minlength=k) + self_numer + (k - 1 - degree) * PSEUDO
    log_z = np.log(z)
    logp = np.log(numer) - log_z[src]
    by_dst = np.lexsort((src, dst))
    by_src = np.lexsort((dst, src))
    in_ptr = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(np.bincount(dst, minlength=k), out=in_ptr[1:])
    out_ptr = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=k), out=out_ptr[1:])
    probs = np.asarray(aa_probs, dtype=np.float64) + PSEUDO
    probs /= probs.sum(axis=1, keepdims=True)
    emit = np.sqrt(probs * BACKGROUND)
    emit /= emit.sum(axis=1, keepdims=True)
    log_emit = np.empty((k, 21))
    log_emit[:, :20] = np.log(emit)
    log_emit[:, X_CODE] = -math.log(20.0)
    return HmmModel(
        xyz=xyz,
        sigma=sigma,
        in_ptr=in_ptr,
        in_src=src[by_dst].astype(np.int32),
        in_logp=logp[by_dst],
        out_ptr=out_ptr,
        out_dst=dst[by_src].astype(np.int32),
        out_logp=logp[by_src],
        log_far=math.log(PSEUDO) - log_z,
        log_self=math.log(self_numer) - log_z,
        log_emit=log_emit,
    )
