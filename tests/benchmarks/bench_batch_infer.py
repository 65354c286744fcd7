"""Benchmark: batch inference over every real map in ../shared/data/real, in entries/min.

    .venv/bin/python -m tests.benchmarks.bench_batch_infer [--cpus 2] [--build] [--entries ID ...] [--smoke]

(from the repository root; ``--smoke``: EMD-21457's segment (~50³ Å, with a FASTA) and EMD-3001 (fails), with
model building).

A tiny random-weight SegFormer3D (32³ boxes, atom + amino-acid heads, as tests/infer) on a
local Ray instance with one predictor actor; each entry writes its P(Cα) map on the input's
grid (with --build, entries with a FASTA also get a threaded model). Maps that cannot be read
(EMD-3001: non-orthogonal cell) are listed as failed, as in any run. Prints the run report.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from tests.benchmarks.common import parse_args
from tests.support.data import REAL
from tests.support.models import write_segment_checkpoint


def manifest_of_real_maps(path: Path, entries: list[str] | None = None) -> Path:
    """A batch manifest (``entry_id,map,sequence``) of the real maps, or of those named in ``entries``."""
    rows = []
    for folder in sorted(p for p in REAL.iterdir() if p.is_dir()):
        maps = sorted(
            m
            for m in folder.iterdir()
            if m.name.endswith((".mrc", ".map", ".mrc.gz", ".map.mrc")) and "mask" not in m.name
        )
        fasta = sorted(folder.glob("*.fasta"))
        for m in maps:
            entry = folder.name.split("_")[0] + ("" if len(maps) == 1 else "-" + m.name.split(".")[0])
            if entries is None or entry in entries:
                rows.append(f"{entry},{m},{fasta[0] if fasta else ''}")
    if entries is not None and len(rows) != len(entries):
        raise SystemExit(f"--entries: {len(rows)} of {entries} found in {REAL}")
    path.write_text("\n".join(["entry_id,map,sequence", *rows]) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--build", action="store_true", help="also thread models for entries with a FASTA")
    parser.add_argument("--entries", nargs="+", help="only these entries (as the manifest names them)")
    args = parse_args(parser, {"entries": ["EMD-21457-emd_21457_seg", "EMD-3001"], "build": True})
    import ray

    from cryoray.infer.batch import run_batch_inference
    from cryoray.infer.batch_config import BatchInferConfig

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        checkpoint = write_segment_checkpoint(tmp_path / "ckpt")
        manifest = manifest_of_real_maps(tmp_path / "manifest.csv", args.entries)
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
