"""One entry's ingest work: read, prepare, label, tile, write. Pure library code, no Ray.

Memory is bounded by the entry's prepared grid (a handful of arrays of its size) plus one
chunk of sub-grids, never by the dataset.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from cryoray.errors import EmptyModelError, MapValueError, ModelPlacementError, SourceError
from cryoray.io.density_map import DensityMap
from cryoray.io.models import AtomicModel, AtomTable, read_model
from cryoray.io.mrc import read_map
from cryoray.io.sequences import model_sequences, read_fasta
from cryoray.io.sources import READ_ERRORS, open_binary
from cryoray.labels import (
    CRYORES_LABEL_KINDS,
    amino_acid_labels,
    atom_labels,
    atom_type_labels,
    ca_heatmap,
    cryores_grids,
    denoise_class_labels,
    denoise_regression_target,
    secondary_structure,
    secondary_structure_labels,
    simulate_map,
)
from cryoray.labels.embeddings import Embedder, build_embedder, embed_model
from cryoray.labels.simulate import RESOLUTION_RANGE
from cryoray.pipelines.ingest_config import IngestConfig
from cryoray.pipelines.manifest import ManifestRow
from cryoray.preprocessing import prepare_map
from cryoray.preprocessing.tiling import box_origins
from cryoray.store.writer import EntryGrids, StoreLayout, write_entry

__all__ = ["build_entry", "ingest_entry", "sha256_of"]

T = TypeVar("T")


def _retry(call: Callable[[], T], attempts: int, delay: float) -> T:
    """Run ``call``, retrying only failures to reach a source (network), with growing delays."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except SourceError:
            if attempt == attempts:
                raise
            time.sleep(delay * attempt)
    raise AssertionError("unreachable")


def sha256_of(source: str) -> str:
    """SHA-256 of a source's decompressed bytes: equal for the same file on disk, S3 or HTTP, gzip or not."""
    digest = hashlib.sha256()
    with open_binary(source) as stream:
        try:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        except READ_ERRORS as exc:
            raise SourceError(source, f"cannot read: {exc}") from exc
    return digest.hexdigest()


def _half_maps(row: ManifestRow, config: IngestConfig) -> list[DensityMap]:
    """The entry's two half maps (for CryoRes's relative resolution label)."""
    if row.half_map_1 is None or row.half_map_2 is None:
        raise MapValueError(row.map, "label relative_resolution needs the entry's half maps (half_map_1, half_map_2)")
    return [
        _retry(lambda path=path: read_map(path), config.retries, config.retry_delay)
        for path in (row.half_map_1, row.half_map_2)
    ]


def _label_grids(
    model: AtomicModel, atoms: AtomTable, density: DensityMap, config: IngestConfig, row: ManifestRow
) -> tuple[dict, str]:
    resolution = row.resolution
    frame = density.frame
    kinds = set(config.labels)
    grids: dict[str, np.ndarray] = {}
    ss_source = "none"
    if "atom" in kinds:
        grids["atom"] = atom_labels(frame, atoms)
    if "amino_acid" in kinds:
        grids["amino_acid"] = amino_acid_labels(frame, atoms, config.amino_acid_radius)
    if "secondary_structure" in kinds:
        codes, ss_source = secondary_structure(model, config.secondary_structure)
        grids["secondary_structure"] = secondary_structure_labels(frame, atoms, codes)
    if "atom_type" in kinds:
        grids["atom_type"] = atom_type_labels(frame, atoms)
    if "ca_heatmap" in kinds:
        grids["ca_heatmap"] = ca_heatmap(frame, atoms)
    if "denoise_class" in kinds:
        grids["denoise_class"] = denoise_class_labels(frame, atoms, config.denoise_radius)
    if kinds & {"denoise_regression", "simulated"}:
        # never sharper than the simulation's range allows (0.5 Å), whatever the entry's resolution
        target = max(RESOLUTION_RANGE[0], min(RESOLUTION_RANGE[1], resolution * config.simulated_resolution_scale))
        simulated = simulate_map(atoms, frame, target)
        if "simulated" in kinds:
            grids["simulated"] = simulated.data
        if "denoise_regression" in kinds:
            grids["denoise_regression"] = denoise_regression_target(simulated, atoms, config.denoise_radius)
    cryores = [kind for kind in CRYORES_LABEL_KINDS if kind in kinds]
    if cryores:
        halves = _half_maps(row, config) if "relative_resolution" in cryores else None
        source = row.half_map_2 or "second half map"
        grids.update(cryores_grids(cryores, atoms, frame, resolution, halves, source=source))
    return grids, ss_source


