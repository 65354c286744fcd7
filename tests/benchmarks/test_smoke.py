"""Every benchmark script runs: its ``--smoke`` mode exits 0 and prints its numbers, so the scripts never rot.

Each runs as CI would start it, ``python -m tests.benchmarks.bench_NAME --smoke`` from the repository root,
in a fresh process. The numbers are not judged (a shared machine makes them noise); what is checked is
that the report came out, with the outcomes that do not depend on speed.

The runs go two at a time (:func:`smoke_runs`): each spends about a third of its time waiting on Ray's
start-up rather than computing (63–69 % of 2 cores busy, measured on bench_learning and bench_sweep),
and two together took 98 s against 133 s one after the other. The benchmarks in :data:`ALONE` answer
requests under a time limit and run with nothing beside them.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.data import REPO

#: benchmark -> patterns its --smoke output must hold
PRINTS = {
    "bench_batch_infer": [
        r'"n_entries": 2, "n_done": 1, "n_failed": 1',
        r'"predictors": 2, "entries": 2',
        r'"size": 64, "voxels": 262144, "slabs": 4',
        r'"driver_cpu_s_per_gvoxel": [\d.]+',
        r'"size": 64, "slabs": 4, "predictors_used": [12]',
    ],
    "bench_build": [r"5ME2 0\.3Å 0%\s+ours\s+736\s+566", r"0%\s+dense\s+736\s+566", r"ours >= dense restart: True"],
    "bench_cryosamu": [
        r'"trained": "structure", "seconds": \d+, "step": 2',
        r'"trained": "ablation"',
        r'"entry": "EMD-21457", "held_out": true, "resolution": 6\.0, .*"cc_mask": \{"input": -?[\d.]+, '
        r'"structure": -?[\d.]+, "no_structure": -?[\d.]+, "ablation": -?[\d.]+\}.*"q_score"',
    ],
    "bench_data_path": [r"baseline\s+local", r"baseline\s+s3", r"S3/local [\d.]+", r"verdict: \{'local_goal_met'"],
    "bench_emdb_manifest": [r'"backend": "local", "entries": 111, "kept": 10\d', r'"backend": "http", "entries": 111'],
    "bench_evaluate": [r'"q_score_all_atoms": [\d.]+', r'"q_mean": 0\.58\d*', r'"peak_rss_mib": \d+'],
    "bench_infer": [r'"seconds_per_box": [\d.]+', r'"output_frame_equals_input": true', r'"extrapolated_loop_seconds"'],
    "bench_ingest": [r"ingest: \{'entries': 2", r"largest entry: \{'grid'", r"npz: \{.*'store_epoch_speedup'"],
    "bench_learning": [r'"val_f1_CA_trained": [\d.]+', r'"val_pcc_trained": -?[\d.]+'],
    "bench_local_resolution": [r'"mode": "mask"', r'"seconds": [\d.]+', r'"peak_rss_mib": \d+'],
    "bench_recipes": [
        r'"trained_on": \["EMD-3488"\]',
        r"EMD-21457 \| built model \(peaks\): F1 0\.47\d seq [\d.]+ .*\| deposited: CC_mask 0\.41\d Q [\d.]+",
    ],
    "bench_serve": [r'"requests_ok": [1-9]\d*', r'"rss_mib_end"'],
    "bench_serve_memory": [r'"peak_within_budget": true', r'"hung": 0', r'"200": [1-9]\d*'],
    "bench_prepare_memory": [r"64³ @ 1\.05 Å -> \[68, 68, 68\] @ 1 Å: peak [\d.]+x the map"],
    "bench_store_scale": [
        r"local\s+1000 entries: commit [\d.]+ ms",
        r"s3\s+1000 entries: commit [\d.]+ ms .* 3\.0\d* requests/commit",
        r"s3: commit at 1000 entries = [\d.]+x the commit at 200",
        r'\{"entries": 1000, "backend": "s3", "commit_ms": [\d.]+, "commit_p50_ms": [\d.]+, "index_ms": [\d.]+, '
        r'"open_s": [\d.]+, "plan_s": [\d.]+',
    ],
    "bench_struc2mapgan": [
        r'"curated_generated": \{"cc_mask": -?[\d.]+, "pcc": -?[\d.]+, "ssim": -?[\d.]+\}',
        r'"curated_simulated": \{"cc_mask": 0\.\d+, "pcc": 0\.\d+, "ssim": 0\.\d+\}',
    ],
    "bench_sweep": [r"sweep wall time \d+ s for 1 trials", r"mean trial start-up [\d.]+ s"],
    "bench_train_overhead": [r"plain PyTorch, 1 process\s+[\d.]+", r"Ray Train overhead, 1 worker vs plain: wall"],
}


def test_every_benchmark_has_a_smoke_run() -> None:
    scripts = {p.stem for p in Path(__file__).parent.glob("bench_*.py")}
    assert len(scripts) >= len(PRINTS), scripts
    assert scripts == set(PRINTS)


#: benchmarks timed against request deadlines: run with no other benchmark beside them
ALONE = frozenset({"bench_serve", "bench_serve_memory"})
#: seconds one --smoke run may take
TIMEOUT_S = 420
#: test order: the pooled runs first, so those run alone start after the pool has drained
ORDER = sorted(set(PRINTS) - ALONE) + sorted(ALONE)


def _smoke(name: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run one benchmark's --smoke as CI would: (the finished process, its wall seconds)."""
    t0 = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", f"tests.benchmarks.{name}", "--smoke"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    return run, time.perf_counter() - t0


@pytest.fixture(scope="module")
def smoke_runs(request) -> Iterator[dict[str, Future]]:
    """The selected smoke runs not in :data:`ALONE`, started two at a time in test order."""
    selected = [
        item.callspec.params["name"]
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec")
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield {name: pool.submit(_smoke, name) for name in selected if name not in ALONE}


@pytest.mark.slow
@pytest.mark.parametrize("name", ORDER)
def test_smoke_run_prints_its_numbers(name: str, smoke_runs: dict[str, Future]) -> None:
    if name in ALONE:
        for other in smoke_runs.values():  # already done in ORDER; not so under -k or reordering plugins
            other.exception()
        run, seconds = _smoke(name)
    else:
        run, seconds = smoke_runs[name].result()
    output = run.stdout + run.stderr
    print(f"{name} --smoke: {seconds:.0f} s")
    assert run.returncode == 0, output[-3000:]
    missing = [pattern for pattern in PRINTS[name] if not re.search(pattern, run.stdout)]
    assert not missing, f"{name} --smoke did not print {missing}:\n{run.stdout[-3000:]}"
