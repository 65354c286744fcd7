"""Build a Cα model from a map and its sequence: segment → Cα candidates → clustering → threading.

A network predicts a Cα score (P(Cα) of a head trained on the atom label, or a Cα heatmap of a
head trained on ca_heatmap) and the amino-acid probabilities (a head trained on amino_acid): one
model with both heads (Cryo2Struct2, cryoray's builder), or an atom model plus --amino-model
(Cryo2Struct). Without --model, the builder shipped with cryoray is used (default:builder, a small
U-Net; its model card: cryoray/bundle/defaults/builder/MODEL_CARD.md, `cryoray models`). Voxels
with a Cα score above --threshold (for a heatmap, only its local maxima) are clustered
(--cluster-radius) into HMM states, and the FASTA's chains are threaded through them. Only the
candidate voxels' probabilities are kept, never whole probability maps. Coordinates are in the
input map's frame. Residues left without a state are reported, never invented. Preprocessing,
threshold and radius are the model bundles' unless given; the report says where each came from.

--candidates peaks builds without a network (no --model): the map's local maxima above
--peak-sigma σ on a 1 Å grid, clustered and threaded with uniform amino-acid probabilities. It is
the fallback when no trained model fits a map, and the yardstick a trained model must beat.

Example usage:
  $ cryoray build-model emd_3488.map 5me2.fasta -o model.cif
  $ cryoray build-model emd_3488.map 5me2.fasta -o model.cif --model runs/c2s2/checkpoint_000020
  $ cryoray build-model emd.map seq.fasta -o model.cif --model c2s-atoms/2 --amino-model c2s-amino/1 --tracking-uri sqlite:///mlflow.db
  $ cryoray build-model emd.map seq.fasta -o model.pdb --model ckpt --threshold 0.4 --cluster-radius 3 --json
  $ cryoray build-model emd_3488.map 5me2.fasta -o baseline.cif --candidates peaks
"""

from __future__ import annotations

import argparse
import math

from cryoray.cli.inference import add_inference_args, infer_config, load_models, mask_config, resolve_models
from cryoray.cli.output import emit
from cryoray.config import validate_config
from cryoray.errors import ConfigError
from cryoray.io import check_output, read_map
from cryoray.modelbuild import read_chains, write_model
from cryoray.modelbuild.config import BuildConfig

_SUMMARY = (
    "candidates",
    "states_clustered",
    "chains",
    "residues",
    "placed",
    "unplaced",
    "log_score",
    "seconds",
    "preprocessing",
    "preprocessing_from",
    "bundle_overridden",
)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("map", help="input map, path or URL")
    parser.add_argument("sequence", help="FASTA file whose headers name the chains, path or URL")
    parser.add_argument("-o", "--output", required=True, help="model to write: .cif or .pdb (optionally .gz)")
    parser.add_argument("--amino-model", metavar="REF", help="a second model for the amino-acid head (Cryo2Struct)")
    group = parser.add_argument_group("Model building")
    group.add_argument(
        "--threshold",
        type=float,
        help="Cα score above which a voxel is a candidate (default: the bundle's, else 0.4; 0.3 for a heatmap)",
    )
    group.add_argument(
        "--cluster-radius", type=float, help="candidate clustering radius in Å (default: the bundle's, else 2)"
    )
    group.add_argument("--std-lambda", type=float, help="λ of the transition σ = 0.03622304 × λ Å (default: 10)")
    group.add_argument(
        "--candidates",
        choices=("network", "peaks"),
        default="network",
        help="Cα candidates from the model's P(Cα), or from density peaks without a network (default: %(default)s)",
    )
    group.add_argument(
        "--peak-sigma",
        type=float,
        default=2.0,
        help="with --candidates peaks: peaks above this σ (default: %(default)s)",
    )
    add_inference_args(parser, halves=False, model_required=False)


def main(args: argparse.Namespace) -> None:
    config = infer_config(args)
    mask = mask_config(args)
    candidates = {"threshold": args.threshold, "cluster_radius": args.cluster_radius}
    threading = {"std_lambda": args.std_lambda}
    build = validate_config(
        BuildConfig,
        {
            "candidates": {k: v for k, v in candidates.items() if v is not None},
            "threading": {k: v for k, v in threading.items() if v is not None},
        },
        source="command-line options",
    )
    check_output(args.output, overwrite=args.overwrite)
    if args.candidates == "peaks":
        _build_from_peaks(args, build)
        return
    if args.model is None:
        if args.amino_model:
            raise ConfigError("--amino-model", "goes with the --model whose atom head it completes")
        from cryoray.bundle.defaults import DEFAULT_BUILDER

        args.model = DEFAULT_BUILDER
    refs = [args.model] + ([args.amino_model] if args.amino_model else [])
    directories = resolve_models(args, refs)
    chains = read_chains(args.sequence)
    density = read_map(args.map)
    predictors = load_models(directories, refs, config)

    from cryoray.infer.building import build_from_map

    report = build_from_map(density, predictors, chains, config, build, mask=mask, source=args.map)
    write_model(args.output, report.result, overwrite=args.overwrite)
    result = report.to_dict()
    if not args.json:
        result = {key: result[key] for key in _SUMMARY} | {
            "seconds_inference": report.stats.seconds,
            "notes": "; ".join(result["notes"]) or "-",
        }
    emit(args, {"model": args.output, "models": refs, **result})


def _build_from_peaks(args: argparse.Namespace, build: BuildConfig) -> None:
    """The no-network build: density peaks → clusters → threading with uniform amino acids."""
    from cryoray.modelbuild.peaks import build_from_peaks

    if args.model or args.amino_model:
        raise ConfigError("--model", "--candidates peaks uses no network; leave out --model and --amino-model")
    if not (math.isfinite(args.peak_sigma) and args.peak_sigma >= 0):
        raise ConfigError("--peak-sigma", f"must be a finite number >= 0, got {args.peak_sigma}")
    chains = read_chains(args.sequence)
    density = read_map(args.map)
    report = build_from_peaks(density, chains, build, sigma=args.peak_sigma, source=args.map)
    write_model(args.output, report.result, overwrite=args.overwrite)
    result = report.to_dict()
    if not args.json:
        keep = ("candidates_from", "peak_sigma", "candidates", "states_clustered", "chains", "residues", "placed")
        result = {key: result[key] for key in (*keep, "unplaced", "log_score", "seconds") if key in result}
    emit(args, {"model": args.output, **result})
