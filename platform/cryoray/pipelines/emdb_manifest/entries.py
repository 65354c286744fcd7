"""One EMDB entry -> one manifest row, or the reason it is left out (filters, unusable header, missing files).

Checks run cheapest first: the header (read, parsed), then the release date, method and
resolution filters, then the files on the mirrors (map, fitted model, sequence, half maps).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import PositiveFloat, model_validator

from cryoray.config import Section
from cryoray.errors import InputError
from cryoray.labels.simulate import RESOLUTION_RANGE
from cryoray.pipelines.emdb_manifest.header import MAX_HEADER_BYTES, EmdbHeader, parse_header
from cryoray.pipelines.emdb_manifest.mirror import (
    entry_number,
    exists,
    header_url,
    map_url,
    other_url,
    pdb_model_url,
    pdb_sequence_url,
    read_with_retries,
)

__all__ = ["COLUMNS", "EmdbFilters", "EntryResult", "check_entry"]

#: manifest columns, in order (ingest reads the first five and the half maps; method and released describe)
COLUMNS = ("entry_id", "map", "model", "sequence", "resolution", "method", "half_map_1", "half_map_2", "released")

Method = Literal["singleParticle", "helical", "subtomogramAveraging", "tomography", "electronCrystallography"]


class EmdbFilters(Section):
    """Which entries go into the manifest (None or False: no filter).

    Args:
        resolution_min: keep entries whose resolution is at least this (Å).
        resolution_max: keep entries whose resolution is at most this (Å).
        methods: keep entries whose (first) method is one of these.
        with_model: keep entries whose fitted PDB model is on the PDB mirror.
        with_half_maps: keep entries with two half maps on the mirror.
        released_after: keep entries whose map was released on or after this date.
    """

    resolution_min: PositiveFloat | None = None
    resolution_max: PositiveFloat | None = None
    methods: tuple[Method, ...] | None = None
    with_model: bool = False
    with_half_maps: bool = False
    released_after: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> EmdbFilters:
        if None not in (self.resolution_min, self.resolution_max) and self.resolution_min > self.resolution_max:  # type: ignore[operator]
            lo, hi = self.resolution_min, self.resolution_max
            raise ValueError(f"--resolution-min {lo:g} is above --resolution-max {hi:g}: no entry could pass")
        return self


@dataclass(frozen=True)
class EntryResult:
    """A manifest row (``row``, keyed by :data:`COLUMNS`) or the reason the entry was left out."""

    entry_id: str
    row: dict[str, str] | None = None
    reason: str | None = None


def _filter_reason(header: EmdbHeader, filters: EmdbFilters) -> str | None:
    if filters.released_after is not None:
        if header.released is None:
            return "no map_release date in the header (--released-after)"
        if header.released < filters.released_after:
            return f"released {header.released}, before --released-after {filters.released_after}"
    if filters.methods is not None and header.method not in filters.methods:
        return f"method {header.method or 'missing'} is not one of --method {' '.join(filters.methods)}"
    resolution = header.resolution
    if resolution is None:
        return "no final reconstruction resolution in the header"
    if filters.resolution_min is not None and resolution < filters.resolution_min:
        return f"resolution {resolution:g} Å is below --resolution-min {filters.resolution_min:g} Å"
    if filters.resolution_max is not None and resolution > filters.resolution_max:
        return f"resolution {resolution:g} Å is above --resolution-max {filters.resolution_max:g} Å"
    lo, hi = RESOLUTION_RANGE
    if not lo <= resolution <= hi:
        return f"resolution {resolution:g} Å is outside the {lo:g}-{hi:g} Å that ingest takes"
    return None


def _model(header: EmdbHeader, pdb_mirror: str | None) -> tuple[str, str]:
    """(model URL, sequence URL) of the first fitted model on the mirror; empty strings when none."""
    if pdb_mirror is None:
        return "", ""
    for pdb_id in header.pdb_ids:
        model = pdb_model_url(pdb_mirror, pdb_id)
        if exists(model):
            sequence = pdb_sequence_url(pdb_mirror, pdb_id)
            return model, sequence if exists(sequence) else ""
    return "", ""


def _no_model_reason(header: EmdbHeader, pdb_mirror: str | None) -> str:
    if not header.pdb_ids:
        return "no fitted model in the header (crossreferences/pdb_list)"
    ids = ", ".join(header.pdb_ids)
    if pdb_mirror is None:
        return f"fitted model {ids}, but no --pdb-mirror to find it on"
    first = posixpath.basename(pdb_model_url(pdb_mirror, header.pdb_ids[0]))
    return f"fitted model {ids} not on the PDB mirror ({first})"


def _half_maps(header: EmdbHeader, source: str, entry_id: str) -> tuple[str, str] | str:
    """Both half maps' URLs, or the reason there are none."""
    if len(header.half_map_files) < 2:
        return f"{len(header.half_map_files)} half maps in the header (interpretation/half_map_list), not 2"
    first, second = (other_url(source, entry_id, name) for name in header.half_map_files[:2])
    for name, url in zip(header.half_map_files, (first, second), strict=False):
        if not exists(url):
            return f"half map {name} not on the mirror"
    return first, second


def check_entry(entry_id: str, source: str, filters: EmdbFilters, pdb_mirror: str | None = None) -> EntryResult:
    """Read ``entry_id``'s header under ``source`` and decide: a manifest row, or a reason.

    Never raises for bad input: an unreadable or unusable header, a filter that fails and a
    file missing on a mirror all end as :attr:`EntryResult.reason`.
    """
    url = header_url(source, entry_id)
    name = posixpath.basename(url)
    try:
        header = parse_header(read_with_retries(url, limit=MAX_HEADER_BYTES, what="header"), source=name)
    except InputError as exc:
        return EntryResult(entry_id, reason=f"{name}: {exc.reason}")
    if header.entry_id is not None and header.entry_id.upper() != entry_id:
        return EntryResult(entry_id, reason=f"{name} describes {header.entry_id}, not {entry_id}")
    if (reason := _filter_reason(header, filters)) is not None:
        return EntryResult(entry_id, reason=reason)
    try:
        map_file = header.map_file or f"emd_{entry_number(entry_id)}.map.gz"
        the_map = map_url(source, entry_id, map_file)
        if not exists(the_map):
            return EntryResult(entry_id, reason=f"map {map_file} not on the mirror")
        model, sequence = _model(header, pdb_mirror)
        if filters.with_model and not model:
            return EntryResult(entry_id, reason=_no_model_reason(header, pdb_mirror))
        half_maps: tuple[str, str] | str = ("", "")
        if header.half_map_files or filters.with_half_maps:
            half_maps = _half_maps(header, source, entry_id)
        if isinstance(half_maps, str):
            if filters.with_half_maps:
                return EntryResult(entry_id, reason=half_maps)
            half_maps = ("", "")
    except InputError as exc:  # a mirror that stopped answering
        return EntryResult(entry_id, reason=f"{exc.source}: {exc.reason}")
    row = {
        "entry_id": entry_id,
        "map": the_map,
        "model": model,
        "sequence": sequence,
        "resolution": str(header.resolution),
        "method": header.method or "",
        "half_map_1": half_maps[0],
        "half_map_2": half_maps[1],
        "released": header.released.isoformat() if header.released else "",
    }
    return EntryResult(entry_id, row=row)
