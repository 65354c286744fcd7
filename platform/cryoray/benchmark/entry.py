"""One test entry's evaluation (a Ray task): the deposited map, its baselines, each predicted map, the built model.

Every map is evaluated the same way (:func:`~cryoray.evaluation.evaluate_map`: map–model FSC,
CC_box/mask/volume/peaks, Q-scores against the entry's deposited model at its resolution; the
half-map FSC for the deposited map when the entry has half maps), so the rows of one entry
compare directly. A built model is compared with the deposited one
(:func:`~cryoray.modelbuild.compare_models`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from cryoray.evaluation import evaluate_map
from cryoray.infer.batch.entries import EntryFailure
from cryoray.infer.batch.locations import join
from cryoray.io import read_map
from cryoray.io.density_map import DensityMap
from cryoray.io.models import AtomicModel, read_model
from cryoray.modelbuild import compare_models, read_chains
from cryoray.modelbuild.output import model_structure
from cryoray.modelbuild.peaks import build_from_peaks
from cryoray.pipelines.manifest import ManifestRow
from cryoray.preprocessing.filters import lowpass

__all__ = ["BASELINES", "BUILT", "DEPOSITED", "MODEL_BASELINES", "evaluate_entry"]

DEPOSITED = "deposited"
BUILT = "built model"
#: no-network maps made from the deposited one, by name: what a network's map must beat
BASELINES: dict[str, Callable[[DensityMap, float], DensityMap]] = {"lowpass": lowpass}
#: the no-network model building a network's built model must beat (entries with a sequence)
MODEL_BASELINES = ("peaks",)
#: what of a model comparison goes into the results
MODEL_COLUMNS = (
    "ca_recall",
    "ca_precision",
    "ca_f1",
    "residue_coverage",
    "sequence_match",
    "sequence_recall",
    "tm_score",
)


def _map_row(entry_id: str, kind: str, density: DensityMap, row: ManifestRow, atoms, halves) -> dict[str, object]:
    start = time.perf_counter()
    evaluation = evaluate_map(
        density, atoms=atoms, half_maps=halves, resolution=row.resolution, sources={"map": kind, "model": row.model}
    )
    return {
        "entry_id": entry_id,
        "kind": kind,
        **evaluation.summary(),
        "seconds": round(time.perf_counter() - start, 2),
    }


def _model_row(row: ManifestRow, kind: str, model: AtomicModel, start: float) -> dict[str, object]:
    scores = compare_models(model, read_model(row.model)).to_dict()
    return {"entry_id": row.entry_id, "kind": kind, **{k: scores[k] for k in MODEL_COLUMNS}} | {
        "seconds": round(time.perf_counter() - start, 2)
    }


def evaluate_entry(
    row: ManifestRow, predictions: str | None, maps: Sequence[str], baselines: Sequence[str], built: bool
) -> list[dict[str, object]] | EntryFailure:
    """The entry's result rows (one per map kind, and one for its built model), or why it failed.

    Args:
        row: the manifest row (map, deposited model, resolution, optional half maps).
        predictions: the predict-batch output prefix (``ENTRY/NAME.mrc``, ``ENTRY/model.cif``), if any.
        maps: the predicted maps to evaluate, by output name (their kind is ``enhanced:NAME``).
        baselines: names in :data:`BASELINES` (maps) or :data:`MODEL_BASELINES` (``peaks``: a
            model built from density peaks, :func:`~cryoray.modelbuild.peaks.build_from_peaks`,
            for entries with a sequence; kind ``built model (peaks)``).
        built: compare the entry's built model (its ``model.cif``) with the deposited one.
    """
    stage = "input"
    try:
        density = read_map(row.map)
        atoms = read_model(row.model).atoms()
        halves = None
        if row.half_map_1 and row.half_map_2:
            halves = (read_map(row.half_map_1), read_map(row.half_map_2))
        results = [_map_row(row.entry_id, DEPOSITED, density, row, atoms, halves)]
        for name in baselines:
            if name in BASELINES:
                results.append(_map_row(row.entry_id, name, BASELINES[name](density, row.resolution), row, atoms, None))
            elif row.sequence:
                start = time.perf_counter()
                peaks = build_from_peaks(density, read_chains(row.sequence), source=row.map)
                model = AtomicModel(model_structure(peaks.result), f"{row.entry_id} peaks")
                results.append(_model_row(row, f"{BUILT} ({name})", model, start))
        stage = "predictions"
        for name in maps:
            predicted = read_map(join(predictions, row.entry_id, f"{name}.mrc"))
            results.append(_map_row(row.entry_id, f"enhanced:{name}", predicted, row, atoms, None))
        if built:
            start = time.perf_counter()
            results.append(_model_row(row, BUILT, read_model(join(predictions, row.entry_id, "model.cif")), start))
    except Exception as exc:  # listed, not raised: the other entries go on
        return EntryFailure.of(row.entry_id, exc, input_stage=stage == "input")
    return results
