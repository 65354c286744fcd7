"""Enhance a map with a trained network (e.g. CryoTEN's UNETR++); the output overlays the input.

Without --model, the enhancer shipped with cryoray is used (default:enhancer, a small residual
U-Net; its model card: cryoray/bundle/defaults/enhancer/MODEL_CARD.md).

The map is resampled to 1 Å and normalised, cut into boxes, predicted in batches and stitched
back (weighted mean), then resampled back onto the input's own grid: same shape, voxel size
and origin, so it lies exactly on the input in ChimeraX. Voxel size, percentile, tiling and
blend are the model bundle's unless given; the report says where each came from. --mask-mode keep keeps the input's
density inside a mask (e.g. a zone around ligands or lipids) instead of the prediction there.
Two half maps are averaged first (--halves average) or each enhanced and the results averaged
(--halves both). A CryoSAMU model trained with structural embeddings takes the entry's with
--embedding FILE.npy or --embedding-model MODEL (the built-in `structure` embedder); without
either it predicts from the map alone (its "no structure" tokens).

Example usage:
  $ cryoray enhance emd_3488.map -o enhanced.mrc
  $ cryoray enhance emd_3488.map -o enhanced.mrc --model runs/cryoten/checkpoint_000010
  $ cryoray enhance emd_3488.map -o enhanced.mrc --model cryoten_bundle --stride 24 --json
  $ cryoray enhance emd_3488.map -o enhanced.mrc --model models:/cryoten/3 --tracking-uri sqlite:///mlflow.db
  $ cryoray enhance --half-maps half1.mrc half2.mrc --halves both -o enhanced.mrc --model cryoten
  $ cryoray enhance emd.map -o out.mrc --model cryoten/2 --mask-model ligand.pdb --mask-radius 3 --mask-mode keep
  $ cryoray enhance emd.map -o out.mrc --model ckpt --blend gaussian --device cuda --batch-size 32 --json
  $ cryoray enhance emd_3488.map -o enhanced.mrc --model cryosamu_bundle --embedding-model 5me2.pdb
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cryoray.cli.inference import (
    add_inference_args,
    infer_config,
    load_models,
    mask_config,
    read_inputs,
    resolve_models,
)
from cryoray.cli.output import emit
from cryoray.errors import ConfigError
from cryoray.io import check_output, write_map


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("map", nargs="?", help="input map, path or URL (or --half-maps)")
    parser.add_argument("-o", "--output", required=True, help="output .mrc (or .mrc.gz), path or URL")
    parser.add_argument("--head", help="regression head to write (default: the model's only one)")
    add_inference_args(parser, keep_mode=True, model_required=False)
    structure = parser.add_argument_group("Structure (CryoSAMU models trained with embeddings)")
    structure.add_argument(
        "--embedding", metavar="FILE.npy", help="the entry's embedding: a 1-D .npy of the network's embedding_dim"
    )
    structure.add_argument(
        "--embedding-model",
        metavar="MODEL",
        help="an atomic model, embedded with the built-in `structure` embedder (when the bundle was trained on it)",
    )


def _embedding(args: argparse.Namespace, directory: Path) -> tuple[np.ndarray | None, str]:
    """The embedding the options give (checked against what the bundle was trained with), and how to name it."""
    if args.embedding is None and args.embedding_model is None:
        return None, "none"
    if args.embedding is not None and args.embedding_model is not None:
        raise ConfigError("command line", "give --embedding or --embedding-model, not both")
    from cryoray.bundle import BUNDLE, read_bundle
    from cryoray.io.models import read_model
    from cryoray.labels.embeddings import StructureEmbedder, embed_model

    store = (
        read_bundle(directory).provenance.get("training", {}).get("store", {}) if (directory / BUNDLE).is_file() else {}
    )
    trained = (store.get("embedding") or {}).get("name")
    if trained is None:
        raise ConfigError("--embedding", f"{args.model} records no training with embeddings; run it without one")
    if args.embedding is not None:
        try:
            return np.load(args.embedding, allow_pickle=False), args.embedding
        except (OSError, ValueError) as exc:
            raise ConfigError(args.embedding, f"not a readable .npy array: {exc}") from exc
    if trained != StructureEmbedder.name:
        raise ConfigError(
            "--embedding-model",
            f"{args.model} was trained on {trained} embeddings; give them with --embedding FILE.npy",
        )
    model = read_model(args.embedding_model)
    return embed_model(StructureEmbedder(), model, model.atoms(), []), f"structure of {args.embedding_model}"


def main(args: argparse.Namespace) -> None:
    if args.model is None:
        from cryoray.bundle.defaults import DEFAULT_ENHANCER

        args.model = DEFAULT_ENHANCER
    config = infer_config(args)
    mask = mask_config(args)
    check_output(args.output, overwrite=args.overwrite)
    directories = resolve_models(args, [args.model])
    density, source = read_inputs(args)
    (predictor,) = load_models(directories, [args.model], config)
    embedding, embedding_source = _embedding(args, directories[0])
    predictor.set_embedding(embedding)

    from cryoray.infer.channels import regression_channel
    from cryoray.infer.whole_map import predict_map

    channel = regression_channel(predictor.spec, args.head)
    prediction = predict_map(
        density,
        predictor,
        config,
        heads=[channel.head],
        halves=getattr(args, "halves", "average"),
        mask=mask,
        mask_mode=args.mask_mode,
        source=source,
    )
    out = prediction.on_source_frame(channel.name)
    labels = (f"cryoray enhance {predictor.name}"[:80], prediction.record.label())
    write_map(args.output, out, overwrite=args.overwrite, labels=labels)
    emit(
        args,
        {
            "input": source,
            "output": args.output,
            "model": predictor.name,
            "head": channel.head,
            "tiling": prediction.tiling.name,
            "box": prediction.tiling.box,
            "device": str(predictor.device),
            "frame": out.frame.to_dict(),
            "prepared_frame": prediction.frame.to_dict(),
            "percentile": prediction.record.normalization.percentile if prediction.record.normalization else None,
            "mask_mode": args.mask_mode if mask is not None else None,
            "embedding": embedding_source,
            **prediction.settings,
            **prediction.stats.to_dict(),
        },
    )
