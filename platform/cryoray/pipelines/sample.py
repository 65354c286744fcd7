"""The main job on the bundled sample: info -> fit -> prepare -> resample back -> pictures -> ingest.

It grows with the platform (ingest, training and model building join as they land). Every
output lands in one run directory; ``summary.json`` holds the numbers.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from cryoray.io import read_map, write_map
from cryoray.io.models import read_model
from cryoray.io.mrc import read_map_with_header
from cryoray.metrics import fit_check
from cryoray.pipelines.entry import ingest_entry
from cryoray.pipelines.ingest import run_ingest
from cryoray.pipelines.ingest_config import IngestConfig
from cryoray.pipelines.manifest import ManifestRow
from cryoray.preprocessing import PrepareConfig, contour_mask, prepare_map, resample, resample_onto
from cryoray.sample import SampleEntry, haemoglobin
from cryoray.store import StoreWriter, store_info
from cryoray.viz import save_slices

__all__ = ["ingest_sample_in_process", "run_sample_pipeline"]
log = logging.getLogger(__name__)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def ingest_sample_in_process(url: Path) -> Path:
    """The sample as a sub-grid store at ``url`` (default ingest settings), without Ray: for tests
    and benchmarks that need a real store fast."""
    entry, config = haemoglobin(), IngestConfig()
    row = ManifestRow(
        entry_id=entry.entry_id,
        map=str(entry.map),
        model=str(entry.model),
        sequence=str(entry.sequence),
        resolution=entry.resolution,
    )
    with StoreWriter(str(url), config.layout()) as writer:
        ingest_entry(row, config, str(url), config.layout())
        writer.commit(entry.entry_id)
    return url


def _ingest_sample(entry: SampleEntry, out: Path, num_cpus: int | None) -> dict[str, object]:
    """Ingest the sample into ``out/sample.zarr`` (made anew) on local Ray; return store info."""
    manifest = out / "manifest.csv"
    manifest.write_text(
        "entry_id,map,model,sequence,resolution\n"
        f"{entry.entry_id},{entry.map},{entry.model},{entry.sequence},{entry.resolution}\n"
    )
    store = out / "sample.zarr"
    shutil.rmtree(store, ignore_errors=True)
    run_ingest(str(manifest), str(store), IngestConfig(), num_cpus=num_cpus)
    info = store_info(store)
    return {k: info[k] for k in ("n_entries", "n_subgrids", "bytes_on_disk", "tiling", "quarantine")}


def run_sample_pipeline(
    outdir: str | os.PathLike, *, entry: SampleEntry | None = None, num_cpus: int | None = None
) -> dict[str, object]:
    """Run every stage that exists on the sample entry and write results to ``outdir``."""
    entry = entry or haemoglobin()
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    log.info("[1/6] reading %s", entry.map.name)
    header, density = read_map_with_header(entry.map)
    model = read_model(entry.model)
    log.info("[2/6] fit check of %s in %s (and a 20 Å shifted copy)", entry.pdb_id, entry.entry_id)
    fit = fit_check(density, model)
    fit_shifted = fit_check(density, model.translated((20.0, 0.0, 0.0)))

    log.info("[3/6] preparing: 1 Å grid, 95th-percentile normalisation")
    config = PrepareConfig()
    prepared, record = prepare_map(density, config, source=entry.map)
    write_map(out / "prepared.mrc", prepared, overwrite=True)
    fit_prepared = fit_check(prepared, model)

    log.info("[4/6] resampling back onto the original grid")
    resampled = resample(density, config.voxel_size, order=config.order)  # the prepared grid, not normalised
    back = resample_onto(resampled, density.frame, order=config.order)
    write_map(out / "resampled_back.mrc", back, overwrite=True)
    molecule = contour_mask(read_map(entry.contour_mask), entry.contour, density.frame)

    log.info("[5/6] drawing slices")
    ca = model.ca_xyz()
    save_slices(
        out / "slices.png",
        [("input " + entry.entry_id, density), ("prepared (1 Å, normalised)", prepared), ("resampled back", back)],
        atoms_xyz=ca,
    )
    log.info("[6/6] ingesting the sample into a sub-grid store on local Ray")
    store = _ingest_sample(entry, out, num_cpus)
    summary = {
        "entry": entry.entry_id,
        "model": entry.pdb_id,
        "input": {**header.to_dict(), **density.stats()},
        "fit": fit.to_dict(),
        "fit_model_shifted_20A": fit_shifted.to_dict(),
        "fit_prepared": fit_prepared.to_dict(),
        "prepare": record.to_dict(),
        "roundtrip_correlation": {
            "whole_map": _correlation(back.data, density.data),
            "inside_molecule": _correlation(back.data[molecule], density.data[molecule]),
        },
        "store": store,
        "outputs": ["prepared.mrc", "resampled_back.mrc", "slices.png", "sample.zarr", "summary.json"],
        "seconds": round(time.perf_counter() - t0, 2),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
