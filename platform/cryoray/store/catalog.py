"""What a v2 store holds: per-entry commit records folded into a consolidated index.

A commit writes one small object, ``records/<entry_id>.json`` (the entry committed with its
attributes, or quarantined with the reason), so its cost does not depend on how many entries
the store holds. Every so many records (and when the writer closes, or records splits) the
writer rewrites ``index.json`` whole, with every entry, the quarantine and the splits, and then
removes the records it folded in. Readers take the index plus the records still present; a
record is always at least as new as the index's view of its entry.

Reading is ordered so that a reader never misses a commit that completed before it started:
list ``records/``, then read the index, then the listed records. A listed record that is gone
was folded into an index newer than the one read, so the reader starts over.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import fsspec
from fsspec.implementations.local import LocalFileSystem

from cryoray.errors import SourceError
from cryoray.store.schema import SCHEMA_VERSION, StoreSchemaError, validate_index, validate_record

__all__ = [
    "INDEX_FILE",
    "RECORDS_DIR",
    "Catalog",
    "read_catalog",
    "record_bytes",
    "record_paths",
    "remove_files",
    "store_fs",
]

INDEX_FILE = "index.json"
RECORDS_DIR = "records"
_ATTEMPTS = 5


def store_fs(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and root path of the store at ``url``.

    On S3, whole-object reads go out as one GET: s3fs sends a HEAD first when it may split a
    download (``max_concurrency`` > 1), and store metadata objects are far too small to split.
    """
    options = {"max_concurrency": 1} if url.startswith("s3://") else {}
    fs, path = fsspec.core.url_to_fs(url, **options)
    return fs, path.rstrip("/")


def remove_files(fs: fsspec.AbstractFileSystem, paths: list[str]) -> None:
    """Remove files that may already be gone (one bulk request per 1000 on S3)."""
    if not paths:
        return
    if isinstance(fs, LocalFileSystem):
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
    else:
        fs.rm(paths)


def _canonical(doc: object) -> str:
    """Canonical JSON: the same state gives the same bytes, whatever order it was reached in."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _dumps(doc: object) -> bytes:
    return _canonical(doc).encode()


@dataclass
class Catalog:
    """Committed entries (id -> attributes), quarantined ones, splits, and the ids whose records the index lacks."""

    entries: dict[str, dict] = field(default_factory=dict)
    quarantine: dict[str, dict] = field(default_factory=dict)
    splits: dict | None = None
    pending: set[str] = field(default_factory=set)
    #: entry id -> ``"id":{attributes}`` as canonical JSON, kept so that rewriting the index encodes each entry once
    _encoded: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_index(cls, index: dict) -> Catalog:
        quarantine = {q["entry_id"]: q for q in index["quarantine"]}
        return cls(dict(index["entries"]), quarantine, index["splits"])

    def apply(self, record: dict) -> None:
        """Take one record (newer than what the catalog holds of its entry)."""
        entry_id = record["entry_id"]
        if record["state"] == "committed":
            self.entries[entry_id] = record["entry"]
            self._encoded.pop(entry_id, None)
            self.quarantine.pop(entry_id, None)
        elif entry_id not in self.entries:  # writers never quarantine a committed entry
            self.quarantine[entry_id] = {"entry_id": entry_id, "error": record["error"], "reason": record["reason"]}

    def quarantine_list(self) -> list[dict]:
        return [self.quarantine[e] for e in sorted(self.quarantine)]

    def index_bytes(self) -> bytes:
        """The consolidated index of everything the catalog holds, as canonical JSON.

        The bytes of ``json.dumps(index, sort_keys=True, ...)``, with each entry encoded once and
        kept: rewriting the index of 50k entries then costs a join, not encoding 50k documents.
        """
        parts = []
        for entry_id in sorted(self.entries):
            text = self._encoded.get(entry_id)
            if text is None:
                text = self._encoded[entry_id] = f"{_canonical(entry_id)}:{_canonical(self.entries[entry_id])}"
            parts.append(text)
        rest = _canonical(
            {"quarantine": self.quarantine_list(), "schema_version": SCHEMA_VERSION, "splits": self.splits}
        )
        return f'{{"entries":{{{",".join(parts)}}},{rest[1:]}'.encode()


def record_bytes(record: dict) -> bytes:
    return _dumps(record)


def _list_records(fs: fsspec.AbstractFileSystem, path: str) -> list[str]:
    try:
        listing = fs.ls(f"{path}/{RECORDS_DIR}", detail=False, refresh=True)
    except FileNotFoundError:
        return []
    names = (p.rstrip("/").rsplit("/", 1)[-1] for p in listing)
    # Names starting with "." are a local writer's temporary files (never an entry id).
    return sorted(n.removesuffix(".json") for n in names if n.endswith(".json") and not n.startswith("."))


def _parse(raw: bytes, source: str, what: str) -> dict:
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise StoreSchemaError(source, f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise StoreSchemaError(source, f"{what} is not a JSON object")
    return doc


def _read_index(fs: fsspec.AbstractFileSystem, path: str, url: str) -> dict:
    try:
        raw = fs.cat_file(f"{path}/{INDEX_FILE}")
    except FileNotFoundError:  # the writer crashed before its first index: records only
        return {"schema_version": SCHEMA_VERSION, "entries": {}, "quarantine": [], "splits": None}
    index = _parse(raw, f"{url}/{INDEX_FILE}", "index")
    validate_index(index, source=f"{url}/{INDEX_FILE}")
    return index


def read_catalog(fs: fsspec.AbstractFileSystem, path: str, url: str) -> Catalog:
    """The store's entries as of now: the index plus the records newer than it.

    Raises:
        StoreSchemaError: the index or a record breaks the schema.
        SourceError: they cannot be read, or keep changing (an index is written between every try).
    """
    try:
        for _ in range(_ATTEMPTS):
            names = _list_records(fs, path)
            index = _read_index(fs, path, url)
            paths = [f"{path}/{RECORDS_DIR}/{n}.json" for n in names]
            raw = fs.cat_ranges(paths, [None] * len(paths), [None] * len(paths), on_error="return") if paths else []
            if any(isinstance(r, FileNotFoundError) for r in raw):
                continue  # folded into an index newer than the one read: start over
            for r in raw:
                if isinstance(r, BaseException):
                    raise r
            catalog = Catalog.from_index(index)
            for name, data in zip(names, raw, strict=True):
                catalog.apply(_checked_record(data, name, url))
                catalog.pending.add(name)
            return catalog
    except OSError as exc:
        raise SourceError(url, f"cannot read the store's index and records: {exc}") from exc
    raise SourceError(url, f"records kept changing while being read ({_ATTEMPTS} tries); a writer is busy, try again")


def _checked_record(raw: bytes, name: str, url: str) -> dict:
    source = f"{url}/{RECORDS_DIR}/{name}.json"
    record = _parse(raw, source, "record")
    validate_record(record, source=source)
    ids = {record["entry_id"], record.get("entry", {}).get("entry_id", name)}
    if ids != {name}:
        raise StoreSchemaError(source, f"record of entry {sorted(ids - {name})} stored under the name {name}")
    return record


def record_paths(path: str, entry_ids: Iterable[str]) -> list[str]:
    return [f"{path}/{RECORDS_DIR}/{e}.json" for e in entry_ids]
