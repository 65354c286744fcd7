"""What each endpoint does with a request's map, apart from HTTP: prepare, tile, predict, stitch, encode.

CPU work (parsing, resampling, encoding) runs in worker threads so the ingress keeps
accepting requests; predictions go to the model deployment (:func:`~cryoray.serve.tiles.predict_plan`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from cryoray.errors import InputError
from cryoray.infer.building import build_channels
from cryoray.infer.inputs import prepare_input
from cryoray.infer.stitching import CandidateSink, DenseSink, Stitcher, TilePlan, blend_weights
from cryoray.infer.whole_map import InferenceStats, MapPrediction, OutputChannel, output_channels, tiling_for
from cryoray.modelbuild import AlignmentJob, HmmStates, cluster_candidates, model_structure
from cryoray.preprocessing.config import PrepareConfig
from cryoray.serve.config import ServeConfig
from cryoray.serve.model import ModelInfo
from cryoray.serve.payloads import decode_build_request, decode_map, encode_map, encode_maps_zip, parse_chains
from cryoray.serve.tiles import predict_plan

__all__ = ["build_model", "enhance", "regression_head", "segment"]


def regression_head(info: ModelInfo, head: str | None) -> str:
    """The regression head ``head`` names, or the model's only one."""
    names = [h.name for h in info.heads.values() if not h.classification]
    if head is not None:
        if head not in names:
            raise InputError("head", f"model '{info.name}' has no regression head {head!r}; it has {names}")
        return head
    if len(names) != 1:
        what = "no regression head" if not names else f"several regression heads {names}: choose one with ?head="
        raise InputError("model", f"model '{info.name}' has {what}")
    return names[0]


async def _predict_dense(
    config: ServeConfig,
    info: ModelInfo,
    handle: object,
    body: bytes,
    channels: Sequence[OutputChannel],
    percentile: float,
) -> MapPrediction:
    infer = config.infer
    tiling = tiling_for([info], infer)  # type: ignore[list-item]
    density = await asyncio.to_thread(decode_map, body, config.limits, infer.voxel_size)
    prepare = PrepareConfig(voxel_size=infer.voxel_size, order=infer.order, percentile=percentile)
    prepared = await asyncio.to_thread(prepare_input, density, prepare, source="map")
    shape = prepared.density.data.shape
    plan = TilePlan.for_shape(shape, tiling)
    sink = DenseSink(shape, len(channels))
    weights = blend_weights(tiling, infer.blend, sigma_scale=infer.sigma_scale)
    stitcher = Stitcher(plan, len(channels), weights=weights, sink=sink)
    await predict_plan(handle, prepared.density.data, plan, channels, stitcher, config.batching)
    stats = InferenceStats(boxes=len(plan))
    return MapPrediction(list(channels), sink.data, prepared.density.frame, prepared.record, tiling, stats, sink)


async def enhance(config: ServeConfig, info: ModelInfo, handle: object, body: bytes, head: str | None) -> bytes:
    """MRC bytes of the regression head's output on the input's grid."""
    name = regression_head(info, head)
    channels = output_channels([info], [name])  # type: ignore[list-item]
    percentile = config.infer.percentile_for(info.regression_only)
    prediction = await _predict_dense(config, info, handle, body, channels[:1], percentile)
    out = await asyncio.to_thread(prediction.on_source_frame, channels[0].name)
    return await asyncio.to_thread(encode_map, out, label=f"cryoray serve enhance {info.name}")


async def segment(
    config: ServeConfig, info: ModelInfo, handle: object, body: bytes, heads: Sequence[str] | None
) -> bytes:
    """A ZIP of one MRC per channel of the classification heads (or ``heads``), on the input's grid."""
    if heads is None:
        heads = [h.name for h in info.heads.values() if h.classification]
        if not heads:
            raise InputError("model", f"model '{info.name}' has no classification head to segment with")
    try:
        channels = output_channels([info], heads)  # type: ignore[list-item]
    except InputError as exc:
        raise InputError("heads", exc.reason) from None
    percentile = config.infer.percentile_for(all(not c.classification for c in channels))
    prediction = await _predict_dense(config, info, handle, body, channels, percentile)

    def encode() -> bytes:
        maps = ((c.name, prediction.on_source_frame(c.name)) for c in channels)
        return encode_maps_zip(maps, label=f"cryoray serve segment {info.name}")

    return await asyncio.to_thread(encode)


async def build_model(config: ServeConfig, info: ModelInfo, handle: object, body: bytes, pool: object) -> str:
    """mmCIF text of the Cα model threaded through the map's Cα candidates (on the alignment pool)."""
    data, fasta = decode_build_request(body)
    chains = parse_chains(fasta, config.limits)
    try:
        channels = build_channels([info])  # type: ignore[list-item]
    except InputError as exc:
        raise InputError("model", f"model '{info.name}': {exc.reason}") from None
    infer, build = config.infer, config.build
    tiling = tiling_for([info], infer)  # type: ignore[list-item]
    density = await asyncio.to_thread(decode_map, data, config.limits, infer.voxel_size)
    prepare = PrepareConfig(voxel_size=infer.voxel_size, order=infer.order, percentile=infer.percentile_for(False))
    prepared = await asyncio.to_thread(prepare_input, density, prepare, source="map")
    plan = TilePlan.for_shape(prepared.density.data.shape, tiling)
    sink = CandidateSink(0, build.candidates.threshold, range(1, 21))
    weights = blend_weights(tiling, infer.blend, sigma_scale=infer.sigma_scale)
    stitcher = Stitcher(plan, len(channels), weights=weights, sink=sink)
    await predict_plan(handle, prepared.density.data, plan, channels, stitcher, config.batching)
    index, ca_prob, aa = sink.result()
    total = aa.sum(axis=1, keepdims=True)  # the 20 amino acids without "none", renormalised (as infer.building)
    aa = np.divide(aa, total, out=np.zeros_like(aa), where=total > 0)
    xyz = prepared.density.frame.index_to_xyz(index)
    candidates = HmmStates.validated(xyz, aa, ca_prob, source=f"map: Cα candidates (P > {build.candidates.threshold})")
    states = await asyncio.to_thread(cluster_candidates, candidates, radius=build.candidates.cluster_radius)
    result = await pool.submit(AlignmentJob(states, chains, build.threading, name="serve"))  # type: ignore[attr-defined]
    return model_structure(result).make_mmcif_document().as_string()
