"""Synthesize an experimental-like map from an atomic model with a trained struc2mapGAN generator.

The model is simulated at --resolution (all atoms, Gaussians as `cryoray simulate`), and the
generator turns the simulation into a map that looks experimental (struc2mapGAN). The output
lies on a 1 Å grid around the model, or with --like on that map's grid (shape, voxel size,
origin), so it overlays it exactly. Beyond --mask-radius of the atoms the output is 0, as the
training targets were. --model is required: `cryoray simulate` writes the plain simulated map.

Example usage:
  $ cryoray synthesize 5me2.pdb -o 5me2_synthetic.mrc --model runs/struc2mapgan/checkpoint_000049
  $ cryoray synthesize 5me2.pdb -o on_3488.mrc --model s2m-gan/3 --resolution 3.2 --like emd_3488.map
"""

from __future__ import annotations

import argparse

from cryoray.cli.options import add_model_grid_args, check_model_grid_args, model_grid
from cryoray.cli.output import add_json_flag, emit
from cryoray.config import validate_config
from cryoray.errors import ConfigError
from cryoray.io import check_output, write_map
from cryoray.io.models import read_model
from cryoray.preprocessing.config import MAX_MASK_RADIUS

DEFAULT_RESOLUTION = 3.0


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_file", metavar="MODEL", help="atomic model (.pdb/.cif[.gz]), path or URL")
    parser.add_argument("-o", "--output", required=True, help="output .mrc (or .mrc.gz), path or URL")
    parser.add_argument(
        "--model",
        required=True,
        metavar="REF",
        help="struc2mapGAN bundle or checkpoint directory, or MLflow registered model models:/NAME/VERSION, "
        "NAME/VERSION or NAME (latest)",
    )
    parser.add_argument(
        "--resolution",
        type=float,
        default=DEFAULT_RESOLUTION,
        help="resolution of the simulation in Å, 0.5 to 50 (default: %(default)s)",
    )
    parser.add_argument(
        "--mask-radius",
        type=float,
        default=6.0,
        help="keep the output within this many Å of the atoms, 0 beyond, as the training targets (0: keep "
        "every voxel; at most 20) (default: %(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_model_grid_args(parser, voxel_size=False)  # the generator's 1 Å grid without --like
    run = parser.add_argument_group("Inference")
    run.add_argument("--tracking-uri", help="MLflow tracking URI for registered models (default: MLFLOW_TRACKING_URI)")
    run.add_argument("--cache-dir", help="where registered models are downloaded (default: ~/.cache/cryoray/models)")
    run.add_argument("--batch-size", type=int, help="boxes per forward pass (default: 4)")
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), help="auto: CUDA when available (default: auto)")
    add_json_flag(parser)


def main(args: argparse.Namespace) -> None:
    check_model_grid_args(args)
    if not (0 <= args.mask_radius <= MAX_MASK_RADIUS):  # False for NaN too
        raise ConfigError("--mask-radius", f"must be from 0 to {MAX_MASK_RADIUS:g} Å, got {args.mask_radius}")
    from cryoray.infer.config import InferConfig

    flags = {"batch_size": args.batch_size, "device": args.device}
    config = validate_config(
        InferConfig, {k: v for k, v in flags.items() if v is not None}, source="command-line options"
    )
    check_output(args.output, overwrite=args.overwrite)
    atoms = read_model(args.model_file).atoms()
    frame = model_grid(args, atoms, args.model_file)

    # Imported here: torch loads only when this command runs.
    from cryoray.infer.predictor import Predictor
    from cryoray.infer.synthesize import synthesize_map

    predictor = Predictor.from_reference(
        args.model, tracking_uri=args.tracking_uri, cache_dir=args.cache_dir, device=config.device
    )
    mask_radius = args.mask_radius or None
    result = synthesize_map(
        atoms, frame, args.resolution, predictor, config, mask_radius=mask_radius, source=args.model_file
    )
    labels = (f"cryoray synthesize {args.resolution:g}A {predictor.name}"[:80],)
    write_map(args.output, result.density, overwrite=args.overwrite, labels=labels)
    emit(
        args,
        {
            "model_file": args.model_file,
            "output": args.output,
            "model": predictor.name,
            "resolution": args.resolution,
            "mask_radius": mask_radius,
            "n_atoms": len(atoms),
            "frame": result.density.frame.to_dict(),
            "device": str(predictor.device),
            **result.density.stats(),
            **result.prediction.stats.to_dict(),
        },
    )
