"""Finish tasks (Ray CPU tasks): an entry's stitched maps back on its input's grid, and its model, written.

An output that cannot be written comes back as an :class:`EntryFailure` (not the input's
fault), so the driver lists the entry with its reason; a file an earlier, failed run left is
overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cryoray.errors import InputError
from cryoray.infer.batch.entries import EntryFailure
from cryoray.infer.channels import OutputChannel
from cryoray.infer.frame import to_source_frame
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.io.mrc import write_map
from cryoray.modelbuild import write_model
from cryoray.modelbuild.threading import ThreadingResult

__all__ = ["MODEL_REPORT", "write_maps", "write_threaded_model"]

#: what of a threaded model's report goes into the entry's summary
MODEL_REPORT = ("chains", "residues", "placed", "unplaced")


def write_maps(
    entry_id: str,
    data: np.ndarray,
    channels: Sequence[OutputChannel],
    frame: GridFrame,
    source_frame: GridFrame,
    urls: Sequence[str],
    float16: bool,
) -> EntryFailure | None:
    """Each stitched channel (``data[i]`` on ``frame``) back onto ``source_frame``, written to ``urls[i]``."""
    try:
        for values, channel, url in zip(data, channels, urls, strict=True):
            prepared = DensityMap(np.asarray(values), frame, labels=(f"cryoray predict-batch {channel.name}",))
            out = to_source_frame(prepared, source_frame, order=1 if channel.classification else 3)
            write_map(url, out, overwrite=True, float16=float16)
    except InputError as exc:
        return EntryFailure.of(entry_id, exc, input_stage=False)
    return None


def write_threaded_model(entry_id: str, result: ThreadingResult, url: str) -> dict[str, object] | EntryFailure:
    """Write a threaded model; returns its report for the entry's summary."""
    try:
        write_model(url, result, overwrite=True)
    except InputError as exc:
        return EntryFailure.of(entry_id, exc, input_stage=False)
    report = result.to_dict()
    return {k: report[k] for k in MODEL_REPORT if k in report}
