"""Batch inference over a manifest of maps on Ray Data: enhanced maps, probability maps, models.

The pipeline, per run::

    entries (Ray Data, one block each)
      └ flat_map  tile_entry       CPU task (reading.py): read (local, s3://, http), prepare (1 Å,
      │                            normalise), cut into boxes; one row per box (entry id, origin,
      │                            box, meta: a typed EntryMeta, or an EntryFailure; entries.py)
      └ map_batches PredictActor   actor pool (predicting.py; ``actors.predictors``, ``num_gpus``
      │                            per actor on a GPU cluster): ``infer.batch_size`` boxes per
      │                            forward pass, boxes of several entries share a batch
      └ iter_batches (Driver)      driver.py: one Stitcher per entry in flight; when an entry's last box
                                   arrives: a CPU task (writing.py) puts its maps back on the
                                   input's grid and writes them; Cα candidates are clustered and
                                   threaded on the AlignmentPool (CPU actors), then a CPU task
                                   writes the model; the entry's ``summary.json`` is written last.

``pipeline.py`` assembles a run (models checked on the driver, channels planned, one
:class:`~cryoray.infer.Recipe` for every entry) and writes its report; ``locations.py`` holds
the output layout. Preparation, channels and candidates → states are the inference core's, as
in the CLI and Serve.

Why stitching sits in the driver: the boxes of one entry must meet in one place, and in this
Ray version a ``groupby`` is an all-to-all shuffle that materialises every prediction before
the first group runs; streaming rows back through ``iter_batches`` keeps the pipeline
streaming and bounded. Stitching is cheap (adds into running sums of open z-sections); the
heavy steps (reading, resampling, prediction, resampling back, writing, threading) run in Ray
tasks and actors. Memory: Ray Data's backpressure bounds the boxes in flight; each entry in
flight holds its open sections plus its dense outputs (memory-mapped in a scratch folder) and
Cα candidates only, never whole probability maps for model building.

Outputs, under the output prefix (local folder or ``s3://``)::

    ENTRY/NAME.mrc         one map per output channel (``outputs.maps``), on the input's grid
    ENTRY/model.cif        Cα model, for entries with a sequence (``outputs.model``)
    ENTRY/summary.json     written last: its presence means the entry is done
    run_summary.json       this run: done, skipped, failed, timings
    failures.json          entries that failed: error type, reason, and ``input_fault`` (False:
                           not the entry's input's fault, e.g. an output that cannot be written)

Every file appears whole or not at all (temporary name then rename, or one upload). A re-run
skips entries with a ``summary.json`` and retries the failed ones. A failing entry (missing or
corrupt map, bad sequence, no Cα candidates) is listed with its reason; the others complete.
Progress (entries finished and failed of those to do, rate, ETA) goes to stderr through
:class:`cryoray.runtime.progress.Progress`.
"""

from cryoray.infer.batch.locations import SUMMARY, done_entries
from cryoray.infer.batch.pipeline import run_batch_inference

__all__ = ["SUMMARY", "done_entries", "run_batch_inference"]
