"""Comparing a built model with a reference model (Cryo2Struct's evaluation).

* **Cα recall / precision / F1** at 3 Å: predicted and true Cα atoms are matched one to one,
  closest pairs first (greedy over all pairs within the cutoff, found with a KD-tree);
  recall = matched / true Cα, precision = matched / predicted Cα.
* **Sequence match**: of the matched pairs, the fraction whose residue types agree
  (one-letter codes; both unknown never counts).
* **Residue coverage** and **sequence recall**, as Phenix ``chain_comparison`` reports them (the
  CryoTEN paper's model table): a true residue is covered when some predicted Cα lies within
  3 Å of its Cα (the nearest one; not one to one, so two true residues may share it), and
  recalled when that nearest predicted residue also has its type; both are fractions of the
  true residues.
* **TM-score** (TM-align through ``tmtools``), chain by chain: each true chain against the
  predicted chain of the same name, residues paired by a sequence alignment of the two chains
  (gemmi), so the score measures the fold of the threaded residues wherever the chain was put
  (a chain threaded onto another copy of a homo-oligomer still scores); each normalised by the
  true chain's length, then averaged weighted by true length (a true chain with no predicted
  chain counts 0). A fixed residue pairing keeps TM-align fast at complex scale (whole-complex
  TM-align searches alignments in O(L²) and takes minutes for 4,000 residues).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import gemmi
import numpy as np
import tmtools
from scipy.spatial import cKDTree

from cryoray.io.models import AtomicModel
from cryoray.io.sequences import one_letter

__all__ = ["ModelComparison", "compare_models", "match_ca"]


@dataclass(frozen=True)
class ModelComparison:
    """Scores of a predicted model against a true one (see module docs)."""

    n_true: int
    n_pred: int
    n_matched: int
    ca_recall: float
    ca_precision: float
    ca_f1: float
    sequence_match: float
    residue_coverage: float
    sequence_recall: float
    tm_score: float
    rmsd_matched: float
    cutoff: float
    tm_per_chain: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def match_ca(pred_xyz: np.ndarray, true_xyz: np.ndarray, cutoff: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of predicted to true positions within ``cutoff`` Å, closest pairs first.

    Returns index arrays ``(pred_index, true_index)`` of the matched pairs.
    """
    if len(pred_xyz) == 0 or len(true_xyz) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pairs = cKDTree(pred_xyz).sparse_distance_matrix(cKDTree(true_xyz), cutoff, output_type="ndarray")
    order = np.argsort(pairs["v"], kind="stable")
    used_p = np.zeros(len(pred_xyz), dtype=bool)
    used_t = np.zeros(len(true_xyz), dtype=bool)
    out_p, out_t = [], []
    for i, j in zip(pairs["i"][order], pairs["j"][order], strict=True):
        if not used_p[i] and not used_t[j]:
            used_p[i] = used_t[j] = True
            out_p.append(i)
            out_t.append(j)
    return np.array(out_p, dtype=np.int64), np.array(out_t, dtype=np.int64)


def _ca_trace(model: AtomicModel) -> tuple[np.ndarray, str, np.ndarray]:
    """Cα positions, one-letter sequence and chain name of every amino-acid residue, in file order."""
    atoms = model.atoms()
    ca = atoms.select(atoms.is_ca)
    return ca.xyz, "".join(one_letter(n) for n in ca.residue_name), ca.chain


def _chain_tm(pred_xyz: np.ndarray, pred_seq: str, true_xyz: np.ndarray, true_seq: str) -> float:
    """TM-score normalised by the true chain, residues paired by a sequence alignment."""
    aligned = gemmi.align_string_sequences(list(pred_seq), list(true_seq), [])
    pairing = [aligned.add_gaps(pred_seq, 1), aligned.add_gaps(true_seq, 2)]
    result = tmtools.tm_align(
        np.ascontiguousarray(pred_xyz), np.ascontiguousarray(true_xyz), pred_seq, true_seq, pairing
    )
    return float(result.tm_norm_chain2)


def compare_models(pred: AtomicModel, true: AtomicModel, *, cutoff: float = 3.0) -> ModelComparison:
    """Cα recall, precision, F1, sequence match and TM-score of ``pred`` against ``true``.

    Raises:
        EmptyModelError: either model has no amino-acid Cα atoms.
    """
    pred.ca_xyz()  # raise the typed error for a model without Cα
    true.ca_xyz()
    true_xyz, true_seq, true_chain = _ca_trace(true)
    pred_xyz, pred_seq, pred_chain = _ca_trace(pred)
    ip, it = match_ca(pred_xyz, true_xyz, cutoff)
    n = len(ip)
    recall = n / len(true_xyz)
    precision = n / len(pred_xyz)
    f1 = 2 * recall * precision / (recall + precision) if n else 0.0
    same = [pred_seq[a] == true_seq[b] and pred_seq[a] != "X" for a, b in zip(ip, it, strict=True)]
    distance, nearest = cKDTree(pred_xyz).query(true_xyz, distance_upper_bound=cutoff)
    covered = np.isfinite(distance)
    recalled = [covered[t] and pred_seq[nearest[t]] == true_seq[t] != "X" for t in range(len(true_xyz))]
    tm_per_chain = {}
    for chain in dict.fromkeys(true_chain.tolist()):
        t_sel = np.flatnonzero(true_chain == chain)
        p_sel = np.flatnonzero(pred_chain == chain)
        tm_per_chain[chain] = (
            _chain_tm(
                pred_xyz[p_sel],
                "".join(pred_seq[i] for i in p_sel),
                true_xyz[t_sel],
                "".join(true_seq[i] for i in t_sel),
            )
            if len(p_sel) >= 3 and len(t_sel) >= 3
            else 0.0
        )
    lengths = {c: int(np.count_nonzero(true_chain == c)) for c in tm_per_chain}
    tm_score = sum(tm_per_chain[c] * lengths[c] for c in tm_per_chain) / len(true_xyz)
    rmsd = float(np.sqrt(np.mean(np.sum((pred_xyz[ip] - true_xyz[it]) ** 2, axis=1)))) if n else float("nan")
    return ModelComparison(
        n_true=len(true_xyz),
        n_pred=len(pred_xyz),
        n_matched=n,
        ca_recall=recall,
        ca_precision=precision,
        ca_f1=f1,
        sequence_match=float(np.mean(same)) if n else 0.0,
        residue_coverage=float(covered.mean()),
        sequence_recall=float(np.mean(recalled)),
        tm_score=float(tm_score),
        rmsd_matched=rmsd,
        cutoff=cutoff,
        tm_per_chain=tm_per_chain,
    )
