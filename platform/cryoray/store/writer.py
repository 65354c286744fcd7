"""Writing entries into a sub-grid store (see storage_schemas/subgrid_store.v2.md).

Entries are written independently (by parallel tasks, :func:`write_entry`) into their own
groups; an entry becomes visible only when :meth:`StoreWriter.commit` writes its record
(:mod:`cryoray.store.catalog`), one small object whatever the size of the store. Only one
process (the ingest driver) commits: a :class:`StoreWriter` holds the store's writer lease
(:mod:`cryoray.store.lease`) until closed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType

import numpy as np
import zarr
from fsspec.implementations.local import LocalFileSystem
from zarr.codecs import BloscCodec

from cryoray.errors import SourceError
from cryoray.io.sources import write_bytes
from cryoray.preprocessing.tiling import Tiling, extract_box
from cryoray.store.catalog import (
    INDEX_FILE,
    RECORDS_DIR,
    Catalog,
    read_catalog,
    record_bytes,
    record_paths,
    remove_files,
    store_fs,
)
from cryoray.store.lease import LEASE_FILE, StoreLockedError, WriterLease
from cryoray.store.schema import (
    SCHEMA_VERSION,
    StoreSchemaError,
    array_dtypes,
    validate_entry,
    validate_record,
    validate_root,
    validate_splits,
)

__all__ = ["INDEX_EVERY", "EntryGrids", "StoreLayout", "StoreWriter", "write_entry"]

#: records a writer lets accumulate before folding them into the index (readers read them one by one)
INDEX_EVERY = 1000
log = logging.getLogger(__name__)

_DIMS = ("subgrid", "z", "y", "x")


@dataclass(frozen=True)
class StoreLayout:
    """Store-wide settings, fixed when the store is created."""

    tiling: Tiling
    label_kinds: tuple[str, ...]
    input_dtype: str = "float16"
    chunk_subgrids: int | None = None
    prepare: Mapping[str, object] | None = None
    skip_rule: str = "no-atoms"
    denoise_radius: float = 6.0
    #: Å around each Cα labelled with its residue type (0: the Cα voxel only; recorded only when not 0)
    amino_acid_radius: float = 0.0
    #: the ``simulated`` map's resolution over the entry's (1: the map's own; recorded only when not 1)
    simulated_resolution_scale: float = 1.0
    #: the per-entry embedding's ``name`` and ``dim`` (:mod:`cryoray.labels.embeddings`), or None for none
    embedding: Mapping[str, object] | None = None

    def to_attrs(self) -> dict[str, object]:
        box = self.tiling.box
        chunk = self.chunk_subgrids or max(1, (2 << 20) // (2 * box**3))
        attrs = {
            "schema_version": SCHEMA_VERSION,
            "tiling": self.tiling.to_dict(),
            "input_dtype": self.input_dtype,
            "label_kinds": list(self.label_kinds),
            "chunk_subgrids": int(chunk),
            "prepare": dict(self.prepare or {}),
            "skip_rule": self.skip_rule,
            "denoise_radius": float(self.denoise_radius),
        }
        if self.amino_acid_radius:  # absent at 0, as the scale below at 1
            attrs["amino_acid_radius"] = float(self.amino_acid_radius)
        if self.simulated_resolution_scale != 1.0:  # absent at 1, so older stores keep their settings
            attrs["simulated_resolution_scale"] = float(self.simulated_resolution_scale)
        if self.embedding is not None:  # absent, not null, so stores without embeddings keep their settings
            attrs["embedding"] = dict(self.embedding)
        return attrs


@dataclass(frozen=True)
class EntryGrids:
    """One entry on its prepared grid: box origins ``(n, 3)`` and whole-grid arrays to cut.

    ``grids`` holds ``"input"`` and every label kind of the layout, each of the grid's shape;
    ``embedding`` the entry's ``(dim,)`` vector when the layout has an embedding.
    """

    origins: np.ndarray
    grids: Mapping[str, np.ndarray]
    embedding: np.ndarray | None = None


def _codec() -> BloscCodec:
    # Measured on the real maps' sub-grids (all arrays, 32 per chunk): lz4hc level 5 stores
    # about the same bytes as zstd level 3 (+2 %) and decodes 3.4x faster (15k vs 4.3k
    # sub-grids/s on one core); lz4 level 5 decodes no faster but is 1.5x bigger. Byte shuffle
    # beat bit shuffle on float16 (0.36 vs 0.51 of the raw size). Encoding is slower, but
    # happens once, while every epoch decodes.
    return BloscCodec(cname="lz4hc", clevel=5, shuffle="shuffle")


def write_entry(
    url: str, layout: StoreLayout, entry_id: str, metadata: Mapping[str, object], entry: EntryGrids
) -> None:
    """Write (or rewrite) an entry's group, cutting boxes one chunk at a time.

    Touches only ``entries/<entry_id>``, so parallel tasks can call it for different entries
    while the driver commits. Memory beyond the grids: one chunk of sub-grids per array. The
    entry stays invisible until :meth:`StoreWriter.commit`.
    """
    validate_entry(dict(metadata), source=f"{url}#{entry_id}")
    attrs = layout.to_attrs()
    names = ["input", *layout.label_kinds]
    missing = set(names) - set(entry.grids)
    if missing:
        raise ValueError(f"{entry_id}: missing grids {sorted(missing)}")
    dim = None if layout.embedding is None else int(layout.embedding["dim"])
    if dim is not None and (entry.embedding is None or np.shape(entry.embedding) != (dim,)):
        got = None if entry.embedding is None else np.shape(entry.embedding)
        raise ValueError(f"{entry_id}: the layout's embedding has {dim} features, the entry gives {got}")
    n, box = len(entry.origins), layout.tiling.box
    entries = zarr.open_group(f"{url.rstrip('/')}/entries", mode="r+")
    if entry_id in entries:
        del entries[entry_id]  # a partial group from an interrupted run
    group = entries.create_group(entry_id)
    chunk = max(1, min(int(attrs["chunk_subgrids"]), n))
    dtypes = array_dtypes(layout.input_dtype)

    def create(name: str, dtype: str, shape: tuple[int, ...]) -> zarr.Array:
        return group.create_array(
            name,
            shape=shape,
            chunks=(chunk, *shape[1:]),
            dtype=dtype,
            compressors=_codec(),
            dimension_names=_DIMS if len(shape) == 4 else ("subgrid", "axis"),
            fill_value=0,
        )

    origins = create("origins", dtypes["origins"], (n, 3))
    if n:
        origins[:] = entry.origins.astype(np.int32)
    if dim is not None:
        embedding = group.create_array(
            "embedding", shape=(dim,), dtype=dtypes["embedding"], compressors=_codec(), dimension_names=("feature",)
        )
        embedding[:] = np.asarray(entry.embedding, dtype=dtypes["embedding"])
    for name in names:
        arr = create(name, dtypes[name], (n, box, box, box))
        grid = entry.grids[name]
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            arr[start:stop] = np.stack([extract_box(grid, o, box) for o in entry.origins[start:stop]]).astype(
                dtypes[name], copy=False
            )
    group.attrs.put(dict(metadata))


class StoreWriter:
    """Create or reopen a store for ingest, as its only writer until :meth:`close` (or ``with``).

    Each :meth:`commit` or :meth:`quarantine` writes one record; every ``index_every`` records,
    on :meth:`set_splits` and on :meth:`close`, the records are folded into the index (rewritten
    whole, then the records removed). A writer that crashes leaves its records: readers and the
    next writer take them as they are.

    Args:
        url: local path or fsspec URL of the store.
        layout: store-wide settings; must equal those of an existing store.
        lease_ttl_s: see :class:`~cryoray.store.lease.WriterLease`.
        index_every: records written between two rewrites of the index.

    Raises:
        StoreLockedError: another writer has the store open.
        StoreSchemaError: the store was made with other settings, or in schema v1 (migrate it first).
    """

    def __init__(
        self,
        url: str | os.PathLike,
        layout: StoreLayout,
        *,
        lease_ttl_s: float = 60.0,
        index_every: int = INDEX_EVERY,
    ) -> None:
        if index_every < 1:
            raise ValueError(f"index_every must be at least 1, not {index_every}")
        self.url = os.fspath(url).rstrip("/")
        self.layout = layout
        self.index_every = index_every
        self._fs, self._path = store_fs(self.url)
        self.lease = WriterLease(self.url, ttl_s=lease_ttl_s)
        self.lease.acquire()
        # Released on close, or when the writer is dropped unclosed (the lease refers to no writer).
        self._release = weakref.finalize(self, self.lease.release)
        try:
            self.catalog = self._open_root()
        except BaseException:
            self._release()
            raise

    def _open_root(self) -> Catalog:
        wanted = self.layout.to_attrs()
        found = self._names()
        if found and "zarr.json" not in found:  # checked before zarr writes its own file into the folder
            raise SourceError(self.url, "exists and is not a cryoray store")
        try:
            root = zarr.open_group(self.url, mode="a")
        except (OSError, ValueError) as exc:
            raise SourceError(self.url, f"cannot open store for writing: {exc}") from exc
        attrs = dict(root.attrs)
        if "cryoray_store" in attrs:
            if validate_root(attrs, source=self.url) != SCHEMA_VERSION:
                raise StoreSchemaError(
                    self.url,
                    f"a schema v{attrs['cryoray_store']['schema_version']} store, which this cryoray reads but "
                    f"does not write; `cryoray store migrate {self.url}` upgrades it to v{SCHEMA_VERSION}",
                )
            if attrs["cryoray_store"] != wanted:
                raise StoreSchemaError(
                    self.url, "existing store was made with other settings (tiling, labels, dtype...)"
                )
            root.require_group("entries")
            if isinstance(self._fs, LocalFileSystem):  # a killed writer's half-written records (temporary files)
                remove_files(self._fs, self._fs.glob(f"{self._path}/{RECORDS_DIR}/.cryoray-*"))
            return read_catalog(self._fs, self._path, self.url)
        if found - {"zarr.json"}:
            raise SourceError(self.url, "exists and is not a cryoray store")
        attrs = {"cryoray_store": wanted}
        validate_root(attrs, source=self.url)
        root.attrs.put(attrs)
        root.require_group("entries")
        catalog = Catalog()
        write_bytes(f"{self.url}/{INDEX_FILE}", catalog.index_bytes())
        return catalog

    def _names(self) -> set[str]:
        """What the store's folder holds, besides the writer lease (nothing for a new store)."""
        try:
            listing = self._fs.ls(self._path, detail=False, refresh=True)
        except FileNotFoundError:
            return set()
        return {p.rstrip("/").rsplit("/", 1)[-1] for p in listing} - {LEASE_FILE}

    def close(self) -> None:
        """Fold the records into the index and give up the writer lease; the writer is not used afterwards."""
        try:
            if self._release.alive and self.catalog.pending:
                self.write_index()
        except StoreLockedError as exc:  # not this writer's store any more: its records stay
            log.warning("store %s: index not rewritten at close: %s", self.url, exc.reason)
        finally:
            self._release()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def committed(self) -> list[str]:
        return sorted(self.catalog.entries)

    def commit(self, entry_id: str) -> None:
        """Make a fully written entry visible (single writer: the ingest driver).

        Costs the same whatever the store holds: the lease check, one read of the entry's
        attributes and one record written (plus, every ``index_every`` commits, the index).
        """
        self.lease.check()
        self._record({"entry_id": entry_id, "state": "committed", "entry": self._written(entry_id)})

    def _written(self, entry_id: str) -> dict:
        """The attributes of the entry's group, which :func:`write_entry` puts last."""
        try:
            doc = json.loads(self._fs.cat_file(f"{self._path}/entries/{entry_id}/zarr.json"))
        except FileNotFoundError:
            raise ValueError(f"entry {entry_id} was not written") from None
        except (OSError, ValueError) as exc:
            raise SourceError(f"{self.url}#{entry_id}", f"cannot read the entry's attributes: {exc}") from exc
        attrs = doc.get("attributes") if isinstance(doc, dict) else None
        if not attrs:
            raise ValueError(f"entry {entry_id} was not completely written (its group has no attributes)")
        validate_entry(attrs, source=f"{self.url}#{entry_id}")
        if attrs["entry_id"] != entry_id:
            raise ValueError(f"entry {entry_id}: its attributes name entry {attrs['entry_id']}")
        return attrs

    def quarantine(self, entry_id: str, error: str, reason: str) -> None:
        """Record a failed entry (replacing an earlier record of it) and remove what it wrote."""
        self.lease.check()
        if entry_id in self.catalog.entries:
            raise ValueError(f"entry {entry_id} is committed; a committed entry is not quarantined")
        record = {"entry_id": entry_id, "state": "quarantined", "error": error, "reason": reason}
        validate_record(record, source=f"{self.url}#{entry_id}")
        self._record(record)
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm(f"{self._path}/entries/{entry_id}", recursive=True)

    def set_splits(self, method: Mapping[str, object], assignment: Mapping[str, str]) -> None:
        """Record the train/val/test assignment of the committed entries (in the index, rewritten now)."""
        self.lease.check()
        splits = {"method": dict(method), "assignment": dict(sorted(assignment.items()))}
        validate_splits(splits, source=self.url)
        self.catalog.splits = splits
        self.write_index()

    def _record(self, record: dict) -> None:
        """Write the entry's record (replacing any earlier one), then fold the records in when they are many."""
        write_bytes(f"{self.url}/{RECORDS_DIR}/{record['entry_id']}.json", record_bytes(record), make_dirs=True)
        self.catalog.apply(record)
        self.catalog.pending.add(record["entry_id"])
        if len(self.catalog.pending) >= self.index_every:
            self.write_index()

    def write_index(self) -> None:
        """Rewrite the index with everything committed, then remove the records it now holds."""
        self.lease.check()
        write_bytes(f"{self.url}/{INDEX_FILE}", self.catalog.index_bytes())
        folded = sorted(self.catalog.pending)
        try:
            remove_files(self._fs, record_paths(self._path, folded))
        except OSError as exc:  # left behind, they only repeat what the index says
            log.warning("store %s: cannot remove %d folded records: %s", self.url, len(folded), exc)
        self.catalog.pending.clear()
