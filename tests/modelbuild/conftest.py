"""Shared build fixtures: realistic states from 5ME2 and their threading (helpers: tests/support/building.py)."""

from __future__ import annotations

import pytest

from cryoray.modelbuild import thread_chains
from tests.support.building import HAEMOGLOBIN, make_case, model_chains
from tests.support.data import real


@pytest.fixture(scope="session")
def haemoglobin_case():
    """5ME2's Cα with 0.3 Å noise and 30 % decoys (736 states, 566 residues in 4 chains)."""
    ids, seqs, xyzs = model_chains(str(real(HAEMOGLOBIN)))
    return make_case(ids, seqs, xyzs, noise=0.3, decoy_fraction=0.3, seed=3)


@pytest.fixture(scope="session")
def haemoglobin_result(haemoglobin_case):
    case = haemoglobin_case
    return thread_chains(case.states, list(zip(case.chain_ids, case.sequences, strict=True)))
