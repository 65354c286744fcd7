"""Distributed ingest on Ray Data: manifest of entries -> sub-grid store.

Each entry is one Ray task that reads its sources (local, ``s3://``, ``http(s)://``), prepares,
labels and tiles the map and writes its own group; the driver commits each finished entry (or
quarantines it with the reason) as results stream in, so a crash leaves only uncommitted
groups behind, and a re-run skips what was committed. Splits are computed at the end.
"""

from __future__ import annotations

import logging
import time
import traceback
from functools import partial

import ray

from cryoray.errors import InputError
from cryoray.pipelines.entry import ingest_entry
from cryoray.pipelines.ingest_config import IngestConfig
from cryoray.pipelines.manifest import ManifestRow, read_manifest
from cryoray.pipelines.splits import assign_splits
from cryoray.runtime import Progress, ensure_ray
from cryoray.store import StoreWriter, SubgridStore

__all__ = ["run_ingest"]
log = logging.getLogger(__name__)


def _task(item: dict, *, config_json: str, store_url: str) -> dict:
    """Ray Data map function: one entry; never raises, so one bad entry cannot stop the run."""
    row = ManifestRow.model_validate_json(item["row"])
    config = IngestConfig.model_validate_json(config_json)
    try:
        return {"ok": True, "error": "", "reason": "", **ingest_entry(row, config, store_url, config.layout())}
    except InputError as exc:
        return {"ok": False, "entry_id": row.entry_id, "error": type(exc).__name__, "reason": exc.reason}
    except Exception as exc:
        logging.getLogger(__name__).error("internal error on %s:\n%s", row.entry_id, traceback.format_exc())
        return {
            "ok": False,
            "entry_id": row.entry_id,
            "error": "InternalError",
            "reason": f"{type(exc).__name__}: {exc}",
        }


def run_ingest(
    manifest: str,
    store_url: str,
    config: IngestConfig,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: bool = True,
) -> dict[str, object]:
    """Ingest every entry of ``manifest`` not yet in the store at ``store_url``; return a report.

    ``progress`` shows entries done and quarantined of all, rate and ETA on stderr.
    """
    t0 = time.perf_counter()
    rows = read_manifest(manifest)
    with StoreWriter(store_url, config.layout()) as writer:
        done = set(writer.committed)
        todo = [r for r in rows if r.entry_id not in done]
        log.info("ingest: %d entries, %d already in the store, %d to do", len(rows), len(rows) - len(todo), len(todo))
        with Progress("ingest", len(todo), unit="entries", enabled=progress and bool(todo)) as shown:
            ok = _ingest_entries(writer, todo, store_url, config, shown, address, num_cpus)
        store = SubgridStore.open(store_url)
        if store.entries:
            meta = {e: store.entry_metadata(e) for e in store.entries}
            method, assignment = assign_splits(
                {e: m["resolution"] for e, m in meta.items()},
                {e: [s["sequence"] for s in m["sequences"]] for e, m in meta.items()},
                config.splits,
            )
            writer.set_splits(method, assignment)
    store = SubgridStore.open(store_url)
    return {
        "store": store_url,
        "ingested": ok,
        "skipped_already_done": sorted(done & {r.entry_id for r in rows}),
        "quarantined": store.attrs["quarantine"],
        "n_entries": len(store.entries),
        "n_subgrids": len(store.index),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _ingest_entries(
    writer: StoreWriter,
    todo: list[ManifestRow],
    store_url: str,
    config: IngestConfig,
    shown: Progress,
    address: str | None,
    num_cpus: int | None,
) -> list[str]:
    """One Ray task per entry; commit or quarantine each as results stream in. Returns the committed ids."""
    ok: list[str] = []
    failed: list[str] = []
    if not todo:
        return ok
    ensure_ray(address, num_cpus)
    items = [{"row": r.model_dump_json()} for r in todo]
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    results = dataset.map(
        partial(_task, config_json=config.model_dump_json(), store_url=store_url),
        num_cpus=config.cpus_per_entry,
    )
    for result in results.iter_rows():
        entry_id = result["entry_id"]
        if result["ok"]:
            writer.commit(entry_id)
            ok.append(entry_id)
            log.info(
                "ingest: %s: %d of %d boxes kept, %.1f s",
                entry_id,
                result["n_subgrids"],
                result["n_boxes_total"],
                result["seconds"],
            )
        else:
            writer.quarantine(entry_id, result["error"], result["reason"])
            failed.append(entry_id)
            log.warning("ingest: %s quarantined: %s: %s", entry_id, result["error"], result["reason"])
        shown.update(len(ok) + len(failed), quarantined=len(failed))
    return ok
