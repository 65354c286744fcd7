"""An ingest manifest from an EMDB mirror, on Ray: list the entries, check them in parallel, write.

The driver lists the entries (or takes them as given), sends them in batches to Ray tasks
(each checks its entries on a few threads: the work is waiting on the network), keeps at most
two batches per CPU in flight, and collects rows and rejections as they finish. The manifest
and the rejected list (``MANIFEST.rejected.csv``, columns ``entry_id,reason``) are each
written whole at the end, sorted by entry number.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
import time
import traceback
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

import ray

from cryoray.errors import ConfigError, SourceError
from cryoray.io.sources import write_bytes
from cryoray.pipelines.emdb_manifest.entries import COLUMNS, EmdbFilters, EntryResult, check_entry
from cryoray.pipelines.emdb_manifest.mirror import entry_number, list_entries, normalise_entry_id
from cryoray.runtime import Progress, ensure_ray

__all__ = ["INTERNAL_ERROR", "check_batch", "rejected_path", "run_emdb_manifest"]
log = logging.getLogger(__name__)

#: threads per task: each spends its time waiting on the mirror
THREADS = 8
#: the most entries one task checks
MAX_BATCH = 32
#: how a rejection caused by a bug in cryoray (not by the entry) starts
INTERNAL_ERROR = "internal error"
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def rejected_path(output: str) -> str:
    """``out/emdb.csv`` -> ``out/emdb.rejected.csv`` (the rejected list lies beside the manifest)."""
    return (output[: -len(".csv")] if output.lower().endswith(".csv") else output) + ".rejected.csv"


def _check_safely(entry_id: str, source: str, filters: EmdbFilters, pdb_mirror: str | None) -> EntryResult:
    try:
        return check_entry(entry_id, source, filters, pdb_mirror)
    except Exception as exc:  # a bug must not stop the other entries; it is reported as such
        log.error("internal error on %s:\n%s", entry_id, traceback.format_exc())
        return EntryResult(entry_id, reason=f"{INTERNAL_ERROR}: {type(exc).__name__}: {exc}")


def check_batch(entry_ids: list[str], source: str, filters: EmdbFilters, pdb_mirror: str | None) -> list[dict]:
    """Check ``entry_ids`` on up to :data:`THREADS` threads; one :class:`EntryResult` (as a dict) each, in order."""
    with ThreadPoolExecutor(max_workers=max(1, min(THREADS, len(entry_ids)))) as pool:
        results = pool.map(lambda e: _check_safely(e, source, filters, pdb_mirror), entry_ids)
        return [asdict(r) for r in results]


_check_batch_task = ray.remote(num_cpus=1)(check_batch)


def _batches(entries: list[str], cpus: int) -> Iterator[list[str]]:
    size = max(1, min(MAX_BATCH, math.ceil(len(entries) / (4 * cpus))))
    for start in range(0, len(entries), size):
        yield entries[start : start + size]


def _csv(columns: Iterable[str], rows: Iterable[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _check_output(output: str) -> None:
    if not output:
        raise SourceError("-o", "no manifest path given")
    if not _URL.match(output):
        folder = os.path.dirname(os.path.abspath(output))
        if not os.path.isdir(folder):
            raise SourceError(output, f"directory {folder} does not exist")


def run_emdb_manifest(
    source: str,
    output: str,
    filters: EmdbFilters,
    *,
    pdb_mirror: str | None = None,
    entries: Iterable[str] | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: bool = True,
) -> dict[str, object]:
    """Write the manifest of the entries under ``source`` that pass ``filters``; return a report.

    Args:
        source: root of the EMDB mirror (folder, ``s3://``, ``http(s)://``); see
            :mod:`cryoray.pipelines.emdb_manifest.mirror` for the layouts.
        output: manifest CSV to write; the rejected list goes to :func:`rejected_path`.
        filters: which entries to keep.
        pdb_mirror: root of the PDB mirror for models and sequences (None: no models).
        entries: the entry ids to check (``EMD-1234`` or ``1234``) instead of listing ``source``.
        address, num_cpus: Ray cluster to join, or the size of a local instance.
        progress: show entries checked, kept and rejected on stderr.

    Raises:
        ConfigError: an entry id that is not one.
        SourceError: ``source`` cannot be listed or holds no entries; the output cannot be written.
    """
    t0 = time.perf_counter()
    _check_output(output)
    ids = list_entries(source) if entries is None else list(dict.fromkeys(normalise_entry_id(e) for e in entries))
    if not ids:
        raise SourceError(source, "no EMD-* folders found") if entries is None else ConfigError("--entries", "empty")
    ensure_ray(address, num_cpus)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    log.info("manifest emdb: %d entries from %s", len(ids), source)
    results: list[dict] = []
    with Progress("manifest emdb", len(ids), unit="entries", enabled=progress) as shown:
        batches = _batches(ids, cpus)
        pending: dict[ray.ObjectRef, list[str]] = {}

        def submit() -> None:
            if (batch := next(batches, None)) is not None:
                pending[_check_batch_task.remote(batch, source, filters, pdb_mirror)] = batch

        for _ in range(2 * cpus):
            submit()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                batch = pending.pop(ref)
                try:
                    results.extend(ray.get(ref))
                except ray.exceptions.RayError as exc:  # the task's worker died (after Ray's retries)
                    log.error("batch %s..%s failed: %s", batch[0], batch[-1], exc)
                    reason = f"{INTERNAL_ERROR}: {type(exc).__name__} in the task checking it"
                    results.extend(asdict(EntryResult(e, reason=reason)) for e in batch)
                submit()
            kept = sum(r["row"] is not None for r in results)
            shown.update(len(results), kept=kept, rejected=len(results) - kept)
    results.sort(key=lambda r: int(entry_number(r["entry_id"])))
    rows = [r["row"] for r in results if r["row"] is not None]
    rejected = [{"entry_id": r["entry_id"], "reason": r["reason"]} for r in results if r["row"] is None]
    write_bytes(output, _csv(COLUMNS, rows))
    write_bytes(rejected_path(output), _csv(("entry_id", "reason"), rejected))
    return {
        "source": source,
        "pdb_mirror": pdb_mirror,
        "manifest": output,
        "rejected_file": rejected_path(output),
        "n_entries": len(ids),
        "n_kept": len(rows),
        "n_with_model": sum(bool(r["model"]) for r in rows),
        "n_with_half_maps": sum(bool(r["half_map_1"]) for r in rows),
        "n_rejected": len(rejected),
        "n_internal_errors": sum(r["reason"].startswith(INTERNAL_ERROR) for r in rejected),
        "rejected": rejected,
        "seconds": round(time.perf_counter() - t0, 1),
    }
