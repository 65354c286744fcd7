"""Which chain gets which sequence: chain ids from FASTA headers (``cryoray.io.sequences``).

Records are taken in file order and, within a record, its chains in header order; that is
the order chains are threaded in. A record whose header names no chain gets the first free
id of ``A``–``Z``, ``a``–``z``, ``0``–``9`` (then two letters, ``AA``, ``AB``, ...). A chain id
named twice is an error (it would be threaded twice).
"""

from __future__ import annotations

import itertools
import os
import string
from collections.abc import Iterator, Sequence

from cryoray.io.sequences import ChainSequence, read_fasta
from cryoray.modelbuild.errors import ChainAssignmentError

__all__ = ["chains_from_records", "read_chains"]

_SINGLE = string.ascii_uppercase + string.ascii_lowercase + string.digits


def _spare_ids(taken: set[str]) -> Iterator[str]:
    singles = iter(_SINGLE)
    doubles = ("".join(p) for p in itertools.product(string.ascii_uppercase, repeat=2))
    for candidate in itertools.chain(singles, doubles):
        if candidate not in taken:
            yield candidate


def chains_from_records(records: Sequence[ChainSequence], *, source: object = "<sequences>") -> list[tuple[str, str]]:
    """``(chain_id, sequence)`` pairs in threading order (see module docs).

    Raises:
        ChainAssignmentError: a chain id is named twice.
    """
    named: dict[str, str] = {}
    for record in records:
        for chain in record.chains:
            if chain in named:
                raise ChainAssignmentError(
                    source, f"chain {chain!r} is named by two records ({named[chain]!r} and {record.name!r})"
                )
            named[chain] = record.name
    spare = _spare_ids(set(named))
    out = []
    for record in records:
        for chain in record.chains or (next(spare),):
            out.append((chain, record.sequence))
    return out


def read_chains(source: str | os.PathLike) -> list[tuple[str, str]]:
    """Read a FASTA file and assign its sequences to chains."""
    return chains_from_records(read_fasta(source), source=os.fspath(source))
