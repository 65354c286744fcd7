"""Sequence threading: valid paths, exact where it says so, better than the published search."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cryoray.io.sequences import AMINO_ACIDS
from cryoray.modelbuild import ChainAssignmentError, HmmStates, ThreadingConfig, build_hmm, thread_chains
from cryoray.modelbuild.hmm import encode_sequence
from cryoray.modelbuild.kernels import beam_search, completion_bounds, decode_no_return, restrict_graph
from tests.support.building import HAEMOGLOBIN, make_case, model_chains, random_walk_chain
from tests.support.data import real
from tests.support.dense_reference import dense_model, restart_threading


def _graph(model, states):
    local_of = np.full(model.n_states, -1, dtype=np.int64)
    local_of[states] = np.arange(len(states))
    return local_of, restrict_graph(states, local_of, model.in_ptr, model.in_src, model.in_logp)


def _on_true_ca(case, result) -> float:
    hits = total = 0
    for c, chain in enumerate(result.chains):
        same = [d for d in range(len(case.sequences)) if case.sequences[d] == case.sequences[c]]
        dist = np.min([np.linalg.norm(case.states.xyz[chain.states] - case.true_xyz[d], axis=1) for d in same], axis=0)
        hits += int((dist <= 3.0).sum())
        total += len(dist)
    return hits / total


@pytest.mark.parametrize("seed", range(40))
def test_no_return_viterbi_is_exact_for_its_model(seed: int) -> None:
    """Brute force over all paths with s_t != s_{t-1}, s_{t-2} on tiny instances."""
    rng = np.random.default_rng(seed)
    n, w = int(rng.integers(3, 8)), int(rng.integers(1, 6))
    model = build_hmm(rng.uniform(0, 9, (n, 3)), rng.dirichlet(np.ones(20), n))
    states = np.arange(n)
    _, (ptr, src, logp) = _graph(model, states)
    codes = rng.integers(0, 21, w)
    start, exit_, penalty = rng.normal(size=n), rng.normal(size=n), rng.uniform(0, 2, n)
    emit = np.ascontiguousarray((model.log_emit - penalty[:, None]).T)
    path, score = decode_no_return(codes, ptr, src, logp, emit, model.log_far, start, exit_)

    def value(p: np.ndarray) -> float:
        inner = model.log_transition(p[:-1], p[1:]).sum() if w > 1 else 0.0
        return start[p[0]] + (model.log_emit[p, codes] - penalty[p]).sum() + inner + exit_[p[-1]]

    best = max(
        value(np.array(p))
        for p in itertools.product(range(n), repeat=w)
        if all(p[t] != p[t - 1] for t in range(1, w)) and all(p[t] != p[t - 2] for t in range(2, w))
    )
    assert score == pytest.approx(best, abs=1e-9)
    assert value(path) == pytest.approx(score, abs=1e-9)


def test_beam_search_returns_valid_paths_within_the_completion_bound() -> None:
    rng = np.random.default_rng(0)
    xyz = np.concatenate([random_walk_chain(60, rng), rng.uniform(-10, 30, (40, 3))])
    model = build_hmm(xyz, rng.dirichlet(np.ones(20), len(xyz)))
    states = np.arange(len(xyz))
    local_of = np.arange(len(xyz))
    optr, odst, ologp = restrict_graph(states, local_of, model.out_ptr, model.out_dst, model.out_logp)
    codes = rng.integers(0, 20, 80)
    emit = np.ascontiguousarray(model.log_emit.T)
    start = model.log_start(int(codes[0]))
    h = completion_bounds(codes, optr, odst, ologp, emit, model.log_far, np.zeros(len(xyz)))
    path, score = beam_search(codes, optr, odst, ologp, emit, model.log_far, start, h, 64, 2, 8)
    assert len(np.unique(path)) == len(path) == 80
    assert score == pytest.approx(model.path_log_score(codes, path), abs=1e-9)
    assert score <= (start + emit[codes[0]] + h[0]).max() + 1e-9


def test_an_unambiguous_chain_is_threaded_exactly() -> None:
    """No noise, no decoys, the right amino acids: the truth is the optimum and is found."""
    rng = np.random.default_rng(5)
    xyz = random_walk_chain(120, rng)
    seq = "".join(rng.choice(list(AMINO_ACIDS), 120))
    aa = np.full((120, 20), 0.01)
    aa[np.arange(120), [AMINO_ACIDS.index(c) for c in seq]] = 0.81
    perm = rng.permutation(120)
    states = HmmStates.validated(xyz[perm], aa[perm], np.ones(120))
    result = thread_chains(states, [("A", seq)])
    truth = np.argsort(perm)
    np.testing.assert_array_equal(result.chains[0].states, truth)
    assert result.upper_bound - result.log_score == pytest.approx(0.0, abs=1e-6)  # proven optimal


def test_realistic_complex_is_valid_accurate_and_beats_the_published_search(
    haemoglobin_case, haemoglobin_result
) -> None:
    case, result = haemoglobin_case, haemoglobin_result
    used = result.used_states()
    assert len(used) == len(np.unique(used)) == result.residues == 566
    assert _on_true_ca(case, result) >= 0.9
    model = build_hmm(case.states.xyz, case.states.aa_probs)
    for chain in result.chains:
        assert chain.log_score == pytest.approx(
            model.path_log_score(encode_sequence(chain.sequence), chain.states), abs=1e-6
        )
        assert chain.upper_bound >= chain.log_score - 1e-6
    log_trans, log_emit = dense_model(case.states.xyz, case.states.aa_probs)
    published = restart_threading(log_trans, log_emit, [encode_sequence(s) for s in case.sequences])
    published_score = sum(
        model.path_log_score(encode_sequence(s), p) for s, p in zip(case.sequences, published, strict=True)
    )
    assert result.log_score >= published_score


def test_a_noisy_complex_scores_at_least_as_well_as_its_true_path() -> None:
    """5ME2 at 0.5 Å noise: the relaxed paths reuse many states (noise costs the true path ~2 nats
    a transition, and short cycles among near-ideal 3.8 Å triangles beat it), so a wrong reserve
    misleads the chains; the search still finds a valid assignment scoring above the truth."""
    ids, seqs, xyzs = model_chains(str(real(HAEMOGLOBIN)))
    case = make_case(ids, seqs, xyzs, noise=0.5, decoy_fraction=0.3, seed=3)
    result = thread_chains(case.states, list(zip(ids, seqs, strict=True)))
    used = result.used_states()
    assert len(used) == len(np.unique(used)) == result.residues
    model = build_hmm(case.states.xyz, case.states.aa_probs)
    truth = sum(model.path_log_score(encode_sequence(s), t) for s, t in zip(seqs, case.true_state, strict=True))
    assert truth <= result.log_score <= result.upper_bound + 1e-6
    assert _on_true_ca(case, result) >= 0.5


def test_fewer_states_than_residues_leaves_the_rest_unplaced() -> None:
    rng = np.random.default_rng(2)
    xyz = random_walk_chain(30, rng)
    states = HmmStates.validated(xyz, rng.dirichlet(np.ones(20), 30), np.full(30, 0.9))
    result = thread_chains(states, [("A", "A" * 25), ("B", "G" * 10), ("C", "W" * 4)])
    a, b, c = result.chains
    assert a.placed == 25 and b.placed == 5 and c.placed == 0
    assert b.unplaced_positions == [6, 7, 8, 9, 10] and c.unplaced_positions == [1, 2, 3, 4]
    used = result.used_states()
    assert len(used) == len(np.unique(used)) == 30
    assert any("unplaced" in note for note in result.notes)


@pytest.mark.parametrize(
    ("chains", "needle"),
    [
        ([("A", "MKV"), ("A", "GGS")], "named more than once: A"),
        ([("A", "MKV"), ("B", "")], "empty sequence for chain B"),
    ],
    ids=["duplicate-id", "empty-sequence"],
)
def test_unusable_chains_are_refused(chains, needle) -> None:
    rng = np.random.default_rng(3)
    states = HmmStates.validated(random_walk_chain(10, rng), rng.dirichlet(np.ones(20), 10), np.full(10, 0.9))
    with pytest.raises(ChainAssignmentError, match=needle):
        thread_chains(states, chains)


def test_as_many_states_as_residues_uses_every_state_once(haemoglobin_case) -> None:
    case = haemoglobin_case
    keep = np.concatenate([case.true_state[0], case.true_state[1]])
    states = HmmStates.validated(case.states.xyz[keep], case.states.aa_probs[keep], case.states.ca_prob[keep])
    result = thread_chains(states, [("A", case.sequences[0]), ("B", case.sequences[1])])
    used = result.used_states()
    assert result.residues == len(keep) == 283
    assert len(used) == len(np.unique(used)) == 283


def test_unknown_residues_are_placed_and_unnormalised_rows_noted() -> None:
    rng = np.random.default_rng(4)
    xyz = random_walk_chain(40, rng)
    aa = rng.dirichlet(np.ones(20), 40) * 0.5
    result = thread_chains(
        HmmStates.validated(xyz, aa, np.ones(40)), [("A", "ACDXXGHK" * 4)], ThreadingConfig(std_lambda=10)
    )
    assert result.chains[0].placed == 32
    assert any("normalised" in note for note in result.notes)


def test_reserve_zero_is_strictly_one_chain_after_another(haemoglobin_case) -> None:
    case = haemoglobin_case
    chains = list(zip(case.chain_ids, case.sequences, strict=True))
    result = thread_chains(case.states, chains, ThreadingConfig(reserve=0.0, corridor=0.0))
    used = result.used_states()
    assert len(used) == len(np.unique(used)) == 566
