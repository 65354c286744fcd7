"""Benchmarks over test sets: predict a manifest, evaluate every map and model the same way, summarise.

* :func:`run_benchmark` (``run.py``): batch inference of the models over the manifest, then one
  Ray task per entry, results written under the output prefix (and optionally into MLflow);
* :func:`evaluate_entry` (``entry.py``): an entry's deposited map, baselines, predicted maps and
  built model, each evaluated in the field's terms;
* :func:`write_results` (``results.py``): ``results.csv``, ``summary.md``, paired plots.
"""

from __future__ import annotations

from cryoray.benchmark.entry import BASELINES, evaluate_entry
from cryoray.benchmark.results import write_results
from cryoray.benchmark.run import run_benchmark

__all__ = ["BASELINES", "evaluate_entry", "run_benchmark", "write_results"]
