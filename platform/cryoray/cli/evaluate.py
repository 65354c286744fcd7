"""Evaluate a map (and its model) as the field does: FSC, map–model FSC, CC_box/mask/volume/peaks, Q-scores.

With --half-maps: the FSC between them and its 0.143 / 0.5 resolutions. With --model: the model
map simulated on the map's grid at the map's resolution, the map–model FSC, Phenix's map–model
correlations and MapQ's Q-scores (per atom, residue, chain; with the expected Q at the
resolution). The resolution is --resolution, else the half-map FSC's 0.143 crossing; the model-map
metrics need one. --mask (values in [0, 1], any grid; a binary mask gets a 6 Å soft edge) applies
to both FSCs. -o writes report.json, fsc.png, q_per_residue.png and slices.png into a folder
that appears whole. --json prints the whole report; otherwise a summary.

Example usage:
  $ cryoray evaluate emd_3488.map.gz --model 5me2.pdb --resolution 3.2 -o eval_3488/
  $ cryoray evaluate emd_1234.map --half-maps half1.map half2.map --mask mask.mrc --json
  $ cryoray evaluate enhanced.mrc --model 5me2.cif --half-maps h1.mrc h2.mrc
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from cryoray.cli.output import add_json_flag, emit
from cryoray.errors import ConfigError, SourceError
from cryoray.io import read_map
from cryoray.io.atomic import replace_folder_into_place
from cryoray.io.mrc import MAX_VOXELS


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("map", help="map, path or URL")
    parser.add_argument("--model", help="atomic model (.pdb/.cif[.gz]) placed in the map, path or URL")
    parser.add_argument("--half-maps", nargs=2, metavar=("H1", "H2"), help="the two half maps, on the map's grid")
    parser.add_argument("--resolution", type=float, help="resolution in Å (default: the half-map FSC at 0.143)")
    parser.add_argument("--mask", help="mask map for the FSCs (values in [0, 1]), path or URL")
    parser.add_argument("-o", "--output", help="report folder: report.json and pictures (created whole)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing report folder")
    parser.add_argument(
        "--max-voxels",
        type=int,
        default=MAX_VOXELS,
        help="refuse larger maps before reading them (default: %(default)s)",
    )
    add_json_flag(parser)


def _summary(report: dict) -> dict[str, object]:
    """The report without its long lists (curves, residues), for the terminal."""
    out = {k: v for k, v in report.items() if not isinstance(v, dict)}
    for key in ("fsc", "map_model_fsc"):
        if key in report:
            out[f"{key}_0_143"] = report[key]["resolution_0_143"]
            out[f"{key}_0_5"] = report[key]["resolution_0_5"]
    if "cc" in report:
        out |= {f"cc_{k}": v for k, v in report["cc"].items()}
    if "q_score" in report:
        q = report["q_score"]
        out |= {"q_score": q["mean"], "q_expected": q["expected"], "q_per_chain": q["per_chain"]}
    return out


def _check_output(path: str, overwrite: bool) -> Path:
    target = Path(path)
    if "://" in path:
        raise ConfigError("--output", f"{path}: the report folder must be a local path")
    if target.exists() and not target.is_dir():
        raise ConfigError("--output", f"{path} exists and is not a folder")
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise ConfigError("--output", f"{path} exists and is not empty; use --overwrite to replace it")
    if not target.resolve().parent.is_dir():
        raise SourceError(path, "the folder it would be created in does not exist")
    return target


def _write_report(target: Path, report: dict, pictures) -> list[str]:
    """Write everything into a temporary folder beside ``target``, then rename it into place."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.resolve().parent))
    try:
        written = pictures(staging)
        (staging / "report.json").write_text(json.dumps(report, indent=1))
        replace_folder_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ["report.json", *written]


def main(args: argparse.Namespace) -> None:
    # Imported here: numba (the simulator) and scipy load only when this command runs.
    from cryoray.evaluation import evaluate_map, fsc_mask, save_pictures
    from cryoray.io.models import read_model

    if args.max_voxels < 1:
        raise ConfigError("--max-voxels", f"must be positive, got {args.max_voxels}")
    target = _check_output(args.output, args.overwrite) if args.output else None
    density = read_map(args.map, max_voxels=args.max_voxels)
    atoms = read_model(args.model).atoms() if args.model else None
    halves = None
    if args.half_maps:
        halves = tuple(read_map(h, max_voxels=args.max_voxels) for h in args.half_maps)
    mask = None
    if args.mask:
        mask = fsc_mask(read_map(args.mask, max_voxels=args.max_voxels), density.frame, source=args.mask)
    sources = {"map": args.map, "model": args.model or "model", "mask": args.mask or "mask"}
    if args.half_maps:
        sources |= {"half_map_1": args.half_maps[0], "half_map_2": args.half_maps[1]}
    evaluation = evaluate_map(
        density, atoms=atoms, half_maps=halves, resolution=args.resolution, mask=mask, sources=sources
    )
    report = evaluation.to_dict(args.map, args.model)
    if target is not None:
        files = _write_report(target, report, lambda folder: save_pictures(folder, evaluation, density, atoms))
        if not args.json:
            report = report | {"output": [str(target / f) for f in files]}
    emit(args, report if args.json else _summary(report))
