"""Chains named by FASTA headers, in file order; duplicates refused."""

from __future__ import annotations

import pytest

from cryoray.io.sequences import parse_fasta
from cryoray.modelbuild import ChainAssignmentError, chains_from_records, read_chains
from tests.support.data import real


def test_headers_name_the_chains_in_file_order() -> None:
    records = parse_fasta(">1ABC_1|Chains A, B[auth C]|x\nMKV\n>6GYN|entity_B|chains_D|y\nGGA\n")
    assert chains_from_records(records) == [("A", "MKV"), ("C", "MKV"), ("D", "GGA")]


def test_records_without_chains_get_free_ids() -> None:
    records = parse_fasta(">first\nMKV\n>A,B\nGG\n>third\nWW\n")
    assert chains_from_records(records) == [("C", "MKV"), ("A", "GG"), ("B", "GG"), ("D", "WW")]


def test_a_chain_named_twice_is_an_error() -> None:
    records = parse_fasta(">1ABC_1|Chains A, B|x\nMKV\n>1ABC_2|Chains B|y\nGGA\n")
    with pytest.raises(ChainAssignmentError, match="chain 'B' is named by two records"):
        chains_from_records(records, source="x.fasta")


def test_real_fasta_files() -> None:
    chains = read_chains(real("EMD-3488_5ME2_haemoglobin/5me2_seqres.fasta"))
    assert [c for c, _ in chains] == ["A", "C", "B", "D"]
    assert len(read_chains(real("EMD-1883_RNA-PolII/1WCM.fasta"))) == 12
