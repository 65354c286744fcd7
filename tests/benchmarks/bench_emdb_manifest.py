"""Benchmark: `cryoray manifest emdb` over a mirror of many entries, local and over HTTP, per entry.

    .venv/bin/python -m tests.benchmarks.bench_emdb_manifest [--entries 2000] [--cpus 2] [--json] [--smoke]

(from the repository root; ``--smoke``: 100 entries).

The mirror: ``--entries`` well-formed EMDB v3 headers (the test mirror's schema elements: single
particle, 3.2 Å, a fitted PDB model, every fifth with half maps) with a small map file each and
the PDB mirror of the real models; served from a local folder and from a local HTTP server
(EMDB's directory layout and index pages). Each entry costs a header read and existence checks
of its map, half maps and model (a GET and HEADs over HTTP). Reported per backend: entries,
seconds (Ray start-up included), entries per second, and the time 45,000 entries would take at
that rate. With ``--json`` the last line is one JSON list of the rows.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from tests.benchmarks.common import parse_args
from tests.support.emdb_mirror import MirrorEntry, build_mirrors, emdb_header
from tests.support.servers import http_server

EMDB_ENTRIES = 45_000


def add_entries(emdb: Path, count: int) -> None:
    """``count`` entries EMD-100000… with headers, a placeholder map (and half maps for every fifth)."""
    for i in range(count):
        entry = MirrorEntry(f"EMD-{100000 + i}", "singleParticle", 3.2, "2021-01-01", 1.05, None, ("5me2",), i % 5 == 0)
        number = entry.entry_id.split("-")[1]
        folder = emdb / entry.entry_id
        (folder / "header").mkdir(parents=True)
        (folder / "header" / f"emd-{number}-v30.xml").write_text(emdb_header(entry), encoding="utf-8")
        (folder / "map").mkdir()
        (folder / "map" / f"emd_{number}.map.gz").write_bytes(b"\x1f\x8b placeholder")
        if entry.half_maps:
            (folder / "other").mkdir()
            for half in (1, 2):
                (folder / "other" / f"emd_{number}_half_map_{half}.map.gz").write_bytes(b"\x1f\x8b placeholder")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parse_args(parser, {"entries": 100})
    import ray

    from cryoray.pipelines.emdb_manifest.entries import EmdbFilters
    from cryoray.pipelines.emdb_manifest.run import run_emdb_manifest

    rows = []
    ray.init(num_cpus=args.cpus, log_to_driver=False, include_dashboard=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            emdb, pdb = build_mirrors(tmp_path / "mirror")
            add_entries(emdb, args.entries)
            with http_server(emdb.parent) as base:
                sources = {"local": (str(emdb), str(pdb)), "http": (f"{base}/structures", f"{base}/pdb")}
                for backend, (source, pdb_mirror) in sources.items():
                    t0 = time.perf_counter()
                    report = run_emdb_manifest(
                        source, str(tmp_path / f"{backend}.csv"), EmdbFilters(), pdb_mirror=pdb_mirror, progress=False
                    )
                    seconds = time.perf_counter() - t0
                    row = {
                        "backend": backend,
                        "entries": report["n_entries"],
                        "kept": report["n_kept"],
                        "rejected": report["n_rejected"],
                        "seconds": round(seconds, 1),
                        "entries_per_s": round(report["n_entries"] / seconds, 1),
                        "hours_for_45k": round(EMDB_ENTRIES / (report["n_entries"] / seconds) / 3600, 2),
                    }
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    finally:
        ray.shutdown()
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
