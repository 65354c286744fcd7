"""The published model and search, dense, as references for tests and the benchmark (never shipped).

* :func:`dense_model`: the K×K transition and K×20 emission matrices exactly as Cryo2Struct's
  ``viterbi_batches.py`` builds them (scipy's normal pdf, +1e-20, row sums; natural logs).
* :func:`dense_path_score`: a path's log-probability from those matrices.
* :func:`restart_threading`: Cryo2Struct's ``viterbi.cpp`` search: dense Viterbi in which a
  predecessor is skipped when its survivor path already holds the target state, restarted
  (best survivor kept, its states excluded, the rest of the chain decoded afresh from the
  start distribution) whenever some state has no allowed predecessor; chains one after
  another, their states excluded. Survivor paths are kept as bit rows (not copied vectors)
  so it runs in minutes rather than hours; the decisions (tie-breaking included) are the same.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.stats

from cryoray.modelbuild.hmm import BACKGROUND, MU, PSEUDO, SIGMA_PER_LAMBDA

__all__ = ["dense_model", "dense_path_score", "restart_threading"]


def dense_model(xyz: np.ndarray, aa_probs: np.ndarray, std_lambda: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """(log transition K×K, log emission K×21 with column 20 = log 1/20 for X), as published."""
    dist = np.linalg.norm(xyz[:, None, :] - xyz[None, :, :], axis=-1)
    trans = scipy.stats.norm(MU, SIGMA_PER_LAMBDA * std_lambda).pdf(dist)
    trans += PSEUDO
    trans = trans / trans.sum(axis=1, keepdims=True)
    emission = np.array(aa_probs, dtype=np.float64) + PSEUDO
    emission = emission / emission.sum(axis=1, keepdims=True)
    emission = np.sqrt(emission * BACKGROUND)
    emission = emission / emission.sum(axis=1, keepdims=True)
    log_emit = np.concatenate([np.log(emission), np.full((len(xyz), 1), np.log(1 / 20))], axis=1)
    return np.log(trans), log_emit


def _log_start(log_emit: np.ndarray, first: int) -> np.ndarray:
    emit = np.exp(log_emit[:, first])
    return np.log(emit / emit.sum())


def dense_path_score(log_trans: np.ndarray, log_emit: np.ndarray, codes: np.ndarray, path: np.ndarray) -> float:
    """log π(s₁) + Σ log e(s_t, a_t) + Σ log A(s_{t-1}, s_t), term by term from the dense matrices."""
    score = _log_start(log_emit, int(codes[0]))[path[0]]
    for t in range(len(path)):
        score += log_emit[path[t], codes[t]]
        if t:
            score += log_trans[path[t - 1], path[t]]
    return float(score)


@numba.njit(cache=True)
def _segment(codes, work, log_trans, log_emit, log_init):  # pragma: no cover - compiled
    """One Viterbi run of the published search; returns (path in states, steps decoded, restarted)."""
    n = len(work)
    w = len(codes)
    trellis = np.empty(n)
    for a in range(n):
        trellis[a] = log_init[work[a]] + log_emit[work[a], codes[0]]
    holds = np.zeros((n, n), dtype=np.bool_)  # holds[a, b]: survivor of a contains state b
    for a in range(n):
        holds[a, a] = True
    back = np.zeros((w, n), dtype=np.int64)
    new_trellis = np.empty(n)
    new_holds = np.zeros((n, n), dtype=np.bool_)
    for t in range(1, w):
        for b in range(n):
            best = -np.inf
            arg = -1
            sb = work[b]
            for a in range(n):
                if holds[a, b]:
                    continue
                v = trellis[a] + log_trans[work[a], sb] + log_emit[sb, codes[t]]
                if v > best:
                    best = v
                    arg = a
            if arg == -1:  # no predecessor allowed: the published code restarts here
                end = 0
                for a in range(1, n):
                    if trellis[a] > trellis[end]:
                        end = a
                path = np.empty(t, dtype=np.int64)
                path[t - 1] = end
                for s in range(t - 1, 0, -1):
                    path[s - 1] = back[s, path[s]]
                return work[path], t, True
            new_trellis[b] = best
            back[t, b] = arg
            new_holds[b, :] = holds[arg, :]
            new_holds[b, b] = True
        trellis, new_trellis = new_trellis, trellis
        holds, new_holds = new_holds, holds
    end = 0
    for a in range(1, n):
        if trellis[a] > trellis[end]:
            end = a
    path = np.empty(w, dtype=np.int64)
    path[w - 1] = end
    for s in range(w - 1, 0, -1):
        path[s - 1] = back[s, path[s]]
    return work[path], w, False


def restart_threading(log_trans: np.ndarray, log_emit: np.ndarray, chains: list[np.ndarray]) -> list[np.ndarray]:
    """The published search over encoded chains, in order; returns each chain's state path.

    Residues ``X`` are kept (uniform emission), unlike the published code, which drops them.
    """
    excluded = np.zeros(len(log_trans), dtype=bool)
    out = []
    for codes in chains:
        log_init = _log_start(log_emit, int(codes[0]))
        pieces = []
        pos = 0
        while pos < len(codes):
            work = np.flatnonzero(~excluded)
            piece, steps, _ = _segment(codes[pos:], work, log_trans, log_emit, log_init)
            pieces.append(piece)
            excluded[piece] = True
            pos += steps
        out.append(np.concatenate(pieces))
    return out
