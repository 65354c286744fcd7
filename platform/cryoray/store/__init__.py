"""The sub-grid store: Zarr v3 datasets of aligned input/label sub-grids (schema in storage_schemas/)."""

from __future__ import annotations

from cryoray.store.lease import StoreLockedError, WriterLease
from cryoray.store.migrate import migrate_store
from cryoray.store.reader import SubgridStore, store_info
from cryoray.store.schema import LABEL_KINDS, READABLE_VERSIONS, SCHEMA_VERSION, StoreSchemaError
from cryoray.store.writer import INDEX_EVERY, EntryGrids, StoreLayout, StoreWriter, write_entry

__all__ = [
    "INDEX_EVERY",
    "LABEL_KINDS",
    "READABLE_VERSIONS",
    "SCHEMA_VERSION",
    "EntryGrids",
    "StoreLayout",
    "StoreLockedError",
    "StoreSchemaError",
    "StoreWriter",
    "SubgridStore",
    "WriterLease",
    "migrate_store",
    "store_info",
    "write_entry",
]
