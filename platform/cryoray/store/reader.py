"""Reading a sub-grid store: validated metadata, a global sub-grid index, chunk-aligned reads."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import fsspec
import numpy as np
import zarr
from zarr.core.sync import sync

from cryoray.errors import SourceError
from cryoray.store.schema import StoreSchemaError, array_dtypes, validate_entry, validate_root

__all__ = ["SubgridStore", "store_info"]


@dataclass(frozen=True)
class SubgridStore:
    """An opened, validated store (read-only). Open with :meth:`open`."""

    url: str
    root: zarr.Group
    attrs: dict
    _arrays: dict = field(default_factory=dict, repr=False, compare=False)
    _metadata: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def open(cls, url: str | os.PathLike, *, check_arrays: bool = True) -> SubgridStore:
        """Open and validate a store; refuses unknown schema versions and tampered metadata.

        ``check_arrays=False`` skips checking every entry's arrays and attributes (about ten
        metadata reads per entry): for read tasks of a store their driver already opened.

        Raises:
            SourceError: nothing readable at ``url``.
            StoreSchemaError: not a cryoray store, another schema version, or invalid metadata.
        """
        url = os.fspath(url)
        # s3fs sends a HEAD before each whole-object GET when it may split downloads
        # (max_concurrency > 1), doubling the requests; chunks are far too small to split.
        options = {"storage_options": {"max_concurrency": 1}} if url.startswith("s3://") else {}
        try:
            root = zarr.open_group(url, mode="r", **options)
        except (FileNotFoundError, zarr.errors.GroupNotFoundError) as exc:
            raise SourceError(url, "no store here") from exc
        except (OSError, ValueError) as exc:
            raise SourceError(url, f"cannot open store: {exc}") from exc
        attrs = dict(root.attrs)
        validate_root(attrs, source=url)
        store = cls(url, root, attrs)
        if check_arrays:
            store._check_arrays()
        return store

    @property
    def settings(self) -> dict:
        return self.attrs["cryoray_store"]

    @property
    def entries(self) -> list[str]:
        """Committed entry ids, sorted."""
        return list(self.attrs["entries"])

    @property
    def array_names(self) -> list[str]:
        return ["origins", "input", *self.settings["label_kinds"]]

    def entry_metadata(self, entry_id: str) -> dict:
        """An entry's attributes (read once, then cached: each read is a request on S3)."""
        if entry_id not in self._metadata:
            self._metadata[entry_id] = dict(self.root[f"entries/{entry_id}"].attrs)
        return dict(self._metadata[entry_id])

    def _check_arrays(self) -> None:
        box = self.settings["tiling"]["box"]
        dtypes = array_dtypes(self.settings["input_dtype"])
        for entry_id in self.entries:
            where = f"{self.url}#{entry_id}"
            if f"entries/{entry_id}" not in self.root:
                raise StoreSchemaError(where, "listed entry has no group")
            meta = self.entry_metadata(entry_id)
            validate_entry(meta, source=where)
            n = meta["n_subgrids"]
            for name in self.array_names:
                try:
                    arr = self.array(entry_id, name)
                except KeyError as exc:
                    raise StoreSchemaError(where, f"array {name} is missing") from exc
                expected = (n, 3) if name == "origins" else (n, box, box, box)
                if arr.shape != expected or str(arr.dtype) != dtypes[name]:
                    raise StoreSchemaError(
                        where, f"array {name} is {arr.shape} {arr.dtype}, schema says {expected} {dtypes[name]}"
                    )

    @cached_property
    def index(self) -> np.ndarray:
        """``(N, 2)`` int64 rows ``(entry number in self.entries, sub-grid number)`` of all sub-grids."""
        parts = [
            np.stack([np.full(n, i), np.arange(n)], axis=1)
            for i, n in enumerate(self.entry_metadata(e)["n_subgrids"] for e in self.entries)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros((0, 2), np.int64)

    def array(self, entry_id: str, name: str) -> zarr.Array:
        """The (cached) handle of one array of one entry; opening re-reads metadata, so keep it."""
        key = (entry_id, name)
        if key not in self._arrays:
            self._arrays[key] = self.root[f"entries/{entry_id}/{name}"]
        return self._arrays[key]

    def read(self, entry_id: str, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Sub-grids ``start:stop`` of one array of one entry."""
        return self.array(entry_id, name)[start:stop]

    def read_block(self, entry_id: str, names: Sequence[str], start: int, stop: int) -> dict[str, np.ndarray]:
        """Sub-grids ``start:stop`` of several arrays of one entry, fetched concurrently.

        One call per array costs ~1-2 ms of zarr's sync machinery (more than decoding a chunk
        of labels) and one request round trip on S3; gathering them overlaps both.
        """
        arrays = [self.array(entry_id, name).async_array for name in names]

        async def gather() -> list:
            return await asyncio.gather(*(a.getitem(slice(start, stop)) for a in arrays))

        return dict(zip(names, sync(gather()), strict=True))


def _bytes_on_disk(url: str) -> int:
    fs, path = fsspec.core.url_to_fs(url)
    return int(fs.du(path, total=True))


def store_info(url: str | os.PathLike) -> dict[str, object]:
    """What ``cryoray store info`` reports: version, counts, arrays, bytes on disk, quarantine."""
    store = SubgridStore.open(url)
    n_subgrids = len(store.index)
    box = store.settings["tiling"]["box"]
    chunk = store.settings["chunk_subgrids"]
    dtypes = array_dtypes(store.settings["input_dtype"])
    arrays = {}
    for name in store.array_names:
        dtype = dtypes[name]
        shape = [n_subgrids, 3] if name == "origins" else [n_subgrids, box, box, box]
        arrays[name] = {"shape": shape, "dtype": dtype, "chunks": [chunk, *shape[1:]]}
    return {
        "store": store.url,
        "schema_version": store.settings["schema_version"],
        "n_entries": len(store.entries),
        "n_subgrids": n_subgrids,
        "tiling": store.settings["tiling"],
        "arrays": arrays,
        "bytes_on_disk": _bytes_on_disk(store.url),
        "quarantine": store.attrs["quarantine"],
        "splits": None
        if store.attrs["splits"] is None
        else {
            s: sorted(k for k, v in store.attrs["splits"]["assignment"].items() if v == s)
            for s in ("train", "val", "test")
        },
    }
