"""Every benchmark script runs: its ``--smoke`` mode exits 0 and prints its numbers, so the scripts never rot.

Each runs as CI would start it, ``python -m tests.benchmarks.bench_NAME --smoke`` from the repository root,
in a fresh process. The numbers are not judged (a shared machine makes them noise); what is checked is
that the report came out, with the outcomes that do not depend on speed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
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


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PRINTS))
def test_smoke_run_prints_its_numbers(name: str) -> None:
    t0 = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", f"tests.benchmarks.{name}", "--smoke"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=420,
    )
    output = run.stdout + run.stderr
    print(f"{name} --smoke: {time.perf_counter() - t0:.0f} s")
    assert run.returncode == 0, output[-3000:]
    missing = [pattern for pattern in PRINTS[name] if not re.search(pattern, run.stdout)]
    assert not missing, f"{name} --smoke did not print {missing}:\n{run.stdout[-3000:]}"
