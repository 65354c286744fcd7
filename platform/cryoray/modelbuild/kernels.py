"""Compiled inner loops of sequence threading (numba).

Kernels work on ``n`` local states: a CSR graph among them (``restrict_graph``), their far
transition ``far`` (``(n,)``) and a local emission table ``emit`` (``(21, n)``, one contiguous row
per residue type, penalties already subtracted) so each step reads memory in order.

Written by hand because no library runs Viterbi over a sparse transition graph with a
closed-form "far" transition per row and per-state penalties (hmmlearn and pomegranate
take dense matrices, which at K = 15,000 states would be 1.8 GB and K² work per residue).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["decode_no_return", "decode_survivors", "lookup_rows", "restrict_graph"]


@numba.njit(cache=True, nogil=True)
def restrict_graph(states, local_of, in_ptr, in_src, in_logp):  # pragma: no cover - compiled
    """A CSR transition graph (by target or by source) among ``states`` only, with local indices.

    ``local_of`` maps every global state to its index in ``states`` or -1 (caller-owned).
    Returns ``(ptr, idx, logp)``: the entries of local row ``k`` are ``idx[ptr[k]:ptr[k+1]]``.
    """
    n = len(states)
    ptr = np.zeros(n + 1, dtype=np.int64)
    for k in range(n):
        j = states[k]
        count = 0
        for e in range(in_ptr[j], in_ptr[j + 1]):
            if local_of[in_src[e]] >= 0:
                count += 1
        ptr[k + 1] = ptr[k] + count
    src = np.empty(ptr[n], dtype=np.int32)
    logp = np.empty(ptr[n])
    for k in range(n):
        j = states[k]
        pos = ptr[k]
        for e in range(in_ptr[j], in_ptr[j + 1]):
            loc = local_of[in_src[e]]
            if loc >= 0:
                src[pos] = loc
                logp[pos] = in_logp[e]
                pos += 1
    return ptr, src, logp


@numba.njit(cache=True, nogil=True)
def lookup_rows(src_state, states, local_of, in_ptr, in_src, in_logp, log_far):  # pragma: no cover - compiled
    """``log A[src_state, s]`` for every ``s`` in ``states`` (local order)."""
    out = np.full(len(states), log_far[src_state])
    # Near entries of row src_state: src_state is a source of target j iff j is a source of
    # src_state's column (the neighbour relation is symmetric); read them from column j.
    for e in range(in_ptr[src_state], in_ptr[src_state + 1]):
        j = in_src[e]
        loc = local_of[j]
        if loc >= 0:
            lo = in_ptr[j]
            hi = in_ptr[j + 1]
            while lo < hi:
                mid = (lo + hi) // 2
                if in_src[mid] < src_state:
                    lo = mid + 1
                else:
                    hi = mid
            out[loc] = in_logp[lo]
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _push(v, i, tag, b1, a1, g1, b2, a2, g2):  # pragma: no cover - compiled
    """Insert candidate (value v, source i, tag) into a best-two list with distinct sources."""
    if i == a1:
        if v > b1:
            b1 = v
            g1 = tag
    elif v > b1:
        b2 = b1
        a2 = a1
        g2 = g1
        b1 = v
        a1 = i
        g1 = tag
    elif i == a2:
        if v > b2:
            b2 = v
            g2 = tag
            if b2 > b1:
                b1, a1, g1, b2, a2, g2 = b2, a2, g2, b1, a1, g1
    elif v > b2:
        b2 = v
        a2 = i
        g2 = tag
    return b1, a1, g1, b2, a2, g2


@numba.njit(cache=True, nogil=True)
def decode_no_return(codes, ptr, src, logp, emit, far, start, exit_):  # pragma: no cover - compiled
    """Viterbi over ``n`` local states for residue ``codes``, over paths that never return to the
    state one or two residues back (states reusable otherwise).

    Scores: ``start[k]`` for the first residue's state, ``log A`` by the local graph (``ptr``,
    ``src``, ``logp``) or the source's ``far`` for every pair not in it, ``emit[code, k]`` (the
    caller's local emission table, penalties included, ``(21, n)``), and ``exit_[k]`` after the
    last residue. A step costs O(states + edges), not O(states²).

    Exact for that model (``s_t != s_{t-2}``, which rules out the back-and-forth A-B-A-B paths
    that are most of an unconstrained optimum's reused states): each state keeps its best two
    partial paths with different predecessors, so a step into ``j`` from ``i`` uses ``i``'s best
    path unless that came from ``j``, then its second. The far maximum stays closed form: the
    best four far sources plus, for the few targets they do not settle, a full scan.
    Returns ``(path, score)`` with ``path`` in local indices.
    """
    n = len(far)
    w = len(codes)
    s1 = np.empty(n)
    s2 = np.full(n, -np.inf)
    p1 = np.full(n, -1, dtype=np.int64)
    for k in range(n):
        s1[k] = start[k] + emit[codes[0], k]
    n1 = np.empty(n)
    n2 = np.empty(n)
    q1 = np.empty(n, dtype=np.int64)
    back = np.full((w, n, 2), -1, dtype=np.int32)  # source * 2 + (which of its two paths)
    top = np.empty(4, dtype=np.int64)
    topv = np.empty(4)
    for t in range(1, w):
        for m in range(4):
            top[m] = -1
            topv[m] = -np.inf
        for i in range(n):
            v = s1[i] + far[i]
            if v > topv[3]:
                m = 3
                while m > 0 and v > topv[m - 1]:
                    topv[m] = topv[m - 1]
                    top[m] = top[m - 1]
                    m -= 1
                topv[m] = v
                top[m] = i
        code = codes[t]
        for j in range(n):
            # near sources (distinct by construction): best two
            b1 = -np.inf
            b2 = -np.inf
            a1 = -1
            a2 = -1
            g1 = 0
            g2 = 0
            for e in range(ptr[j], ptr[j + 1]):
                i = src[e]
                if p1[i] != j:
                    v = s1[i] + logp[e]
                    tag = 0
                else:
                    v = s2[i] + logp[e]
                    tag = 1
                if v > b2:
                    if v > b1:
                        b2 = b1
                        a2 = a1
                        g2 = g1
                        b1 = v
                        a1 = i
                        g1 = tag
                    else:
                        b2 = v
                        a2 = i
                        g2 = tag
            # far sources (each worth at most topv[0]) matter only if the near ones leave room;
            # then the best four settle it unless they are j or lead back to j
            if b2 < topv[0]:
                settled = 0
                for m in range(4):
                    i = top[m]
                    if i < 0 or i == j:
                        continue
                    if p1[i] != j:
                        b1, a1, g1, b2, a2, g2 = _push(s1[i] + far[i], i, 0, b1, a1, g1, b2, a2, g2)
                        settled += 1
                    else:
                        b1, a1, g1, b2, a2, g2 = _push(s2[i] + far[i], i, 1, b1, a1, g1, b2, a2, g2)
                if settled < 2:
                    for i in range(n):
                        if i == j:
                            continue
                        if p1[i] != j:
                            b1, a1, g1, b2, a2, g2 = _push(s1[i] + far[i], i, 0, b1, a1, g1, b2, a2, g2)
                        else:
                            b1, a1, g1, b2, a2, g2 = _push(s2[i] + far[i], i, 1, b1, a1, g1, b2, a2, g2)
            gain = emit[code, j]
            n1[j] = b1 + gain
            n2[j] = b2 + gain
            q1[j] = a1
            if a1 >= 0:
                back[t, j, 0] = a1 * 2 + g1
            if a2 >= 0:
                back[t, j, 1] = a2 * 2 + g2
        s1, n1 = n1, s1
        s2, n2 = n2, s2
        p1, q1 = q1, p1
    best = -np.inf
    arg = 0
    for k in range(n):
        v = s1[k] + exit_[k]
        if v > best:
            best = v
            arg = k
    path = np.empty(w, dtype=np.int64)
    path[w - 1] = arg
    which = 0
    for t in range(w - 1, 0, -1):
        code = back[t, path[t], which]
        path[t - 1] = code // 2
        which = code % 2
    return path, best


@numba.njit(cache=True, nogil=True)
def decode_survivors(codes, ptr, src, logp, emit, far, start, exit_, depth):  # pragma: no cover - compiled
    """Viterbi in which each state keeps one survivor path that never repeats a state.

    A step into ``j`` takes the best source whose survivor does not hold ``j`` among its last
    ``depth`` states (checked against a copied history, so a step costs O(states × depth)),
    among ``j``'s near sources and the eight best far sources; a state with no such source is
    unreachable at that step. Unlike the published search it never restarts. Paths longer
    than ``depth`` may still repeat a state far back; the caller repairs those.
    Returns ``(path, score)`` with ``path`` in local indices (score -inf if no path exists).
    """
    n = len(far)
    w = len(codes)
    delta = np.empty(n)
    for k in range(n):
        delta[k] = start[k] + emit[codes[0], k]
    hist = np.full((n, depth), -1, dtype=np.int32)
    new_hist = np.full((n, depth), -1, dtype=np.int32)
    for k in range(n):
        hist[k, 0] = k
    back = np.full((w, n), -1, dtype=np.int32)
    new = np.empty(n)
    n_top = min(8, n)
    top = np.empty(n_top, dtype=np.int64)
    topv = np.empty(n_top)
    cand = np.empty(0, dtype=np.int64)
    candv = np.empty(0)
    for t in range(1, w):
        for m in range(n_top):
            top[m] = -1
            topv[m] = -np.inf
        for i in range(n):
            v = delta[i] + far[i]
            if v > topv[n_top - 1]:
                m = n_top - 1
                while m > 0 and v > topv[m - 1]:
                    topv[m] = topv[m - 1]
                    top[m] = top[m - 1]
                    m -= 1
                topv[m] = v
                top[m] = i
        code = codes[t]
        for j in range(n):
            size = ptr[j + 1] - ptr[j] + n_top
            if len(cand) < size:
                cand = np.empty(2 * size, dtype=np.int64)
                candv = np.empty(2 * size)
            c = 0
            for m in range(n_top):
                if top[m] >= 0 and top[m] != j:
                    cand[c] = top[m]
                    candv[c] = topv[m]
                    c += 1
            for e in range(ptr[j], ptr[j + 1]):
                cand[c] = src[e]
                candv[c] = delta[src[e]] + logp[e]
                c += 1
            chosen = -1
            value = -np.inf
            while True:
                bi = -1
                bv = -np.inf
                for q in range(c):
                    if candv[q] > bv:
                        bv = candv[q]
                        bi = q
                if bi < 0:
                    break
                i = cand[bi]
                ok = True
                for d in range(depth):
                    h = hist[i, d]
                    if h == j:
                        ok = False
                        break
                    if h < 0:
                        break
                if ok:
                    chosen = i
                    value = bv
                    break
                for q in range(c):  # drop every entry of this source (near and far)
                    if cand[q] == i:
                        candv[q] = -np.inf
            if chosen < 0:
                new[j] = -np.inf
                new_hist[j, 0] = j
                new_hist[j, 1] = -1
                continue
            new[j] = value + emit[code, j]
            back[t, j] = chosen
            new_hist[j, 0] = j
            for d in range(1, depth):
                new_hist[j, d] = hist[chosen, d - 1]
        delta, new = new, delta
        hist, new_hist = new_hist, hist
    best = -np.inf
    arg = -1
    for k in range(n):
        v = delta[k] + exit_[k]
        if v > best:
            best = v
            arg = k
    path = np.full(w, -1, dtype=np.int64)
    if arg < 0:
        return path, best
    path[w - 1] = arg
    for t in range(w - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path, best


@numba.njit(cache=True, nogil=True)
def completion_bounds(codes, optr, odst, ologp, emit, far, exit_):  # pragma: no cover - compiled
    """``h[t, k]``: best score of residues ``t+1..`` after state ``k`` at ``t``, states reusable.

    The backward Viterbi of the relaxed model (no self-transitions) over the out-graph
    (``optr``, ``odst``, ``ologp``: targets of local source ``k``). An upper bound on any valid
    completion, used as the beam search's look-ahead. ``(w, n)`` float32.
    """
    n = len(far)
    w = len(codes)
    h = np.empty((w, n), dtype=np.float32)
    cur = np.empty(n)
    for k in range(n):
        cur[k] = exit_[k]
        h[w - 1, k] = cur[k]
    nxt = np.empty(n)
    gain = np.empty(n)
    for t in range(w - 2, -1, -1):
        code = codes[t + 1]
        b1 = -np.inf
        b2 = -np.inf
        a1 = -1
        for j in range(n):
            v = emit[code, j] + cur[j]
            gain[j] = v
            if v > b1:
                b2 = b1
                b1 = v
                a1 = j
            elif v > b2:
                b2 = v
        for i in range(n):
            b = (b1 if a1 != i else b2) + far[i]
            for e in range(optr[i], optr[i + 1]):
                b = max(b, gain[odst[e]] + ologp[e])
            nxt[i] = b
        cur, nxt = nxt, cur
        for k in range(n):
            h[t, k] = cur[k]
    return h


@numba.njit(cache=True, nogil=True)
def beam_search(codes, optr, odst, ologp, emit, far, start, h, width, per_state, n_far):  # pragma: no cover - compiled
    """Beam search over valid paths (no state twice), ranked by score so far plus ``h`` (look-ahead).

    Each entry carries the set of states it used (a bit row), so every path it returns is
    valid. An entry extends to its near targets and to the ``n_far`` best far targets of the
    step (by emission + look-ahead); at most ``per_state`` entries may end in the same state.
    ``h[w-1]`` must hold the exit scores. Returns ``(path, score)`` in local indices; score
    -inf if the beam died (fewer usable states than residues).
    """
    n = len(far)
    w = len(codes)
    words = (n + 63) // 64
    width = min(width, n)
    n_far = min(n_far, n)
    last = np.empty(width, dtype=np.int64)
    g = np.empty(width)
    vis = np.zeros((width, words), dtype=np.uint64)
    parent = np.full((w, width), -1, dtype=np.int32)
    state_at = np.full((w, width), -1, dtype=np.int32)
    # first residue: the best `width` states by start + emission + look-ahead
    f0 = np.empty(n)
    for k in range(n):
        f0[k] = start[k] + emit[codes[0], k] + h[0, k]
    order = np.argsort(-f0)
    size = 0
    for q in range(width):
        k = order[q]
        if not np.isfinite(f0[k]):
            break
        last[size] = k
        g[size] = start[k] + emit[codes[0], k]
        vis[size, k >> 6] |= np.uint64(1) << np.uint64(k & 63)
        state_at[0, size] = k
        size += 1
    cap = 0
    for k in range(n):
        cap = max(cap, optr[k + 1] - optr[k])
    cap = width * (cap + n_far)
    cand_b = np.empty(cap, dtype=np.int64)
    cand_j = np.empty(cap, dtype=np.int64)
    cand_g = np.empty(cap)
    cand_f = np.empty(cap)
    is_near = np.zeros(n, dtype=np.bool_)
    far_t = np.empty(n_far, dtype=np.int64)
    far_v = np.empty(n_far)
    taken = np.zeros(n, dtype=np.int64)
    new_last = np.empty(width, dtype=np.int64)
    new_g = np.empty(width)
    new_vis = np.zeros((width, words), dtype=np.uint64)
    for t in range(1, w):
        if size == 0:
            return np.full(w, -1, dtype=np.int64), -np.inf
        code = codes[t]
        for m in range(n_far):
            far_t[m] = -1
            far_v[m] = -np.inf
        for j in range(n):
            v = emit[code, j] + h[t, j]
            if v > far_v[n_far - 1]:
                m = n_far - 1
                while m > 0 and v > far_v[m - 1]:
                    far_v[m] = far_v[m - 1]
                    far_t[m] = far_t[m - 1]
                    m -= 1
                far_v[m] = v
                far_t[m] = j
        c = 0
        for b in range(size):
            i = last[b]
            for e in range(optr[i], optr[i + 1]):
                j = odst[e]
                is_near[j] = True
                if (vis[b, j >> 6] >> np.uint64(j & 63)) & np.uint64(1):
                    continue
                gv = g[b] + ologp[e] + emit[code, j]
                cand_b[c] = b
                cand_j[c] = j
                cand_g[c] = gv
                cand_f[c] = gv + h[t, j]
                c += 1
            fi = far[i]
            for m in range(n_far):
                j = far_t[m]
                if j < 0 or j == i or is_near[j]:
                    continue
                if (vis[b, j >> 6] >> np.uint64(j & 63)) & np.uint64(1):
                    continue
                gv = g[b] + fi + emit[code, j]
                cand_b[c] = b
                cand_j[c] = j
                cand_g[c] = gv
                cand_f[c] = gv + h[t, j]
                c += 1
            for e in range(optr[i], optr[i + 1]):
                is_near[odst[e]] = False
        order = np.argsort(-cand_f[:c])
        new_size = 0
        for q in range(c):
            o = order[q]
            j = cand_j[o]
            if taken[j] >= per_state or not np.isfinite(cand_f[o]):
                continue
            taken[j] += 1
            b = cand_b[o]
            new_last[new_size] = j
            new_g[new_size] = cand_g[o]
            for x in range(words):
                new_vis[new_size, x] = vis[b, x]
            new_vis[new_size, j >> 6] |= np.uint64(1) << np.uint64(j & 63)
            parent[t, new_size] = b
            state_at[t, new_size] = j
            new_size += 1
            if new_size == width:
                break
        for q in range(new_size):
            taken[new_last[q]] = 0
        last, new_last = new_last, last
        g, new_g = new_g, g
        vis, new_vis = new_vis, vis
        size = new_size
    if size == 0:
        return np.full(w, -1, dtype=np.int64), -np.inf
    best = 0
    for b in range(1, size):
        if g[b] + h[w - 1, last[b]] > g[best] + h[w - 1, last[best]]:
            best = b
    path = np.empty(w, dtype=np.int64)
    b = best
    for t in range(w - 1, -1, -1):
        path[t] = state_at[t, b]
        b = parent[t, b]
    return path, g[best] + h[w - 1, last[best]]
