"""Batch inference over a manifest of maps on Ray Data: enhanced maps, probability maps, models.

The pipeline, per run; entries flow through it whole, and the driver sees no voxels::

    entries (Ray Data, one block each)
      └ flat_map  read_entry       CPU task (reading.py): read (local, s3://, http), prepare (1 Å,
      │                            normalise); one row per slab (the whole map unless it is larger
      │                            than ``actors.slab_voxels``), with the input sections it needs
      └ map_batches PredictActor   actor pool (predicting.py; ``actors.predictors``, ``num_gpus``
      │                            per actor on a GPU cluster): per slab, boxes cut
      │                            ``infer.batch_size`` at a time, predicted and stitched as they
      │                            come into a memory-mapped file and a Cα candidate sink, both
      │                            saved under ``OUTPUT/.partial/`` (partials.py)
      └ iter_batches (Driver)      driver.py: one small record per slab; when an entry's slabs are
                                   all in, a CPU task (writing.py) merges them, puts the maps back
                                   on the input's grid, writes them and clusters the candidates;
                                   the states are threaded on the AlignmentPool (CPU actors), a CPU
                                   task writes the model; the entry's ``summary.json`` is last.

``pipeline.py`` assembles a run (models checked on the driver, channels planned, one
:class:`~cryoray.infer.Recipe` for every entry) and writes its report; ``locations.py`` holds
the output layout. Preparation, channels and candidates → states are the inference core's, as
in the CLI and Serve.

Why slabs meet in files, not in the driver or a shuffle: the boxes of an entry must meet in one
place. An actor that stitches a whole slab is that place, with about one box depth of
z-sections open; the slabs of a large map are merged by its finish task from storage that
every node reaches (the output prefix), since a ``groupby`` in this Ray version is an
all-to-all shuffle that materialises everything first, and streaming voxels back through the
driver made one process the ceiling of the whole cluster. Memory: per actor, one slab's input
plus a batch of boxes and the open sections; per finish task, one channel of one map at a time.

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
