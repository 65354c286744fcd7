"""Finish tasks (Ray CPU tasks): an entry's slabs merged, its maps back on its input's grid, and its model, written.

An output that cannot be written comes back as an :class:`EntryFailure` (not the input's
fault), so the driver lists the entry with its reason; a file an earlier, failed run left is
overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cryoray.errors import InputError
from cryoray.infer.batch.entries import EntryFailure, EntryMeta
from cryoray.infer.batch.partials import SlabResult, load_candidates, open_slab_maps, remove_partials
from cryoray.infer.candidates import clustered_states
from cryoray.infer.channels import AMINO_ACIDS, OutputChannel
from cryoray.infer.frame import to_source_frame
from cryoray.io.density_map import DensityMap
from cryoray.io.mrc import write_map
from cryoray.modelbuild import BuildConfig, HmmStates, write_model
from cryoray.modelbuild.threading import ThreadingResult

__all__ = ["MODEL_REPORT", "FinishedMaps", "finish_entry", "write_threaded_model"]

#: what of a threaded model's report goes into the entry's summary
MODEL_REPORT = ("chains", "residues", "placed", "unplaced")


@dataclass(frozen=True)
class FinishedMaps:
    """An entry's maps written; its clustered Cα candidates when a model is to be built."""

    states: HmmStates | None
    candidates: int | None


def finish_entry(
    entry_id: str,
    meta: EntryMeta,
    slabs: Sequence[SlabResult],
    output: str,
    channels: Sequence[OutputChannel],
    urls: Sequence[str],
    float16: bool,
    build: BuildConfig | None,
) -> FinishedMaps | EntryFailure:
    """Merge an entry's slabs: each map channel (one at a time) back onto the input's grid and
    written to ``urls``; the candidates clustered into HMM states (``build``, for entries with a
    sequence). The slab files are removed either way."""
    slabs = sorted(slabs, key=lambda r: r.slab.index)
    try:
        try:
            if urls:
                with open_slab_maps([r.maps for r in slabs]) as parts:
                    for c, (channel, url) in enumerate(zip(channels, urls, strict=True)):
                        values = np.concatenate([part[c] for part in parts])
                        prepared = DensityMap(values, meta.frame, labels=(f"cryoray predict-batch {channel.name}",))
                        out = to_source_frame(prepared, meta.source_frame, order=1 if channel.classification else 3)
                        write_map(url, out, overwrite=True, float16=float16)
        except InputError as exc:
            return EntryFailure.of(entry_id, exc, input_stage=False)
        if build is None or meta.sequence is None:
            return FinishedMaps(None, None)
        sink = load_candidates([r.candidates for r in slabs], AMINO_ACIDS)
        try:
            states, n_candidates = clustered_states(sink, meta.frame, build, source=entry_id)
        except InputError as exc:  # no voxel above the threshold: nothing to build from
            return EntryFailure.of(entry_id, exc, input_stage=True)
        return FinishedMaps(states, n_candidates)
    finally:
        remove_partials(output, entry_id)


def write_threaded_model(entry_id: str, result: ThreadingResult, url: str) -> dict[str, object] | EntryFailure:
    """Write a threaded model; returns its report for the entry's summary."""
    try:
        write_model(url, result, overwrite=True)
    except InputError as exc:
        return EntryFailure.of(entry_id, exc, input_stage=False)
    report = result.to_dict()
    return {k: report[k] for k in MODEL_REPORT if k in report}
