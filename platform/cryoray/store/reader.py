"""Reading a sub-grid store (schema v1 or v2): its entries, a global sub-grid index, chunk-aligned reads.

Opening reads the root's settings and the list of committed entries with their attributes (v2:
the index plus newer records, :mod:`cryoray.store.catalog`; v1: the root's attribute list),
a handful of requests whatever the store's size. An entry's group attributes and arrays are
checked against the schema when the entry is first read (``check="all"``: every entry now).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from functools import cached_property
from typing import Literal

import fsspec
import numpy as np
import zarr
import zarr.api.asynchronous as zarr_async
from zarr.core.sync import sync

from cryoray.errors import SourceError
from cryoray.store.catalog import Catalog, read_catalog, store_fs
from cryoray.store.schema import StoreSchemaError, array_dtypes, validate_entry, validate_root

__all__ = ["SubgridStore", "store_info"]

#: entries checked at once by ``check="all"``
_CHECK_CONCURRENCY = 64


class SubgridStore:
    """An opened store (read-only). Open with :meth:`open`."""

    def __init__(self, url: str, root: zarr.Group, settings: dict, version: int) -> None:
        self.url = url
        self.root = root
        self.settings = settings
        self.version = version
        self._fs, self._path = store_fs(url)
        self._arrays: dict[tuple[str, str], zarr.Array] = {}
        self._metadata: dict[str, dict] = {}  # v1: entry attributes read so far
        self._checked: dict[str, int] = {}  # entry -> n_subgrids, for entries whose group attributes were checked
        self._embeddings: dict[str, np.ndarray] = {}  # entry -> its embedding, once read
        self._catalog: Catalog | None = None  # the committed entries, once read

    @classmethod
    def open(
        cls, url: str | os.PathLike, *, check: Literal["lazy", "all"] = "lazy", read_entries: bool = True
    ) -> SubgridStore:
        """Open a store; refuses unknown schema versions and tampered metadata.

        Args:
            url: local path or fsspec URL.
            check: ``"lazy"`` checks each entry's attributes and arrays against the schema when
                it is first read; ``"all"`` checks every entry now (about ten metadata reads per
                entry, made concurrently; what ``cryoray store info --check`` does).
            read_entries: read the list of committed entries now (False: when first asked for;
                read tasks that are handed their entries never read it).

        Raises:
            SourceError: nothing readable at ``url``.
            StoreSchemaError: not a cryoray store, an unknown schema version, or invalid metadata.
        """
        url = os.fspath(url).rstrip("/")
        # s3fs sends a HEAD before each whole-object GET when it may split downloads
        # (max_concurrency > 1), doubling the requests; chunks are far too small to split.
        options = {"storage_options": {"max_concurrency": 1}} if url.startswith("s3://") else {}
        try:
            root = zarr.open_group(url, mode="r", zarr_format=3, **options)
        except (FileNotFoundError, zarr.errors.GroupNotFoundError) as exc:
            raise SourceError(url, "no store here") from exc
        except (OSError, ValueError) as exc:
            raise SourceError(url, f"cannot open store: {exc}") from exc
        attrs = dict(root.attrs)
        version = validate_root(attrs, source=url)
        store = cls(url, root, attrs["cryoray_store"], version)
        if version == 1:  # everything but the entries' attributes is in the root's attributes
            quarantine = {q["entry_id"]: q for q in attrs["quarantine"]}
            store._catalog = Catalog(dict.fromkeys(attrs["entries"]), quarantine, attrs["splits"])
        elif read_entries or check == "all":
            store._listing()
        if check == "all":
            store.check()
        return store

    def _listing(self) -> Catalog:
        if self._catalog is None:
            self._catalog = read_catalog(self._fs, self._path, self.url)
        return self._catalog

    @cached_property
    def entries(self) -> list[str]:
        """Committed entry ids, sorted."""
        return sorted(self._listing().entries)

    @cached_property
    def attrs(self) -> dict:
        """The store as one document: ``cryoray_store`` (settings), ``entries``, ``quarantine``, ``splits``."""
        catalog = self._listing()
        return {
            "cryoray_store": self.settings,
            "entries": self.entries,
            "quarantine": catalog.quarantine_list(),
            "splits": catalog.splits,
        }

    @property
    def array_names(self) -> list[str]:
        """The per-sub-grid arrays: origins, input and the label kinds."""
        return ["origins", "input", *self.settings["label_kinds"]]

    @property
    def embedding_dim(self) -> int | None:
        """Features of the entries' ``embedding`` array, or None when the store has no embeddings."""
        embedding = self.settings.get("embedding")
        return None if embedding is None else int(embedding["dim"])

    @property
    def _entry_arrays(self) -> list[str]:
        return self.array_names + (["embedding"] if self.embedding_dim else [])

    def read_embedding(self, entry_id: str) -> np.ndarray:
        """The entry's ``(dim,)`` float32 embedding (read once, then cached).

        Raises:
            ValueError: the store has no embeddings.
        """
        if not self.embedding_dim:
            raise ValueError(f"{self.url}: the store has no embeddings (ingest with an `embedding` setting)")
        if entry_id not in self._embeddings:
            self._embeddings[entry_id] = self.array(entry_id, "embedding")[:]
        return self._embeddings[entry_id]

    def entry_metadata(self, entry_id: str) -> dict:
        """A committed entry's attributes (v2: from the index, no request; v1: read once, then cached).

        Raises:
            KeyError: no such committed entry.
        """
        committed = self._listing().entries[entry_id]
        if committed is not None:
            return dict(committed)
        if entry_id not in self._metadata:
            where = f"{self.url}#{entry_id}"
            try:
                attrs = dict(self.root[f"entries/{entry_id}"].attrs)
            except KeyError as exc:
                raise StoreSchemaError(where, "listed entry has no group") from exc
            validate_entry(attrs, source=where, version=self.version)
            self._metadata[entry_id] = attrs
        return dict(self._metadata[entry_id])

    def _committed(self, entry_id: str) -> dict | None:
        """The attributes the entry was committed with, when the list of entries was read (v2)."""
        return None if self._catalog is None else self._catalog.entries.get(entry_id)

    def _check_attrs(self, entry_id: str, attrs: dict) -> int:
        where = f"{self.url}#{entry_id}"
        validate_entry(attrs, source=where, version=self.version)
        committed = self._committed(entry_id)
        if committed is not None and committed != attrs:
            raise StoreSchemaError(where, "the entry group's attributes differ from those it was committed with")
        if self.version == 1:
            self._metadata[entry_id] = attrs
        return int(attrs["n_subgrids"])

    def _check_array(self, entry_id: str, name: str, arr: zarr.Array, n: int) -> None:
        box = self.settings["tiling"]["box"]
        dtype = array_dtypes(self.settings["input_dtype"])[name]
        expected = {"origins": (n, 3), "embedding": (self.embedding_dim,)}.get(name, (n, box, box, box))
        if arr.shape != expected or str(arr.dtype) != dtype:
            raise StoreSchemaError(
                f"{self.url}#{entry_id}", f"array {name} is {arr.shape} {arr.dtype}, schema says {expected} {dtype}"
            )

    async def _inspect(self, entry_id: str, names: Sequence[str]) -> dict[str, zarr.Array]:
        """Check an entry (its group attributes unless already checked) and the arrays ``names``; open them.

        The group and the arrays' metadata are read concurrently (one round trip on S3).
        """
        where = f"{self.url}#{entry_id}"
        unknown = set(names) - set(self._entry_arrays)
        if unknown:
            raise ValueError(f"{self.url}: no arrays {sorted(unknown)}; the store has {self._entry_arrays}")
        store = self.root.store
        group = None
        if entry_id not in self._checked:
            group = zarr_async.open_group(store, path=f"entries/{entry_id}", mode="r")
        opened = await asyncio.gather(
            *(zarr_async.open_array(store=store, path=f"entries/{entry_id}/{n}", mode="r") for n in names),
            *([group] if group is not None else []),
            return_exceptions=True,
        )
        if group is not None:
            found = opened.pop()
            if isinstance(found, (zarr.errors.BaseZarrError, KeyError, FileNotFoundError)):
                raise StoreSchemaError(where, "entry has no group")
            if isinstance(found, BaseException):
                raise StoreSchemaError(where, f"entry group is unreadable: {found}")
            self._checked[entry_id] = self._check_attrs(entry_id, dict(found.attrs))
        n = self._checked[entry_id]
        arrays = {}
        for name, arr in zip(names, opened, strict=True):
            if isinstance(arr, (zarr.errors.BaseZarrError, KeyError, FileNotFoundError)):
                raise StoreSchemaError(where, f"array {name} is missing")
            if isinstance(arr, BaseException):
                raise StoreSchemaError(where, f"array {name} is unreadable: {arr}")
            arrays[name] = zarr.Array(arr)
            self._check_array(entry_id, name, arrays[name], n)
        return arrays

    def _open_arrays(self, entry_id: str, names: Sequence[str]) -> None:
        missing = [name for name in names if (entry_id, name) not in self._arrays]
        if missing:
            for name, arr in sync(self._inspect(entry_id, missing)).items():
                self._arrays[(entry_id, name)] = arr

    def check(self) -> None:
        """Check every committed entry's attributes and arrays against the schema, concurrently.

        Raises:
            StoreSchemaError: the first broken entry, with the number and names of the others.
        """
        problems = sync(self._check_all(self.entries))
        if problems:
            first, *others = problems
            more = f" (and {len(others)} more broken entries: {', '.join(e for e, _ in others[:5])}" if others else ""
            if len(others) > 5:
                more += ", ..."
            raise StoreSchemaError(first[0], first[1] + (more + ")" if more else ""))

    async def _check_all(self, entries: Sequence[str]) -> list[tuple[str, str]]:
        limit = asyncio.Semaphore(_CHECK_CONCURRENCY)
        names = self._entry_arrays

        async def one(entry_id: str) -> tuple[str, str] | None:
            async with limit:
                self._checked.pop(entry_id, None)
                try:
                    await self._inspect(entry_id, names)
                except StoreSchemaError as exc:
                    return exc.source, exc.reason
                return None

        return [p for p in await asyncio.gather(*(one(e) for e in entries)) if p is not None]

    @cached_property
    def index(self) -> np.ndarray:
        """``(N, 2)`` int64 rows ``(entry number in self.entries, sub-grid number)`` of all sub-grids."""
        parts = [
            np.stack([np.full(n, i), np.arange(n)], axis=1)
            for i, n in enumerate(self.entry_metadata(e)["n_subgrids"] for e in self.entries)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros((0, 2), np.int64)

    def array(self, entry_id: str, name: str) -> zarr.Array:
        """The (cached) handle of one array of one entry, checked when first opened.

        Raises:
            StoreSchemaError: the entry's group or the array breaks the schema.
        """
        self._open_arrays(entry_id, [name])
        return self._arrays[(entry_id, name)]

    def read(self, entry_id: str, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Sub-grids ``start:stop`` of one array of one entry."""
        return self.array(entry_id, name)[start:stop]

    def read_block(self, entry_id: str, names: Sequence[str], start: int, stop: int) -> dict[str, np.ndarray]:
        """Sub-grids ``start:stop`` of several arrays of one entry, fetched concurrently.

        One call per array costs ~1-2 ms of zarr's sync machinery (more than decoding a chunk
        of labels) and one request round trip on S3; gathering them overlaps both.
        """
        self._open_arrays(entry_id, names)
        arrays = [self._arrays[(entry_id, name)].async_array for name in names]

        async def gather() -> list:
            return await asyncio.gather(*(a.getitem(slice(start, stop)) for a in arrays))

        return dict(zip(names, sync(gather()), strict=True))


def _bytes_on_disk(url: str) -> int:
    fs, path = fsspec.core.url_to_fs(url)
    return int(fs.du(path, total=True))


def store_info(url: str | os.PathLike, *, check: bool = False) -> dict[str, object]:
    """What ``cryoray store info`` reports: version, counts, arrays, bytes on disk, quarantine.

    ``check``: check every entry's attributes and arrays first (else only what opening checks).
    """
    store = SubgridStore.open(url, check="all" if check else "lazy")
    n_subgrids = len(store.index)
    box = store.settings["tiling"]["box"]
    chunk = store.settings["chunk_subgrids"]
    dtypes = array_dtypes(store.settings["input_dtype"])
    arrays = {}
    for name in store.array_names:
        dtype = dtypes[name]
        shape = [n_subgrids, 3] if name == "origins" else [n_subgrids, box, box, box]
        arrays[name] = {"shape": shape, "dtype": dtype, "chunks": [chunk, *shape[1:]]}
    splits = store.attrs["splits"]
    return {
        "store": store.url,
        "schema_version": store.version,
        "checked": check,
        "n_entries": len(store.entries),
        "n_subgrids": n_subgrids,
        "tiling": store.settings["tiling"],
        "arrays": arrays,
        "embedding": store.settings.get("embedding"),
        "bytes_on_disk": _bytes_on_disk(store.url),
        "quarantine": store.attrs["quarantine"],
        "splits": None
        if splits is None
        else {s: sorted(k for k, v in splits["assignment"].items() if v == s) for s in ("train", "val", "test")},
    }
