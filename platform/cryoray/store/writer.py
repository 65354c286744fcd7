"""Writing entries into a sub-grid store (see storage_schemas/subgrid_store.v1.md).

Entries are written independently (by parallel tasks, :func:`write_entry`) into their own
groups; an entry becomes visible only when :meth:`StoreWriter.commit` adds its id to the root's
sorted ``entries`` list. Only one process (the ingest driver) opens the root and commits: a
:class:`StoreWriter` holds the store's writer lease (:mod:`cryoray.store.lease`) until closed.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType

import fsspec
import numpy as np
import zarr
from zarr.codecs import BloscCodec

from cryoray.errors import SourceError
from cryoray.preprocessing.tiling import Tiling, extract_box
from cryoray.store.lease import LEASE_FILE, WriterLease
from cryoray.store.schema import SCHEMA_VERSION, StoreSchemaError, array_dtypes, validate_entry, validate_root

__all__ = ["EntryGrids", "StoreLayout", "StoreWriter", "write_entry"]

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

    def to_attrs(self) -> dict[str, object]:
        box = self.tiling.box
        chunk = self.chunk_subgrids or max(1, (2 << 20) // (2 * box**3))
        return {
            "schema_version": SCHEMA_VERSION,
            "tiling": self.tiling.to_dict(),
            "input_dtype": self.input_dtype,
            "label_kinds": list(self.label_kinds),
            "chunk_subgrids": int(chunk),
            "prepare": dict(self.prepare or {}),
            "skip_rule": self.skip_rule,
            "denoise_radius": float(self.denoise_radius),
        }


@dataclass(frozen=True)
class EntryGrids:
    """One entry on its prepared grid: box origins ``(n, 3)`` and whole-grid arrays to cut.

    ``grids`` holds ``"input"`` and every label kind of the layout, each of the grid's shape.
    """

    origins: np.ndarray
    grids: Mapping[str, np.ndarray]


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

    Args:
        url: local path or fsspec URL of the store.
        layout: store-wide settings; must equal those of an existing store.
        lease_ttl_s: see :class:`~cryoray.store.lease.WriterLease`.

    Raises:
        StoreLockedError: another writer has the store open.
    """

    def __init__(self, url: str | os.PathLike, layout: StoreLayout, *, lease_ttl_s: float = 60.0) -> None:
        self.url = os.fspath(url)
        self.layout = layout
        self.lease = WriterLease(self.url, ttl_s=lease_ttl_s)
        self.lease.acquire()
        # Released on close, or when the writer is dropped unclosed (the lease refers to no writer).
        self._release = weakref.finalize(self, self.lease.release)
        try:
            self._open_root()
        except BaseException:
            self.close()
            raise

    def _open_root(self) -> None:
        wanted = self.layout.to_attrs()
        found = self._names()
        if found and "zarr.json" not in found:  # checked before zarr writes its own file into the folder
            raise SourceError(self.url, "exists and is not a cryoray store")
        try:
            self.root = zarr.open_group(self.url, mode="a")
        except (OSError, ValueError) as exc:
            raise SourceError(self.url, f"cannot open store for writing: {exc}") from exc
        attrs = dict(self.root.attrs)
        if "cryoray_store" in attrs:
            validate_root(attrs, source=self.url)
            if attrs["cryoray_store"] != wanted:
                raise StoreSchemaError(
                    self.url, "existing store was made with other settings (tiling, labels, dtype...)"
                )
        else:
            if found - {"zarr.json"}:
                raise SourceError(self.url, "exists and is not a cryoray store")
            attrs = {"cryoray_store": wanted, "entries": [], "quarantine": [], "splits": None}
            validate_root(attrs, source=self.url)
            self.root.attrs.put(attrs)
        self.root.require_group("entries")

    def _names(self) -> set[str]:
        """What the store's folder holds, besides the writer lease (nothing for a new store)."""
        fs, path = fsspec.core.url_to_fs(self.url)
        try:
            listing = fs.ls(path, detail=False, refresh=True)
        except FileNotFoundError:
            return set()
        return {p.rstrip("/").rsplit("/", 1)[-1] for p in listing} - {LEASE_FILE}

    def close(self) -> None:
        """Give up the writer lease; the writer is not used afterwards."""
        self._release()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def committed(self) -> list[str]:
        return list(self.root.attrs["entries"])

    def commit(self, entry_id: str) -> None:
        """Make a fully written entry visible (single writer: the ingest driver)."""
        self.lease.check()
        if entry_id not in self.root.require_group("entries"):
            raise ValueError(f"entry {entry_id} was not written")
        attrs = dict(self.root.attrs)
        attrs["entries"] = sorted(set(attrs["entries"]) | {entry_id})
        attrs["quarantine"] = [q for q in attrs["quarantine"] if q["entry_id"] != entry_id]
        self.root.attrs.put(attrs)

    def quarantine(self, entry_id: str, error: str, reason: str) -> None:
        """Record a failed entry (replacing an earlier record of it)."""
        self.lease.check()
        attrs = dict(self.root.attrs)
        records = [q for q in attrs["quarantine"] if q["entry_id"] != entry_id]
        records.append({"entry_id": entry_id, "error": error, "reason": reason})
        attrs["quarantine"] = sorted(records, key=lambda q: q["entry_id"])
        entries = self.root.require_group("entries")
        if entry_id in entries and entry_id not in attrs["entries"]:
            del entries[entry_id]
        self.root.attrs.put(attrs)

    def set_splits(self, method: Mapping[str, object], assignment: Mapping[str, str]) -> None:
        """Record the train/val/test assignment of the committed entries."""
        self.lease.check()
        attrs = dict(self.root.attrs)
        attrs["splits"] = {"method": dict(method), "assignment": dict(sorted(assignment.items()))}
        validate_root(attrs, source=self.url)
        self.root.attrs.put(attrs)
