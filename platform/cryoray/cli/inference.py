"""Options and steps shared by the inference commands (enhance, segment, build-model)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cryoray.cli.output import add_json_flag
from cryoray.config import validate_config
from cryoray.errors import ConfigError
from cryoray.infer.config import InferConfig
from cryoray.io import DensityMap, read_map
from cryoray.preprocessing.config import MaskConfig

__all__ = [
    "add_inference_args",
    "ensure_dir",
    "infer_config",
    "load_models",
    "mask_config",
    "read_inputs",
    "resolve_models",
]


def _default(name: str) -> object:
    return InferConfig.model_fields[name].default


def add_inference_args(
    parser: argparse.ArgumentParser, *, halves: bool = True, keep_mode: bool = False, model_required: bool = True
) -> None:
    """``--model``, the registry, tiling, device, mask and (optionally) half-map options, ``--json``."""
    if halves:
        parser.add_argument(
            "--half-maps",
            nargs=2,
            metavar=("HALF1", "HALF2"),
            help="two half maps instead of MAP (same grid)",
        )
        parser.add_argument(
            "--halves",
            choices=("average", "both"),
            default="average",
            help="average: predict the mean of the halves; both: predict each half and average "
            "the outputs (2x compute) (default: %(default)s)",
        )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    model = parser.add_argument_group("Model")
    model.add_argument(
        "--model",
        required=model_required,
        metavar="REF",
        help="model bundle or checkpoint directory, a bundle shipped with cryoray (default:builder, "
        "default:enhancer), or MLflow registered model models:/NAME/VERSION, NAME/VERSION or NAME (latest); "
        "settings not given below are the bundle's",
    )
    model.add_argument(
        "--tracking-uri", help="MLflow tracking URI for registered models (default: MLFLOW_TRACKING_URI)"
    )
    model.add_argument("--cache-dir", help="where registered models are downloaded (default: ~/.cache/cryoray/models)")
    run = parser.add_argument_group("Inference")
    run.add_argument(
        "--tiling",
        help="c2s, cryoten-train, cryoten-eval or custom (default: the bundle's, else by the model's box: "
        "32 c2s, 48 cryoten-eval)",
    )
    run.add_argument("--box", type=int, help="box edge in voxels (custom tiling, or replacing the bundle's)")
    run.add_argument("--stride", type=int, help="stride in voxels (custom tiling, or replacing the bundle's)")
    run.add_argument("--core", type=int, help="kept core edge in voxels (custom tiling, or replacing the bundle's)")
    run.add_argument(
        "--blend",
        choices=("constant", "gaussian"),
        help="weights of overlapping boxes (default: the bundle's, else constant)",
    )
    run.add_argument("--batch-size", type=int, help=f"boxes per forward pass (default: {_default('batch_size')})")
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), help="auto: CUDA when available (default: auto)")
    run.add_argument("--precision", choices=("auto", "bf16", "fp32"), help="auto: bf16 autocast on CUDA, fp32 on CPU")
    run.add_argument(
        "--percentile",
        type=float,
        help="normalisation percentile (default: the bundle's, else 99.999 for enhancement models and 95 for others)",
    )
    run.add_argument("--voxel-size", type=float, help="grid the model sees, in Å (default: the bundle's, else 1)")
    masks = parser.add_argument_group("Mask (optional)")
    masks.add_argument("--mask-map", help="mask map, any grid")
    masks.add_argument("--contour", type=float, help="mask-map level at or above which voxels are inside")
    masks.add_argument("--mask-model", help="model whose atoms define a zone mask")
    masks.add_argument("--mask-radius", type=float, help="zone radius in Å (default: 3)")
    if keep_mode:
        masks.add_argument(
            "--mask-mode",
            choices=("zero", "keep"),
            default="zero",
            help="zero: density outside the mask is 0 before predicting; keep: the output keeps the "
            "input's density inside the mask (ligands, lipids) (default: %(default)s)",
        )
    add_json_flag(parser)


def infer_config(args: argparse.Namespace) -> InferConfig:
    flags = {
        key: getattr(args, key)
        for key in (
            "tiling",
            "box",
            "stride",
            "core",
            "blend",
            "batch_size",
            "device",
            "precision",
            "percentile",
            "voxel_size",
        )
    }
    return validate_config(
        InferConfig, {k: v for k, v in flags.items() if v is not None}, source="command-line options"
    )


def mask_config(args: argparse.Namespace) -> MaskConfig | None:
    flags = {"map": args.mask_map, "contour": args.contour, "model": args.mask_model, "radius": args.mask_radius}
    given = {k: v for k, v in flags.items() if v is not None}
    if not given:
        return None
    return validate_config(MaskConfig, given, source="command-line options", prefix="mask")


def read_inputs(args: argparse.Namespace) -> tuple[DensityMap | list[DensityMap], str]:
    """The map, or the two half maps; and how to name them in messages."""
    halves = getattr(args, "half_maps", None)
    if (args.map is None) == (halves is None):
        raise ConfigError("command line", "give either MAP or --half-maps HALF1 HALF2")
    if halves is not None:
        return [read_map(h) for h in halves], " + ".join(halves)
    return read_map(args.map), args.map


def resolve_models(args: argparse.Namespace, refs: list[str]) -> list[Path]:
    """Bundle (or checkpoint) directories of the references (downloaded if registered), before any heavy work."""
    from cryoray.infer.reference import resolve_reference

    return [resolve_reference(r, tracking_uri=args.tracking_uri, cache_dir=args.cache_dir) for r in refs]


def load_models(directories: list[Path], refs: list[str], config: InferConfig) -> list:
    """The networks as predictors (imports torch)."""
    from cryoray.infer.predictor import Predictor

    loaded = []
    for ref, directory in zip(refs, directories, strict=True):
        predictor = Predictor.from_checkpoint(directory, device=config.device, precision=config.precision)
        predictor.name = ref
        loaded.append(predictor)
    return loaded


def ensure_dir(path: str) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(path, f"cannot create the output folder: {exc}") from exc
    return out
