"""Threading chain sequences through the Cα states: one state per residue, no state used twice.

Objective: for each chain, the path's log-probability under the HMM of :mod:`cryoray.build.hmm`
(start, emissions, transitions; the Viterbi objective), over paths that use every state at most
once. Chains are threaded one after another in the order given; a chain may not use the states
of the chains before it. Every residue is placed while free states remain: when a chain has
more residues than free states, its first residues are placed (as many as there are free
states) and the rest, with all later chains, are reported unplaced, never invented.

The search, per chain (the constrained problem is NP-hard in general, so no polynomial search
is exact on every input; this one says how far from exact it is):

1. **Exact sparse Viterbi** over all free states. A step costs O(states + near pairs), not
   O(states²): far transitions of a row are one constant, so their maximum is taken in closed
   form. This is the optimum if states could be reused, hence an upper bound; if it uses no
   state twice, it is the exact constrained optimum and the search stops.
2. **Lagrangian relaxation on the conflicts.** Windows of ``margin`` residues around every
   occurrence of a reused state are decoded again with the rest of the path fixed (their ends
   joined to it by the model's transitions, states used outside forbidden), over the states
   within the neighbour radius of the window's path. Windows that could share a state are
   solved together with one penalty per state, raised where a state is used twice and lowered
   where unused (projected subgradient, Polyak steps). A penalised optimum that uses no state
   twice is a valid path; otherwise a greedy repair makes one (each extra use moved to the best
   unused state). The best valid path is kept; a group stops when it is provably optimal
   (dual bound = path score) or after ``max_iterations``.
3. **Rounds.** The whole chain is decoded again with the learnt penalties. That gives a valid
   upper bound ``max_path [score − Σ_s λ_s (n_s − 1)]`` on the best constrained score, and a new
   path whose conflicts go back to step 2; the better valid path is kept.

Each chain reports its score, the best upper bound found and so the largest possible gap to
the exact optimum. No step restarts the chain or discards the best path (the published
algorithm restarts whenever survivor paths coalesce).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from cryoray.build.config import ThreadingConfig
from cryoray.build.hmm import HmmModel, build_hmm, encode_sequence
from cryoray.build.kernels import beam_search, completion_bounds, decode_no_return, decode_survivors, lookup_rows, restrict_graph
from cryoray.build.states import HmmStates

__all__ = ["ChainThreading", "ThreadingResult", "thread_chains", "thread_model"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChainThreading:
    """One chain's result.

    Args:
        chain_id: the chain's name.
        sequence: its residues (one letter).
        states: ``(T,)`` state of each residue, -1 where unplaced.
        log_score: log-probability of the placed residues' path (start, emissions, transitions).
        upper_bound: a proven upper bound on the best score any valid path of these residues
            could reach with the states left to this chain (so ``upper_bound - log_score`` bounds
            the distance from the exact optimum).
        conflicts: states the unconstrained optimum used more than once (0: it was exact).
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

    def __init__(self, model: HmmModel, tree: cKDTree, codes: np.ndarray, free: np.ndarray, rank: np.ndarray, config: ThreadingConfig) -> None:
        self.model = model
        self.tree = tree
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
        """Score a piece contributes: entry (start or transition from ``prev``), emissions, inner and exit transitions."""
        m = self.model
        codes = self.codes[a : a + len(piece)]
        entry = m.log_start(int(codes[0]))[piece[0]] if prev < 0 else m.log_transition([prev], [piece[0]])[0]
        inner = m.log_transition(piece[:-1], piece[1:]).sum()
        out = m.log_transition([piece[-1]], [nxt])[0] if nxt >= 0 else 0.0
        return float(entry + m.log_emit[piece, codes].sum() + inner + out)

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
        return {"a": a, "codes": codes, "states": states, "ptr": ptr, "src": src, "logp": logp, "start": start, "exit": exit_, "prev": prev, "next": nxt}

    def _decode(self, win: dict, penalty: np.ndarray) -> tuple[np.ndarray, float]:
        path, score = decode_no_return(
            win["codes"], win["states"], win["ptr"], win["src"], win["logp"],
            self.model.log_emit, self.model.log_far, penalty, win["start"], win["exit"],
        )  # fmt: skip
        return win["states"][path], float(score)

    def _survivors(self, win: dict, penalty: np.ndarray, depth: int) -> np.ndarray | None:
        """Survivor search over a window (penalty +inf bans a state); None if no path exists."""
        path, score = decode_survivors(
            win["codes"], win["states"], win["ptr"], win["src"], win["logp"], self.model.log_emit,
            self.model.log_far, penalty, win["start"], win["exit"], depth,
        )  # fmt: skip
        return None if not np.isfinite(score) else win["states"][path]

    def _beam(self, win: dict) -> np.ndarray | None:
        """Beam search over the window guided by the relaxed completion bounds; None if it died."""
        optr, odst, ologp = self._graph(win["states"], outgoing=True)
        m = self.model
        h = completion_bounds(win["codes"], win["states"], optr, odst, ologp, m.log_emit, m.log_far, win["exit"])
        path, score = beam_search(
            win["codes"], win["states"], optr, odst, ologp, m.log_emit, m.log_far, np.zeros(len(win["states"])),
            win["start"], h, self.config.beam_width, self.config.beam_per_state, 8,
        )  # fmt: skip
        return None if not np.isfinite(score) else win["states"][path]

    def _score(self, path: np.ndarray) -> float:
        return self.model.path_log_score(self.codes, path)

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
        path = self._resolve(relaxed, lam)
        score = self._score(path)
        t_windows = lap()
        beam = self._beam(full)
        beam_score = self._score(beam) if beam is not None else -math.inf
        if beam_score > score:
            path, score = beam, beam_score
        t_beam = lap()
        win_score = score
        path, score = self._polish(path, score, lam)
        t_polish = lap()
        log.debug(
            "relaxed %.2f (%d conflicts, %.2fs), windows %.2f (%.2fs), beam %.2f (%.2fs), polished %.2f (%.2fs)",
            bound, conflicts, t_relaxed, win_score, t_windows, beam_score, t_beam, score, t_polish,
        )  # fmt: skip
        for _ in range(self.config.rounds):
            relaxed, value = self._decode(full, lam[states])
            bound = min(bound, value + float(lam.sum()))
            if bound - score <= 1e-9 * max(1.0, abs(score)):
                break
            candidate = self._resolve(relaxed, lam)
            if (alt := self._score(candidate)) > score:
                path, score = self._polish(candidate, alt, lam)
            log.debug("round: bound %.2f, score %.2f (%.2fs)", bound, score, lap())
        return path, score, max(bound, score), conflicts

    # -- conflict resolution and improvement ---------------------------------------------
    def _local_states(self, path: np.ndarray, a: int, b: int, allowed: np.ndarray) -> np.ndarray:
        """Allowed states within ``window_radius`` of the path around residues a..b, spatially ordered."""
        centres = self.model.xyz[path[max(a - 1, 0) : min(b + 1, len(path) - 1) + 1]]
        near = np.unique(np.concatenate(self.tree.query_ball_point(centres, self.config.window_radius)).astype(np.int64))
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

    def _polish(self, path: np.ndarray, score: float, lam: np.ndarray) -> tuple[np.ndarray, float]:
        """Large-neighbourhood search: re-solve sliding windows of a valid path, keeping only gains."""
        path = path.copy()
        t_len = len(path)
        for width in (2 * self.config.margin, 4 * self.config.margin):
            improved = False
            for a in range(0, t_len, width // 2):
                b = min(t_len - 1, a + width - 1)
                allowed = self.free.copy()
                allowed[path[:a]] = False
                allowed[path[b + 1 :]] = False
                local = self._local_states(path, a, b, allowed)
                before = path[a : b + 1].copy()
                self._solve_group(path, [[a, b]], [local], lam)
                if not np.array_equal(before, path[a : b + 1]):
                    improved = True
            new_score = self._score(path)
            if not improved or new_score <= score + 1e-9:
                score = max(score, new_score)
                continue
            score = new_score
        return path, score

    def _solve_group(self, path: np.ndarray, segments: list[list[int]], locals_: list[np.ndarray], lam: np.ndarray) -> None:
        """Lagrangian re-solve of windows that may share states; writes the best valid pieces into ``path``.

        The current pieces count as a candidate when they are valid, so a group never gets worse.
        """
        t_len = len(path)
        wins = [
            self._window(a, b, loc, int(path[a - 1]) if a > 0 else -1, int(path[b + 1]) if b + 1 < t_len else -1)
            for (a, b), loc in zip(segments, locals_)
        ]
        union = np.unique(np.concatenate(locals_))
        index = [np.searchsorted(union, w["states"]) for w in wins]
        mult = lam[union].copy()
        best_dual, best_primal, best = math.inf, -math.inf, None
        current = [path[a : b + 1].copy() for a, b in segments]
        flat = np.concatenate(current)
        pos = np.searchsorted(union, flat).clip(0, len(union) - 1)
        if len(np.unique(flat)) == len(flat) and np.all(union[pos] == flat):
            best_primal = sum(self._piece_score(w["a"], p, w["prev"], w["next"]) for w, p in zip(wins, current))
            best = current
        theta, stale = 1.0, 0
        iterations = 0
        for iterations in range(1, self.config.max_iterations + 1):
            pieces, value = [], 0.0
            for w, idx in zip(wins, index):
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
                primal = sum(self._piece_score(w["a"], p, w["prev"], w["next"]) for w, p in zip(wins, pieces))
            if primal > best_primal + 1e-9:
                best_primal, best = primal, pieces
            if best_dual - best_primal <= 1e-9 * max(1.0, abs(best_primal)):
                break
            grad = (counts - 1).astype(np.float64)
            grad[(mult <= 0) & (grad < 0)] = 0.0
            norm2 = float((grad * grad).sum())
            if norm2 == 0.0:
                break
            mult = np.maximum(0.0, mult + theta * (best_dual - best_primal) / norm2 * grad)
        lam[union] = mult
        log.debug("group of %d windows (%d residues, %d states): %d iterations, gap %.4f", len(wins), sum(len(w["codes"]) for w in wins), len(union), iterations, best_dual - best_primal)
        for w, piece in zip(wins, best):
            path[w["a"] : w["a"] + len(piece)] = piece

    def _group_survivors(self, wins: list[dict], index: list[np.ndarray], union: np.ndarray, mult: np.ndarray) -> list[np.ndarray] | None:
        """A valid assignment of a group: survivor search window by window, each banning the states taken before."""
        taken = np.zeros(len(union), dtype=bool)
        pieces = []
        for w, idx in zip(wins, index):
            penalty = mult[idx].copy()
            penalty[taken[idx]] = np.inf
            piece = self._survivors(w, penalty, len(w["codes"]))
            if piece is None:
                return None
            pieces.append(piece)
            taken[np.searchsorted(union, piece)] = True
        return pieces

    def _repair_group(self, wins: list[dict], pieces: list[np.ndarray], union: np.ndarray) -> list[np.ndarray]:
        """Move every extra use of a state to the best state unused by the group (greedy, valid)."""
        pieces = [p.copy() for p in pieces]
        spare = np.setdiff1d(union, np.concatenate(pieces))
        return self._fill_holes(pieces, [w["a"] for w in wins], [w["prev"] for w in wins], [w["next"] for w in wins], spare)

    def _repair_all(self, path: np.ndarray) -> np.ndarray:
        """Safety net over the whole chain: any state still used twice moves to the best free state."""
        if len(path) == len(np.unique(path)):
            return path
        spare = np.setdiff1d(np.flatnonzero(self.free), path)
        return self._fill_holes([path.copy()], [0], [-1], [-1], spare)[0]

    def _fill_holes(self, pieces: list[np.ndarray], starts: list[int], prevs: list[int], nexts: list[int], spare: np.ndarray) -> list[np.ndarray]:
        m = self.model
        flat = np.concatenate(pieces)
        piece_of = np.concatenate([np.full(len(p), n) for n, p in enumerate(pieces)])
        step_of = np.concatenate([np.arange(len(p)) for p in pieces])
        where = list(zip(piece_of.tolist(), step_of.tolist()))
        holes = []
        for s in np.unique(flat[np.bincount(flat, minlength=m.n_states)[flat] > 1]):
            occ = np.flatnonzero(flat == s)
            gain = [self._local_gain(pieces[where[o][0]], where[o][1], starts[where[o][0]], prevs[where[o][0]], nexts[where[o][0]], int(s)) for o in occ]
            holes.extend(int(o) for o in occ if o != occ[int(np.argmax(gain))])
        free = np.ones(len(spare), dtype=bool)
        if len(holes) > len(spare):  # not enough local spares: use any free state left
            extra = np.setdiff1d(np.flatnonzero(self.free), np.concatenate([spare, *pieces]))
            spare = np.concatenate([spare, extra])
            free = np.ones(len(spare), dtype=bool)
        for o in sorted(holes):
            p, t = where[o]
            piece = pieces[p]
            cand = spare[free]
            code = self.codes[starts[p] + t]
            prev = int(piece[t - 1]) if t > 0 else prevs[p]
            nxt = int(piece[t + 1]) if t + 1 < len(piece) else nexts[p]
            score = m.log_emit[cand, code].copy()
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
        gain = float(m.log_emit[s, code])
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


def thread_model(model: HmmModel, chains: Sequence[tuple[str, str]], config: ThreadingConfig | None = None) -> list[ChainThreading]:
    """Thread ``(chain_id, sequence)`` pairs through ``model`` in order (see module docs)."""
    config = config or ThreadingConfig()
    free = np.ones(model.n_states, dtype=bool)
    rank = _morton_order(model.xyz)
    tree = cKDTree(model.xyz)
    out = []
    for chain_id, sequence in chains:
        t0 = time.perf_counter()
        codes = encode_sequence(sequence)
        states = np.full(len(codes), -1, dtype=np.int64)
        n = min(len(codes), int(free.sum()))
        score = bound = 0.0
        conflicts = 0
        if n > 0:
            path, score, bound, conflicts = _ChainSearch(model, tree, codes[:n], free, rank, config).run()
            states[:n] = path
            free[path] = False
        out.append(ChainThreading(chain_id, sequence, states, score, bound, conflicts, time.perf_counter() - t0))
        log.debug("chain %s: %d/%d placed, score %.3f, gap %.3f", chain_id, n, len(codes), score, bound - score)
    return out


def thread_chains(states: HmmStates, chains: Sequence[tuple[str, str]], config: ThreadingConfig | None = None) -> ThreadingResult:
    """Build the HMM of ``states`` and thread ``(chain_id, sequence)`` pairs through it, in order.

    Sequences are cleaned one-letter strings (``cryoray.io.sequences``); chain ids must be
    distinct (:func:`cryoray.build.chains.chains_from_records` makes such pairs from FASTA).
    """
    config = config or ThreadingConfig()
    t0 = time.perf_counter()
    model = build_hmm(states.xyz, states.aa_probs, std_lambda=config.std_lambda)
    threaded = thread_model(model, chains, config)
    notes = []
    if states.unnormalised_rows:
        notes.append(f"{states.unnormalised_rows} amino-acid rows did not sum to 1 and were normalised")
    unplaced = sum(len(c.sequence) - c.placed for c in threaded)
    if unplaced:
        notes.append(f"{unplaced} residues unplaced: {len(states)} states for {sum(len(s) for _, s in chains)} residues")
    return ThreadingResult(threaded, states, config.std_lambda, time.perf_counter() - t0, notes)
