"""Upgrading a schema v1 store to v2 in place (``cryoray store migrate``).

The v1 store is checked in full first, then the v2 index is written from its entry list and
its entries' attributes, and last the root's attributes are rewritten to the v2 settings alone.
A crash before that last write leaves a v1 store (with an unused ``index.json`` that the next
try rewrites); after it, a complete v2 store. Entry groups and arrays are the same in both
versions and are not touched.
"""

from __future__ import annotations

import os

import zarr

from cryoray.io.sources import write_bytes
from cryoray.store.catalog import INDEX_FILE, Catalog
from cryoray.store.lease import WriterLease
from cryoray.store.reader import SubgridStore
from cryoray.store.schema import SCHEMA_VERSION, validate_root

__all__ = ["migrate_store"]


def migrate_store(url: str | os.PathLike) -> dict[str, object]:
    """Upgrade the store at ``url`` to the current schema, holding its writer lease; return what was done.

    Raises:
        StoreLockedError: a writer has the store open.
        StoreSchemaError: the store breaks its schema (nothing is changed then).
    """
    url = os.fspath(url).rstrip("/")
    store = SubgridStore.open(url, read_entries=False)  # a store at all, before writing a lease there
    report = {"store": url, "from_version": store.version, "to_version": SCHEMA_VERSION}
    if store.version == SCHEMA_VERSION:
        return {**report, "n_entries": len(store.entries)}
    lease = WriterLease(url)
    lease.acquire()
    try:
        store = SubgridStore.open(url, check="all")
        catalog = Catalog(
            {e: store.entry_metadata(e) for e in store.entries},
            {q["entry_id"]: q for q in store.attrs["quarantine"]},
            store.attrs["splits"],
        )
        lease.check()
        write_bytes(f"{url}/{INDEX_FILE}", catalog.index_bytes())
        attrs = {"cryoray_store": {**store.settings, "schema_version": SCHEMA_VERSION}}
        validate_root(attrs, source=url)
        lease.check()
        zarr.open_group(url, mode="r+").attrs.put(attrs)
        return {**report, "n_entries": len(catalog.entries)}
    finally:
        lease.release()