def _kept(origins: np.ndarray, grids: dict, atom_voxels: np.ndarray, config: IngestConfig) -> np.ndarray:
    """Boolean per box: survives the skip rule (see storage_schemas/subgrid_store.v1.md)."""
    if config.skip_rule == "none":
        return np.ones(len(origins), dtype=bool)
    tiling = config.tiling_spec()
    lo = tiling.margin
    kept = tiling.core if tiling.core is not None else tiling.box
    source = atom_voxels if config.skip_rule == "no-atoms" else grids["input"] > 0
    out = np.zeros(len(origins), dtype=bool)
    shape = np.asarray(source.shape)
    for i, origin in enumerate(origins):
        a = np.maximum(origin + lo, 0)
        b = np.minimum(origin + lo + kept, shape)
        if np.all(b > a):
            out[i] = bool(source[a[0] : b[0], a[1] : b[1], a[2] : b[2]].any())
    return out


_embedders: dict[str, Embedder] = {}  # one per embedding setting and process (ESM-IF1 loads once)


def _embedder(config: IngestConfig) -> Embedder:
    key = config.embedding.model_dump_json()
    if key not in _embedders:
        _embedders[key] = build_embedder(config.embedding)
    return _embedders[key]


def build_entry(row: ManifestRow, config: IngestConfig) -> tuple[dict, EntryGrids]:
    """Read, prepare and label one entry; return its store metadata and grids (nothing written).

    Raises:
        InputError subclasses for bad sources (the caller quarantines the entry).
    """
    attempts, delay = config.retries, config.retry_delay
    density = _retry(lambda: read_map(row.map), attempts, delay)
    model = _retry(lambda: read_model(row.model), attempts, delay)
    prepared, record = prepare_map(density, config.prepare, source=row.map)
    atoms = model.atoms()
    ca = atoms.xyz[atoms.is_ca]
    if len(ca) == 0:
        raise EmptyModelError(row.model, "model has no amino-acid CA atoms")
    inside = prepared.frame.contains(ca).mean()
    if inside < config.min_fraction_inside:
        raise ModelPlacementError(
            row.model, f"only {inside:.0%} of CA atoms lie in the map (need {config.min_fraction_inside:.0%})"
        )
    sequences = _retry(lambda: read_fasta(row.sequence), attempts, delay) if row.sequence else model_sequences(model)
    grids, ss_source = _label_grids(model, atoms, prepared, config, row)
    grids["input"] = prepared.data
    atom_voxels = np.zeros(prepared.frame.shape, dtype=bool)
    index = prepared.frame.nearest_voxel(atoms.xyz)
    index = index[prepared.frame.contains_index(index)]
    atom_voxels[index[:, 0], index[:, 1], index[:, 2]] = True
    origins = box_origins(prepared.frame.shape, config.tiling_spec())
    kept = _kept(origins, grids, atom_voxels, config)
    metadata = {
        "entry_id": row.entry_id,
        "emdb_id": row.entry_id if row.entry_id.upper().startswith("EMD-") else None,
        "pdb_id": model.structure.name or None,
        "resolution": float(row.resolution),
        "source_frame": density.frame.to_dict(),
        "frame": prepared.frame.to_dict(),
        "normalization": record.normalization.to_dict(),  # IngestConfig requires normalising
        "n_subgrids": int(kept.sum()),
        "n_boxes_total": len(origins),
        "checksums": {
            "map": _retry(lambda: sha256_of(row.map), attempts, delay),
            "model": _retry(lambda: sha256_of(row.model), attempts, delay),
            "sequence": _retry(lambda: sha256_of(row.sequence), attempts, delay) if row.sequence else None,
        },
        "secondary_structure_source": ss_source,
        "sequences": [{"name": s.name, "sequence": s.sequence, "chains": list(s.chains)} for s in sequences],
    }
    embedding = None if config.embedding is None else embed_model(_embedder(config), model, atoms, sequences)
    return metadata, EntryGrids(origins=origins[kept], grids=grids, embedding=embedding)


def ingest_entry(row: ManifestRow, config: IngestConfig, store_url: str, layout: StoreLayout) -> dict:
    """Build one entry and write it (uncommitted) into the store; returns a small summary."""
    t0 = time.perf_counter()
    metadata, grids = build_entry(row, config)
    write_entry(store_url, layout, row.entry_id, metadata, grids)
    return {
        "entry_id": row.entry_id,
        "n_subgrids": metadata["n_subgrids"],
        "n_boxes_total": metadata["n_boxes_total"],
        "grid_shape": metadata["frame"]["shape"],
        "seconds": round(time.perf_counter() - t0, 2),
    }
