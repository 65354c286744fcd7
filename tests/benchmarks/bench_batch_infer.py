"""Benchmark: batch inference over every real map in ../shared/data/real, in entries/min.

    .venv/bin/python tests/benchmarks/bench_batch_infer.py [--cpus 2] [--build]

A tiny random-weight SegFormer3D (32³ boxes, atom + amino-acid heads, as tests/infer) on a
local Ray instance with one predictor actor; each entry writes its P(Cα) map on the input's
grid (with --build, entries with a FASTA also get a threaded model). Maps that cannot be read
(EMD-3001: non-orthogonal cell) are listed as failed, as in any run. Prints the run report.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REAL = REPO.parent / "shared" / "data" / "real"
sys.path.insert(0, str(REPO))


def manifest_of_real_maps(path: Path) -> Path:
    lines = ["entry_id,map,sequence"]
    for folder in sorted(p for p in REAL.iterdir() if p.is_dir()):
        maps = sorted(
            m
            for m in folder.iterdir()
            if m.name.endswith((".mrc", ".map", ".mrc.gz", ".map.mrc")) and "mask" not in m.name
        )
        fasta = sorted(folder.glob("*.fasta"))
        for m in maps:
            entry = folder.name.split("_")[0] + ("" if len(maps) == 1 else "-" + m.name.split(".")[0])
            lines.append(f"{entry},{m},{fasta[0] if fasta else ''}")
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--build", action="store_true", help="also thread models for entries with a FASTA")
    args = parser.parse_args()
    import ray

    from cryoray.infer.batch import run_batch_inference
    from cryoray.infer.batch_config import BatchInferConfig
    from tests.infer.conftest import CE, TINY_SEGFORMER, write_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        targets = {"atom": {"label": "atom", "loss": CE}, "amino_acid": {"label": "amino_acid", "loss": CE}}
        checkpoint = write_checkpoint(tmp_path / "ckpt", TINY_SEGFORMER, targets)
        manifest = manifest_of_real_maps(tmp_path / "manifest.csv")
        config = BatchInferConfig.model_validate(
            {
                "models": [str(checkpoint)],
                "infer": {"batch_size": 32, "device": "cpu"},
                "outputs": {"maps": ["atom_CA"], "model": args.build},
                "build": {"candidates": {"threshold": 0.26}},
                "actors": {"cpus_per_predictor": 1, "read_cpus": 0.5, "finish_cpus": 0.25, "alignment_cpus": 0.25},
            }
        )
        ray.init(num_cpus=args.cpus, log_to_driver=False)
        try:
            report = run_batch_inference(str(manifest), str(tmp_path / "out"), config)
        finally:
            ray.shutdown()
        print(
            json.dumps(
                {k: report[k] for k in ("n_entries", "n_done", "n_failed", "seconds", "entries_per_minute", "failed")},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
