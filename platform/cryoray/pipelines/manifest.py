"""Ingest manifests: CSV with a header row, or JSON lines, one EMDB entry per row.

Columns: ``entry_id,map,model,sequence,resolution`` (``sequence`` may be empty; optional
``half_map_1,half_map_2``; ``method`` and ``released``, as ``cryoray manifest emdb`` writes them,
describe the entry and are ignored). Sources are local paths (relative ones are taken from the
manifest's folder), ``s3://`` or ``http(s)://`` URLs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import posixpath
import re
from typing import TypeVar

from pydantic import Field, field_validator

from cryoray.config import Section, validate_config
from cryoray.errors import ConfigError
from cryoray.io.sources import read_text
from cryoray.labels.simulate import check_resolution

__all__ = ["ManifestRow", "read_manifest"]

MAX_MANIFEST_BYTES = 256 << 20
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
#: columns holding sources, resolved against the manifest's folder when relative
_SOURCE_COLUMNS = ("map", "model", "sequence", "half_map_1", "half_map_2")
#: columns that describe an entry (``cryoray manifest emdb``) and are dropped unless the row type has them
_DESCRIPTIVE_COLUMNS = ("method", "released")
R = TypeVar("R", bound=Section)


class ManifestRow(Section):
    """One entry to ingest; ``resolution`` is in Å, finite, from 0.5 to 50 (``RESOLUTION_RANGE``)."""

    entry_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    map: str = Field(min_length=1)
    model: str = Field(min_length=1)
    sequence: str | None = None
    resolution: float
    half_map_1: str | None = None
    half_map_2: str | None = None

    @field_validator("sequence", "half_map_1", "half_map_2", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("resolution")
    @classmethod
    def _sane_resolution(cls, value: float) -> float:
        return check_resolution(value)


def _resolve(path: str | None, base: str) -> str | None:
    if path is None or _URL.match(path) or os.path.isabs(path):
        return path
    return posixpath.join(base, path) if _URL.match(base) else os.path.join(base, path)


def read_manifest(source: str | os.PathLike, *, row_type: type[R] = ManifestRow) -> list[R]:  # type: ignore[assignment]
    """Parse and validate a manifest; errors name the line and the column.

    ``row_type`` validates each row (default :class:`ManifestRow`; batch inference uses a row
    without the model and resolution); its required fields are the required columns.

    Raises:
        ConfigError: malformed rows, missing columns, duplicate entry ids, or no rows.
    """
    source = os.fspath(source)
    text = read_text(source, limit=MAX_MANIFEST_BYTES, what="manifest", corrupt=ConfigError)
    base = posixpath.dirname(source) if _URL.match(source) else os.path.dirname(os.path.abspath(source))
    lines = [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise ConfigError(source, "manifest is empty")
    records: list[tuple[int, dict]] = []
    if lines[0][1].lstrip().startswith("{"):
        for number, line in lines:
            try:
                records.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ConfigError(source, f"line {number}: not JSON: {exc.msg}") from exc
    else:
        reader = csv.DictReader(io.StringIO(text))
        required = {name for name, field in row_type.model_fields.items() if field.is_required()}
        missing = required - set(reader.fieldnames or [])
        if missing:
            raise ConfigError(source, f"header lacks column(s) {', '.join(sorted(missing))}")
        records = [(reader.line_num, {k: v for k, v in row.items() if k is not None}) for row in reader]
    rows, seen = [], set()
    for number, record in records:
        if isinstance(record, dict):
            record = {k: v for k, v in record.items() if k not in _DESCRIPTIVE_COLUMNS or k in row_type.model_fields}
        row = validate_config(row_type, record, source=f"{source} line {number}")
        if row.entry_id in seen:  # type: ignore[attr-defined]
            raise ConfigError(source, f"line {number}: entry_id {row.entry_id} appears twice")
        seen.add(row.entry_id)  # type: ignore[attr-defined]
        resolved = {k: _resolve(getattr(row, k), base) for k in _SOURCE_COLUMNS if k in row_type.model_fields}
        rows.append(row.model_copy(update=resolved))
    return rows
