"""Ingest a manifest of EMDB entries (map, model, sequence) into a sub-grid Zarr store, on Ray Data.

The manifest is CSV with a header (entry_id,map,model,sequence,resolution; JSON lines also
work); sources are paths, s3:// or http(s):// URLs. Bad entries are quarantined with their
reason and the run completes; re-running skips entries already in the store. Settings come from
the `ingest:` section of --config, with flags on top.

Example usage:
  $ cryoray ingest manifest.csv -o dataset.zarr
  $ cryoray ingest manifest.csv -o s3://bucket/dataset.zarr --tiling cryoten-train --config ingest.yaml
  $ cryoray ingest manifest.csv -o samu.zarr --tiling cryoten-train --labels simulated --embedding structure
  $ ray job submit --working-dir . -- python jobs/ingest.py manifest.csv -o s3://bucket/dataset.zarr
"""

from __future__ import annotations

import argparse

from cryoray.cli.output import add_json_flag, emit
from cryoray.config import config_with_overrides
from cryoray.labels.embeddings import EmbeddingConfig
from cryoray.pipelines.ingest import run_ingest
from cryoray.pipelines.ingest_config import IngestConfig
from cryoray.preprocessing.tiling import PRESETS


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", help="CSV or JSON-lines manifest, path or URL")
    parser.add_argument("-o", "--output", required=True, help="store path or URL (created, or resumed)")
    parser.add_argument("--config", help="YAML file whose `ingest:` section holds the settings; flags override it")
    parser.add_argument("--tiling", choices=[*PRESETS, "custom"], help="tiling preset (default: c2s)")
    parser.add_argument("--box", type=int, help="custom tiling: box edge in voxels")
    parser.add_argument("--stride", type=int, help="custom tiling: stride in voxels")
    parser.add_argument(
        "--labels",
        nargs="+",
        help="label arrays to store (default: all but CryoRes's global_resolution, relative_resolution "
        "(needs half maps) and molecule_mask)",
    )
    parser.add_argument(
        "--embedding",
        metavar="EMBEDDER",
        help="store a per-entry structural embedding (CryoSAMU): structure (built in), esm_if1 or "
        "package.module:factory; its options (esm_if1's weights) go in --config's `ingest.embedding.options`",
    )
    ray_group = parser.add_argument_group("Ray")
    ray_group.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local instance)")
    ray_group.add_argument("--num-cpus", type=int, help="CPUs of a local Ray instance (default: all)")
    add_json_flag(parser)


def config_from_args(args: argparse.Namespace) -> IngestConfig:
    flags = {"tiling": args.tiling, "box": args.box, "stride": args.stride, "labels": args.labels}
    config = config_with_overrides(IngestConfig, args.config, "ingest", flags)
    if args.embedding is None or (config.embedding is not None and config.embedding.name == args.embedding):
        return config
    return config.model_copy(update={"embedding": EmbeddingConfig(name=args.embedding)})


def main(args: argparse.Namespace) -> None:
    config = config_from_args(args)
    report = run_ingest(
        args.manifest, args.output, config, address=args.address, num_cpus=args.num_cpus, progress=not args.quiet
    )
    emit(args, report)
