"""Stores for the store tests: a schema v1 store as cryoray 0.x wrote it, and many small entries fast."""

from __future__ import annotations

import json
import os
from pathlib import Path

import zarr

from cryoray.store import StoreLayout, write_entry
from cryoray.store.catalog import store_fs
from tests.support.stores import LAYOUT, make_entry, metadata


def write_v1_store(url: str | Path, names: list[str], *, quarantine: tuple[dict, ...] = ()) -> None:
    """A schema v1 store of ``names`` (entries ``make_entry(i)``): the committed ids, quarantine and splits
    in the root group's attributes, the entry groups as in v2."""
    url = str(url)
    root = zarr.open_group(url, mode="w")
    root.require_group("entries")
    for i, name in enumerate(names):
        entry = make_entry(i)
        write_entry(url, LAYOUT, name, metadata(name, len(entry.origins)), entry)
    settings = {**LAYOUT.to_attrs(), "schema_version": 1}
    attrs = {"cryoray_store": settings, "entries": sorted(names), "quarantine": list(quarantine), "splits": None}
    root.attrs.put(attrs)


def entry_files(url: str, layout: StoreLayout = LAYOUT, shape: tuple[int, int, int] = (40, 30, 20)) -> dict[str, bytes]:
    """Write one real entry into the store's ``entries/`` and return its files, by path below its group.

    Written under the id ``template`` (never committed); :func:`put_entries` copies it.
    """
    entry = make_entry(0, shape)
    entry = type(entry)(entry.origins, {k: v for k, v in entry.grids.items() if k in ("input", *layout.label_kinds)})
    write_entry(url, layout, "template", metadata("template", len(entry.origins), shape), entry)
    fs, path = store_fs(url)
    base = f"{path}/entries/template/"
    return {p[len(base) :]: fs.cat_file(p) for p in fs.find(base)}


def put_entries(url: str, files: dict[str, bytes], ids: list[str]) -> None:
    """Copies of the template entry's ``files`` under ``ids`` (attributes naming them); concurrent PUTs on S3."""
    fs, path = store_fs(url)
    group = json.loads(files["zarr.json"])
    out = {}
    for entry_id in ids:
        group["attributes"].update(entry_id=entry_id, emdb_id=entry_id)
        for rel, raw in files.items():
            out[f"{path}/entries/{entry_id}/{rel}"] = json.dumps(group).encode() if rel == "zarr.json" else raw
    if url.startswith("s3://"):
        fs.pipe(out)
        return
    for target, raw in out.items():
        os.makedirs(os.path.dirname(target), exist_ok=True)
        Path(target).write_bytes(raw)
