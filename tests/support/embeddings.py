"""Small real stores with per-entry embeddings, written without Ray (for the CryoSAMU tests and benchmark)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryoray.labels.embeddings import EmbeddingConfig
from cryoray.pipelines.entry import ingest_entry
from cryoray.pipelines.ingest_config import IngestConfig
from cryoray.pipelines.manifest import ManifestRow
from cryoray.store import StoreWriter
from tests.support.data import ENTRIES, REAL

#: 16³ boxes, no overlap, the simulated map only: a store of a few hundred boxes per small entry
SMALL_STORE = {"tiling": "custom", "box": 16, "stride": 16, "labels": ["simulated"]}


def entry_row(entry: str, **changes: object) -> ManifestRow:
    """The manifest row of a real entry of ENTRIES (absolute paths); ``changes`` replace fields."""
    map_, model, sequence, resolution = ENTRIES[entry]
    fields = {"map": str(REAL / map_), "model": str(REAL / model), "sequence": str(REAL / sequence)}
    return ManifestRow(entry_id=entry, **{**fields, "resolution": resolution, **changes})


def ingest_rows(url: Path, config: IngestConfig, rows: Sequence[ManifestRow]) -> Path:
    """``rows`` written and committed into a store at ``url`` without Ray."""
    with StoreWriter(str(url), config.layout()) as writer:
        for row in rows:
            ingest_entry(row, config, str(url), config.layout())
            writer.commit(row.entry_id)
    return url


def ingest_in_process(url: Path, config: IngestConfig, entries: Sequence[str] = ("EMD-3488",)) -> Path:
    """The named real ENTRIES written and committed into a store at ``url`` without Ray."""
    return ingest_rows(url, config, [entry_row(entry) for entry in entries])


def embedded_store(url: Path, **settings: object) -> Path:
    """EMD-3488 with the built-in ``structure`` embedding; ``settings`` change the ingest config."""
    return ingest_in_process(url, IngestConfig(**{**SMALL_STORE, **settings}, embedding=EmbeddingConfig()))
