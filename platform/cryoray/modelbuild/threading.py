"""Threading chain sequences through the Cα states: one state per residue, no state used twice.

**Objective.** The log-probability of the chains' state paths under the HMM of
:mod:`cryoray.modelbuild.hmm` (start, emissions, transitions: the Viterbi objective), summed over
chains, over assignments that use every state at most once in all chains. Chains are threaded
one after another in the order given (FASTA order). Every residue is placed while free states
remain: a chain with more residues than free states gets its first residues placed (as many as
there are free states); the rest, and all later chains, are reported unplaced, never invented.

**Search** (the constrained problem is NP-hard — a longest-simple-path problem — so no
polynomial search is exact on every input; this one reports how far from exact it can be):

0. *Relaxed best paths.* Each chain's best path over all states with states reusable, except
   that a path never returns to the state one or two residues back (exact sparse no-return
   Viterbi, step 2; copies of one sequence kept apart). Every valid path is such a path, so
   each chain's relaxed score bounds its score in any valid assignment and their sum is a
   proven **upper bound** on the objective; ``upper_bound - log_score`` is reported per chain
   and in total. These paths are the chains' "wishes" in step 1: plain Viterbi paths (A-B-A-B
   allowed) bounce between a few states where the map is noisy, and reserving those sends the
   earlier chains astray (5ME2 at 0.5 Å noise: -2556 with plain Viterbi wishes, -2122 with
   no-return ones, the true path -2234).
1. *Chains one after another, with a reserve.* While chain ``c`` is threaded, each state on a
   later chain's wish costs ``reserve`` nats in the search's objective (reported scores never
   include it). Without it (``reserve=0``, the published behaviour) the first chains take
   later chains' states wherever that helps them a little — at their own chain breaks, most
   often — and the later chains cascade into wrong places (1WCM at 0.3 Å: 73 % of residues on
   their Cα with ``reserve=0``, 90 % with it, and a better total log-probability). In large
   complexes a chain is searched over the free states within ``corridor`` Å of its wish.
2. *Exact sparse no-return Viterbi* over those states: the best path that never returns to
   the state one or two residues back (each state keeps its two best partial paths with
   different predecessors). A step costs O(states + near pairs), not O(states²): far
   transitions of a row are one constant, so their maximum is taken in closed form. If the
   path reuses no state it is the chain's exact optimum and the chain is done — typical at
   0.3 Å noise — since back-and-forth paths (A-B-A-B) are most of what an unconstrained
   Viterbi reuses.
3. *Lagrangian windows* (when at most ``window_conflicts`` states per residue are reused):
   windows of ``margin`` residues around every reused state are decoded again, exactly, with
   the rest of the path fixed and its states forbidden, over the free states within
   ``window_radius`` Å; windows that could share a state share one penalty per state
   (projected subgradient with Polyak steps). A penalised optimum without reuse is a valid
   path; otherwise a survivor search per window (or a greedy repair) makes one.
4. *Beam search* over valid paths (each entry carries its used states), ranked by score so far
   plus the relaxed best completion: valid by construction, and robust where the relaxed path
   is no guide (noisy maps, missing Cα).
5. *Polish*: the better of 3 and 4 is improved by re-solving windows where it departs from
   the relaxed path (exact no-return Viterbi + penalties per window), keeping only gains.

No step restarts a chain or throws away the best path found (the published search restarts
whenever its survivor paths coalesce, every ~30–70 residues).

**Memory** is estimated from the sizes before anything is built (:func:`memory_needed`):
mostly 8 bytes per state and residue of the longest chain (the Viterbi back-pointers), so
200 000 states and a 5 000-residue chain need ~8 GB; inputs above ``max_memory_gib`` are
refused with :class:`~cryoray.modelbuild.errors.ThreadingTooLargeError`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from cryoray.modelbuild.config import ThreadingConfig
from cryoray.modelbuild.errors import ChainAssignmentError, ThreadingTooLargeError
from cryoray.modelbuild.hmm import SIGMA_PER_LAMBDA, HmmModel, build_hmm, encode_sequence, neighbour_radius
from cryoray.modelbuild.kernels import (
    beam_search,
    completion_bounds,
    decode_no_return,
    decode_survivors,
    lookup_rows,
    restrict_graph,
)
from cryoray.modelbuild.states import HmmStates

__all__ = ["ChainThreading", "ThreadingResult", "memory_needed", "thread_chains", "thread_model"]

log = logging.getLogger(__name__)
_DEGREE_SAMPLE = 1000  # states whose neighbours are counted to estimate the transition graph
_GIB = 1 << 30


@dataclass(frozen=True)
class ChainThreading:
    """One chain's result.

    Args:
        chain_id: the chain's name.
        sequence: its residues (one letter).
        states: ``(T,)`` state of each residue, -1 where unplaced.
        log_score: log-probability of the placed residues' path (start, emissions, transitions).
        upper_bound: the chain's relaxed (no-return, states reusable) best score over all
            states: no valid assignment gives this chain more (``upper_bound - log_score``
            bounds its distance from any optimum; summed over chains it bounds the whole
            objective).
        conflicts: extra uses of states in the chain's no-return relaxed optimum (0: that
            optimum was valid, so the chain is exactly optimal for its search objective).
        seconds: time spent on this chain.
    """

    chain_id: str
    sequence: str
    states: np.ndarray
    log_score: float
    upper_bound: float
    conflicts: int
    seconds: float

    @property
    def placed(self) -> int:
        return int(np.count_nonzero(self.states >= 0))

    @property
    def unplaced_positions(self) -> list[int]:
        """1-based positions of residues that got no state."""
        return [int(p) + 1 for p in np.flatnonzero(self.states < 0)]

    @property
    def gap(self) -> float:
        return self.upper_bound - self.log_score

    def to_dict(self) -> dict[str, object]:
        return {
            "chain": self.chain_id,
            "residues": len(self.sequence),
            "placed": self.placed,
            "unplaced_positions": self.unplaced_positions,
            "log_score": self.log_score,
            "upper_bound": self.upper_bound,
            "gap": self.gap,
            "conflicts": self.conflicts,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class ThreadingResult:
    """All chains' results plus totals; ``states`` are the states threaded through."""

    chains: list[ChainThreading]
    states: HmmStates
    std_lambda: float
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def log_score(self) -> float:
        return float(sum(c.log_score for c in self.chains))

    @property
    def upper_bound(self) -> float:
        return float(sum(c.upper_bound for c in self.chains))

    @property
    def residues(self) -> int:
        return sum(len(c.sequence) for c in self.chains)

    @property
    def placed(self) -> int:
        return sum(c.placed for c in self.chains)

    def used_states(self) -> np.ndarray:
        """All states used, in chain and residue order."""
        return np.concatenate([c.states[c.states >= 0] for c in self.chains]) if self.chains else np.zeros(0, np.int64)

    def to_dict(self) -> dict[str, object]:
        used = self.used_states()
        return {
            "states": len(self.states),
            "chains": len(self.chains),
            "residues": self.residues,
            "placed": self.placed,
            "unplaced": self.residues - self.placed,
            "reused_states": int(len(used) - len(np.unique(used))),
            "log_score": self.log_score,
            "upper_bound": self.upper_bound,
            "gap": self.upper_bound - self.log_score,
            "std_lambda": self.std_lambda,
            "seconds": self.seconds,
            "notes": list(self.notes),
            "per_chain": [c.to_dict() for c in self.chains],
        }


def _morton_order(xyz: np.ndarray) -> np.ndarray:
    """Rank of each state along a Z-order curve over 4 Å cells (nearby states get nearby ranks)."""
    cells = np.floor((xyz - xyz.min(axis=0)) / 4.0).astype(np.int64)
    cells = np.minimum(cells, (1 << 20) - 1)
    code = np.zeros(len(xyz), dtype=np.int64)
    for bit in range(20):
        for axis in range(3):
            code |= ((cells[:, axis] >> bit) & 1) << (3 * bit + axis)
    rank = np.empty(len(xyz), dtype=np.int64)
    rank[np.argsort(code, kind="stable")] = np.arange(len(xyz))
    return rank


class _ChainSearch:
    """The search of one chain over the states in ``free`` (bool mask); see module docs."""

    def __init__(
        self,
        model: HmmModel,
        tree: cKDTree,
        codes: np.ndarray,
        free: np.ndarray,
        rank: np.ndarray,
        config: ThreadingConfig,
        reserve: np.ndarray,
    ) -> None:
        self.model = model
        self.tree = tree
        self.reserve = reserve
        self.codes = codes
        self.free = free
        self.rank = rank
        self.config = config
        self.local_of = np.full(model.n_states, -1, dtype=np.int64)

    # -- scores ------------------------------------------------------------------------
    def _trans_from(self, src: int, states: np.ndarray) -> np.ndarray:
        self.local_of[states] = np.arange(len(states))
        m = self.model
        out = lookup_rows(src, states, self.local_of, m.in_ptr, m.in_src, m.in_logp, m.log_far)
        self.local_of[states] = -1
        return out

    def _trans_to(self, states: np.ndarray, dst: int) -> np.ndarray:
        return self.model.log_transition(states, np.full(len(states), dst))

    def _piece_score(self, a: int, piece: np.ndarray, prev: int, nxt: int) -> float:
        """What a piece adds to the objective: entry (start or from ``prev``), emissions, transitions, exit."""
        m = self.model
        codes = self.codes[a : a + len(piece)]
        entry = m.log_start(int(codes[0]))[piece[0]] if prev < 0 else m.log_transition([prev], [piece[0]])[0]
        inner = m.log_transition(piece[:-1], piece[1:]).sum()
        out = m.log_transition([piece[-1]], [nxt])[0] if nxt >= 0 else 0.0
        return float(entry + m.log_emit[piece, codes].sum() + inner + out - self.reserve[piece].sum())

    # -- decoding ------------------------------------------------------------------------
    def _graph(self, states: np.ndarray, *, outgoing: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.local_of[states] = np.arange(len(states))
        m = self.model
        if outgoing:
            graph = restrict_graph(states, self.local_of, m.out_ptr, m.out_dst, m.out_logp)
        else:
            graph = restrict_graph(states, self.local_of, m.in_ptr, m.in_src, m.in_logp)
        self.local_of[states] = -1
        return graph

    def _window(self, a: int, b: int, states: np.ndarray, prev: int, nxt: int) -> dict:
        """Everything needed to decode residues a..b over ``states`` with fixed neighbours ``prev``/``nxt``."""
        codes = self.codes[a : b + 1]
        start = self.model.log_start(int(codes[0]))[states] if prev < 0 else self._trans_from(prev, states)
        exit_ = np.zeros(len(states)) if nxt < 0 else self._trans_to(states, nxt)
        ptr, src, logp = self._graph(states)
        return {
            "a": a,
            "codes": codes,
            "states": states,
            "ptr": ptr,
            "src": src,
            "logp": logp,
            "start": start,
            "exit": exit_,
            "prev": prev,
            "next": nxt,
        }

    def _tables(self, states: np.ndarray, penalty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local emission table (21 × n, penalties and reserve subtracted) and far transitions."""
        emit = self.model.log_emit[states] - (penalty + self.reserve[states])[:, None]
        return np.ascontiguousarray(emit.T), self.model.log_far[states]

    def _decode(self, win: dict, penalty: np.ndarray) -> tuple[np.ndarray, float]:
        emit, far = self._tables(win["states"], penalty)
        path, score = decode_no_return(
            win["codes"], win["ptr"], win["src"], win["logp"], emit, far, win["start"], win["exit"]
        )
        return win["states"][path], float(score)

    def _survivors(self, win: dict, penalty: np.ndarray, depth: int) -> np.ndarray | None:
        """Survivor search over a window (penalty +inf bans a state); None if no path exists."""
        emit, far = self._tables(win["states"], penalty)
        path, score = decode_survivors(
            win["codes"], win["ptr"], win["src"], win["logp"], emit, far, win["start"], win["exit"], depth
        )
        return None if not np.isfinite(score) else win["states"][path]

    def _beam(self, win: dict) -> np.ndarray | None:
        """Beam search over the window guided by the relaxed completion bounds; None if it died."""
        optr, odst, ologp = self._graph(win["states"], outgoing=True)
        emit, far = self._tables(win["states"], np.zeros(len(win["states"])))
        h = completion_bounds(win["codes"], optr, odst, ologp, emit, far, win["exit"])
        path, score = beam_search(
            win["codes"],
            optr,
            odst,
            ologp,
            emit,
            far,
            win["start"],
            h,
            self.config.beam_width,
            self.config.beam_per_state,
            8,
        )
        return None if not np.isfinite(score) else win["states"][path]

    def _score(self, path: np.ndarray) -> float:
        """The search's objective: log-probability minus the reserve of the states used."""
        return self.model.path_log_score(self.codes, path) - float(self.reserve[path].sum())

    def run(self) -> tuple[np.ndarray, float, float, int]:
        """Return (path over the residues, its score, upper bound, conflicts of the relaxed optimum)."""
        clock = [time.perf_counter()]

        def lap() -> float:
            clock.append(time.perf_counter())
            return clock[-1] - clock[-2]

        states = np.flatnonzero(self.free)
        states = states[np.argsort(self.rank[states], kind="stable")]
        full = self._window(0, len(self.codes) - 1, states, -1, -1)
        relaxed, bound = self._decode(full, np.zeros(len(states)))
        conflicts = int(len(relaxed) - len(np.unique(relaxed)))
        if conflicts == 0:
            return relaxed, bound, bound, 0
        t_relaxed = lap()
        lam = np.zeros(self.model.n_states)
        path, score = relaxed, -math.inf
        if conflicts <= self.config.window_conflicts * len(self.codes):
            path = self._resolve(relaxed, lam)
            score = self._score(path)
        win_score = score
        t_windows = lap()
        beam = self._beam(full)
        beam_score = self._score(beam) if beam is not None else -math.inf
        if beam_score > score:
            path, score = beam, beam_score
        if not np.isfinite(score):  # neither produced a path: repair the relaxed one
            path = self._repair_all(relaxed)
            score = self._score(path)
        t_beam = lap()
        path, score = self._polish(path, score, relaxed, lam)
        log.debug(
            "relaxed %.2f (%d conflicts, %.2fs), windows %.2f (%.2fs), beam %.2f (%.2fs), polished %.2f (%.2fs)",
            bound, conflicts, t_relaxed, win_score, t_windows, beam_score, t_beam, score, lap(),
        )  # fmt: skip
        return path, score, max(bound, score), conflicts

    # -- conflict resolution and improvement ---------------------------------------------
    def _local_states(self, path: np.ndarray, a: int, b: int, allowed: np.ndarray) -> np.ndarray:
        """Allowed states within ``window_radius`` of the path around residues a..b, spatially ordered."""
        centres = self.model.xyz[path[max(a - 1, 0) : min(b + 1, len(path) - 1) + 1]]
        near = np.unique(
            np.concatenate(self.tree.query_ball_point(centres, self.config.window_radius)).astype(np.int64)
        )
        near = near[allowed[near]]
        return near[np.argsort(self.rank[near], kind="stable")]

    def _resolve(self, path: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """A valid path from ``path``: re-solve windows around its reused states (updates ``lam``)."""
        path = path.copy()
        t_len = len(path)
        counts = np.bincount(path, minlength=self.model.n_states)
        hot = np.flatnonzero(counts[path] > 1)
        margin = self.config.margin
        segments: list[list[int]] = []
        for t in hot:
            lo, hi = max(0, t - margin), min(t_len - 1, t + margin)
            if segments and lo <= segments[-1][1] + 1:
                segments[-1][1] = max(segments[-1][1], hi)
            else:
                segments.append([lo, hi])
        inside = np.zeros(t_len, dtype=bool)
        for a, b in segments:
            inside[a : b + 1] = True
        allowed = self.free.copy()
        allowed[path[~inside]] = False
        locals_ = [self._local_states(path, a, b, allowed) for a, b in segments]
        for group in _groups(locals_):
            self._solve_group(path, [segments[g] for g in group], [locals_[g] for g in group], lam)
        return self._repair_all(path)

    def _polish(self, path: np.ndarray, score: float, relaxed: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, float]:
        """Large-neighbourhood search: re-solve windows of a valid path where it differs from the
        relaxed optimum (elsewhere it already follows the unconstrained best), keeping only gains."""
        path = path.copy()
        t_len = len(path)
        for width in (2 * self.config.margin, 4 * self.config.margin):
            differs = np.flatnonzero(path != relaxed)
            if len(differs) == 0:
                break
            step = width // 2
            starts = np.unique(np.clip((differs // step) * step, 0, None))
            starts = np.unique(np.concatenate([starts - step, starts]).clip(0, t_len - 1))
            for a in starts:
                b = min(t_len - 1, int(a) + width - 1)
                allowed = self.free.copy()
                allowed[path[:a]] = False
                allowed[path[b + 1 :]] = False
                self._solve_group(path, [[int(a), b]], [self._local_states(path, int(a), b, allowed)], lam)
        return path, self._score(path)

    def _solve_group(
        self, path: np.ndarray, segments: list[list[int]], locals_: list[np.ndarray], lam: np.ndarray
    ) -> None:
        """Lagrangian re-solve of windows that may share states; writes the best valid pieces into ``path``.

        The current pieces count as a candidate when they are valid, so a group never gets worse.
        """
        t_len = len(path)
        wins = [
            self._window(a, b, loc, int(path[a - 1]) if a > 0 else -1, int(path[b + 1]) if b + 1 < t_len else -1)
            for (a, b), loc in zip(segments, locals_, strict=True)
        ]
        union = np.unique(np.concatenate(locals_))
        index = [np.searchsorted(union, w["states"]) for w in wins]
        mult = lam[union].copy()
        best_dual, best_primal, best = math.inf, -math.inf, None
        current = [path[a : b + 1].copy() for a, b in segments]
        flat = np.concatenate(current)
        pos = np.searchsorted(union, flat).clip(0, len(union) - 1)
        if len(np.unique(flat)) == len(flat) and np.all(union[pos] == flat):
            best_primal = sum(
                self._piece_score(w["a"], p, w["prev"], w["next"]) for w, p in zip(wins, current, strict=True)
            )
            best = current
        theta, stale, since = 1.0, 0, 0
        iterations = 0
        for iterations in range(1, self.config.max_iterations + 1):  # noqa: B007 (the count is logged below)
            pieces, value = [], 0.0
            for w, idx in zip(wins, index, strict=True):
                piece, v = self._decode(w, mult[idx])
                pieces.append(piece)
                value += v
            used = np.searchsorted(union, np.concatenate(pieces))
            counts = np.bincount(used, minlength=len(union))
            dual = value + float(mult.sum())
            if dual < best_dual - 1e-9:
                best_dual, stale = dual, 0
            else:
                stale += 1
                if stale >= 3:
                    theta, stale = theta / 2, 0
            if counts.max() <= 1:
                primal = value + float((mult * counts).sum())
            else:
                pieces = self._group_survivors(wins, index, union, mult) or self._repair_group(wins, pieces, union)
                primal = (
                    -math.inf
                    if pieces is None
                    else sum(
                        self._piece_score(w["a"], p, w["prev"], w["next"]) for w, p in zip(wins, pieces, strict=True)
                    )
                )
            if primal > best_primal + 1e-9:
                best_primal, best, since = primal, pieces, 0
            else:
                since += 1
            if best_dual - best_primal <= 1e-9 * max(1.0, abs(best_primal)) or since >= self.config.patience:
                break
            grad = (counts - 1).astype(np.float64)
            grad[(mult <= 0) & (grad < 0)] = 0.0
            norm2 = float((grad * grad).sum())
            if norm2 == 0.0:
                break
            mult = np.maximum(0.0, mult + theta * (best_dual - best_primal) / norm2 * grad)
        lam[union] = mult
        log.debug(
            "group of %d windows (%d residues, %d states): %d iterations, gap %.4f",
            len(wins),
            sum(len(w["codes"]) for w in wins),
            len(union),
            iterations,
            best_dual - best_primal,
        )
        for w, piece in zip(wins, best or [], strict=False):  # no valid pieces found: the caller's repair handles it
            path[w["a"] : w["a"] + len(piece)] = piece

    def _group_survivors(
        self, wins: list[dict], index: list[np.ndarray], union: np.ndarray, mult: np.ndarray
    ) -> list[np.ndarray] | None:
        """A valid assignment of a group: survivor search window by window, each banning the states taken before."""
        taken = np.zeros(len(union), dtype=bool)
        pieces = []
        for w, idx in zip(wins, index, strict=True):
            penalty = mult[idx].copy()
            penalty[taken[idx]] = np.inf
            piece = self._survivors(w, penalty, len(w["codes"]))
            if piece is None:
                return None
            pieces.append(piece)
            taken[np.searchsorted(union, piece)] = True
        return pieces

    def _repair_group(self, wins: list[dict], pieces: list[np.ndarray], union: np.ndarray) -> list[np.ndarray] | None:
        """Move every extra use of a state to the best state of the group left unused (greedy); None if too few."""
        pieces = [p.copy() for p in pieces]
        spare = np.setdiff1d(union, np.concatenate(pieces))
        return self._fill_holes(
            pieces, [w["a"] for w in wins], [w["prev"] for w in wins], [w["next"] for w in wins], spare
        )

    def _repair_all(self, path: np.ndarray) -> np.ndarray:
        """Safety net over the whole chain: any state still used twice moves to the best free state."""
        if len(path) == len(np.unique(path)):
            return path
        spare = np.setdiff1d(np.flatnonzero(self.free), path)
        pieces = self._fill_holes([path.copy()], [0], [-1], [-1], spare)
        assert pieces is not None, "the search region holds at least as many states as residues"
        return pieces[0]

    def _fill_holes(
        self, pieces: list[np.ndarray], starts: list[int], prevs: list[int], nexts: list[int], spare: np.ndarray
    ) -> list[np.ndarray] | None:
        """Keep each reused state where it scores best; give its other uses the best ``spare`` states."""
        m = self.model
        flat = np.concatenate(pieces)
        piece_of = np.concatenate([np.full(len(p), n) for n, p in enumerate(pieces)])
        step_of = np.concatenate([np.arange(len(p)) for p in pieces])
        where = list(zip(piece_of.tolist(), step_of.tolist(), strict=True))
        holes = []
        for s in np.unique(flat[np.bincount(flat, minlength=m.n_states)[flat] > 1]):
            occ = np.flatnonzero(flat == s)
            gain = [
                self._local_gain(
                    pieces[where[o][0]],
                    where[o][1],
                    starts[where[o][0]],
                    prevs[where[o][0]],
                    nexts[where[o][0]],
                    int(s),
                )
                for o in occ
            ]
            holes.extend(int(o) for o in occ if o != occ[int(np.argmax(gain))])
        if len(holes) > len(spare):
            return None
        free = np.ones(len(spare), dtype=bool)
        for o in sorted(holes):
            p, t = where[o]
            piece = pieces[p]
            cand = spare[free]
            code = self.codes[starts[p] + t]
            prev = int(piece[t - 1]) if t > 0 else prevs[p]
            nxt = int(piece[t + 1]) if t + 1 < len(piece) else nexts[p]
            score = m.log_emit[cand, code] - self.reserve[cand]
            if prev >= 0:
                score += self._trans_from(prev, cand)
            elif starts[p] == 0:
                score += m.log_start(int(code))[cand]
            if nxt >= 0:
                score += self._trans_to(cand, nxt)
            pick = int(np.flatnonzero(free)[np.argmax(score)])
            piece[t] = spare[pick]
            free[pick] = False
        return pieces

    def _local_gain(self, piece: np.ndarray, t: int, start: int, prev: int, nxt: int, s: int) -> float:
        m = self.model
        code = int(self.codes[start + t])
        before = int(piece[t - 1]) if t > 0 else prev
        after = int(piece[t + 1]) if t + 1 < len(piece) else nxt
        gain = float(m.log_emit[s, code] - self.reserve[s])
        if before >= 0:
            gain += float(m.log_transition([before], [s])[0])
        if after >= 0:
            gain += float(m.log_transition([s], [after])[0])
        return gain


def _groups(locals_: list[np.ndarray]) -> list[list[int]]:
    """Windows that share a candidate state, as connected groups (union-find)."""
    parent = list(range(len(locals_)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    if locals_:
        state = np.concatenate(locals_)
        owner = np.concatenate([np.full(len(loc), g) for g, loc in enumerate(locals_)])
        order = np.argsort(state, kind="stable")
        state, owner = state[order], owner[order]
        for n in np.flatnonzero(state[1:] == state[:-1]):
            ra, rb = find(int(owner[n])), find(int(owner[n + 1]))
            if ra != rb:
                parent[rb] = ra
    groups: dict[int, list[int]] = {}
    for g in range(len(locals_)):
        groups.setdefault(find(g), []).append(g)
    return list(groups.values())


def _alone(model: HmmModel, codes: np.ndarray, allowed: np.ndarray, rank: np.ndarray) -> tuple[np.ndarray, float]:
    """No-return Viterbi over the ``allowed`` states: the best path that never uses the state one
    or two residues back (states reusable otherwise). Every valid path is such a path, so the
    score bounds the chain's score in any valid assignment; -inf if fewer than 3 states."""
    states = np.flatnonzero(allowed)
    states = states[np.argsort(rank[states], kind="stable")]
    local_of = np.full(model.n_states, -1, dtype=np.int64)
    local_of[states] = np.arange(len(states))
    ptr, src, logp = restrict_graph(states, local_of, model.in_ptr, model.in_src, model.in_logp)
    emit = np.ascontiguousarray(model.log_emit[states].T)
    start = model.log_start(int(codes[0]))[states]
    path, score = decode_no_return(codes, ptr, src, logp, emit, model.log_far[states], start, np.zeros(len(states)))
    return states[path], float(score)


def _corridor(tree: cKDTree, model: HmmModel, path: np.ndarray, radius: float, allowed: np.ndarray) -> np.ndarray:
    """The ``allowed`` states within ``radius`` Å of ``path`` when that narrows the search usefully
    (at least 1.25 states per residue, at most half the ``allowed`` ones), else all ``allowed`` ones."""
    if radius <= 0:
        return allowed
    near = np.unique(np.concatenate(tree.query_ball_point(model.xyz[path], radius)).astype(np.int64))
    mask = np.zeros(model.n_states, dtype=bool)
    mask[near] = True
    mask &= allowed
    return mask if 1.25 * len(path) <= mask.sum() <= 0.5 * allowed.sum() else allowed


def _wishes(model: HmmModel, codes: list[np.ndarray], rank: np.ndarray) -> tuple[list[np.ndarray], list[float]]:
    """Each chain's relaxed best path (its "wish", :func:`_alone`), copies of one sequence kept apart,
    and its upper bound.

    The first chain of a sequence takes the best path over all states; the next chain of the
    same sequence the best path avoiding the earlier copies' paths, and so on. Each chain's
    bound is the first copy's score (over all states): no valid assignment can beat it.
    """
    wishes: list[np.ndarray] = []
    bounds: list[float] = []
    taken: dict[bytes, np.ndarray] = {}
    first: dict[bytes, float] = {}
    for c in codes:
        key = c.tobytes()
        allowed = np.ones(model.n_states, dtype=bool)
        if key in taken:
            allowed[taken[key]] = False
        if allowed.sum() < 3:
            allowed[:] = True
        path, score = _alone(model, c, allowed, rank)
        first.setdefault(key, score)
        taken[key] = np.concatenate([taken.get(key, np.zeros(0, np.int64)), path])
        wishes.append(path)
        bounds.append(first[key])
    return wishes, bounds


def thread_model(
    model: HmmModel, chains: Sequence[tuple[str, str]], config: ThreadingConfig | None = None
) -> list[ChainThreading]:
    """Thread ``(chain_id, sequence)`` pairs through ``model`` in order (see module docs)."""
    config = config or ThreadingConfig()
    free = np.ones(model.n_states, dtype=bool)
    rank = _morton_order(model.xyz)
    tree = cKDTree(model.xyz)
    codes = [encode_sequence(sequence) for _, sequence in chains]
    t0 = time.perf_counter()
    wishes, bounds = _wishes(model, codes, rank) if chains else ([], [])
    log.debug("relaxed best paths of %d chains: %.2fs", len(chains), time.perf_counter() - t0)
    out = []
    for index, (chain_id, sequence) in enumerate(chains):
        t0 = time.perf_counter()
        states = np.full(len(sequence), -1, dtype=np.int64)
        n = min(len(sequence), int(free.sum()))
        score, bound, conflicts = 0.0, bounds[index], 0
        if n > 0:
            reserve = np.zeros(model.n_states)
            for later in wishes[index + 1 :]:
                reserve[later] = config.reserve
            chain_codes = codes[index][:n]
            region = _corridor(tree, model, wishes[index], config.corridor, free)
            log.debug("chain %s: searching %d of %d free states", chain_id, int(region.sum()), int(free.sum()))
            path, _, _, conflicts = _ChainSearch(model, tree, chain_codes, region, rank, config, reserve).run()
            score = model.path_log_score(chain_codes, path)
            if n < len(sequence):
                bound = _alone(model, chain_codes, np.ones(model.n_states, dtype=bool), rank)[1]
            bound = max(bound, score)  # equal up to rounding when the path is the relaxed optimum
            states[:n] = path
            free[path] = False
        else:
            bound = 0.0
        out.append(ChainThreading(chain_id, sequence, states, score, bound, conflicts, time.perf_counter() - t0))
        log.debug("chain %s: %d/%d placed, score %.3f, bound %.3f", chain_id, n, len(sequence), score, bound)
    return out


def memory_needed(xyz: np.ndarray, chain_lengths: Sequence[int], config: ThreadingConfig) -> int:
    """Estimated peak bytes of threading chains of ``chain_lengths`` through states at ``xyz``.

    The larger of the no-return Viterbi (int32 back-pointer pairs: 8 bytes per state and
    residue of the longest chain) and the beam search (float32 look-ahead, 4 bytes per state
    and residue, plus its beam rows and bit sets), plus the sparse transition graph (~96 bytes
    per neighbour pair, counted on a sample of states) and ~1 KiB per state. On states along a
    random walk, peak RSS growth of ``thread_chains`` (compiled kernels included) against this
    estimate: 20 000 states x 2 000 residues 400 vs 396 MB, 40 000 x 1 000 460 vs 474 MB.
    """
    k, length = len(xyz), max(chain_lengths, default=0)
    if k == 0 or length == 0:
        return 0
    tree = cKDTree(xyz)
    sample = xyz[np.random.default_rng(0).choice(k, min(k, _DEGREE_SAMPLE), replace=False)]
    radius = neighbour_radius(SIGMA_PER_LAMBDA * config.std_lambda)
    degree = tree.query_ball_point(sample, radius, return_length=True) - 1
    width = min(config.beam_width, k)
    viterbi = 8 * length * k
    beam = 4 * length * k + 8 * length * width + width * k // 4 + 32 * width * (int(degree.max()) + 8)
    return int(max(viterbi, beam) + 96 * float(degree.mean()) * k + 1024 * k)


def thread_chains(
    states: HmmStates,
    chains: Sequence[tuple[str, str]],
    config: ThreadingConfig | None = None,
    *,
    source: object = "states",
) -> ThreadingResult:
    """Build the HMM of ``states`` and thread ``(chain_id, sequence)`` pairs through it, in order.

    Sequences are cleaned one-letter strings (``cryoray.io.sequences``); chain ids must be
    distinct (:func:`cryoray.modelbuild.chains.chains_from_records` makes such pairs from FASTA).

    Raises:
        ChainAssignmentError: chain ids named twice, or an empty sequence.
        ThreadingTooLargeError: the estimated memory (:func:`memory_needed`) is above
            ``config.max_memory_gib``; ``source`` names the states in the message.
    """
    ids = [chain_id for chain_id, _ in chains]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise ChainAssignmentError("chains", f"chain ids must be distinct; named more than once: {', '.join(twice)}")
    empty = [chain_id for chain_id, sequence in chains if not sequence]
    if empty:
        raise ChainAssignmentError("chains", f"empty sequence for chain {', '.join(empty)}")
    config = config or ThreadingConfig()
    lengths = [len(sequence) for _, sequence in chains]
    needed = memory_needed(states.xyz, lengths, config)
    if needed > config.max_memory_gib * _GIB:
        raise ThreadingTooLargeError(
            source,
            f"threading {len(states)} states through chains of up to {max(lengths)} residues needs about "
            f"{needed / _GIB:.2g} GiB of memory, above the limit of {config.max_memory_gib:g} GiB "
            "(threading.max_memory_gib, --max-memory-gib)",
        )
    t0 = time.perf_counter()
    model = build_hmm(states.xyz, states.aa_probs, std_lambda=config.std_lambda)
    threaded = thread_model(model, chains, config)
    notes = []
    if states.unnormalised_rows:
        notes.append(f"{states.unnormalised_rows} amino-acid rows did not sum to 1 and were normalised")
    unplaced = sum(len(c.sequence) - c.placed for c in threaded)
    if unplaced:
        notes.append(
            f"{unplaced} residues unplaced: {len(states)} states for {sum(len(s) for _, s in chains)} residues"
        )
    return ThreadingResult(threaded, states, config.std_lambda, time.perf_counter() - t0, notes)
