"""What each endpoint does with a request's map, apart from HTTP: prepare, tile, predict, stitch, encode.

The choices (channels, preparation, tiling, Cα candidates → states) are the inference core's
(:mod:`cryoray.infer.channels`, :class:`~cryoray.infer.Recipe`, :mod:`cryoray.infer.candidates`),
made from the model's :class:`~cryoray.infer.ModelSpec`; what differs here is how boxes are
predicted: on the model deployment (:func:`~cryoray.serve.tiles.predict_plan`). CPU work
(parsing, resampling, clustering, encoding) runs in worker threads so the ingress keeps
accepting requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ray.serve.handle import DeploymentHandle

from cryoray.errors import InputError
from cryoray.infer.candidates import candidate_sink, clustered_states
from cryoray.infer.channels import OutputChannel, build_channels, regression_channel, segment_channels
from cryoray.infer.inputs import PreparedInput, prepare_input
from cryoray.infer.recipe import Recipe
from cryoray.infer.spec import ModelSpec
from cryoray.infer.stitching import DenseSink, Sink
from cryoray.infer.whole_map import InferenceStats, MapPrediction
from cryoray.modelbuild import AlignmentJob, AlignmentPool, model_structure
from cryoray.serve.config import ServeConfig
from cryoray.serve.payloads import decode_build_request, decode_map, encode_map, encode_maps_zip, parse_chains
from cryoray.serve.tiles import predict_plan

__all__ = ["build_model", "enhance", "segment"]


async def _prepare(config: ServeConfig, recipe: Recipe, body: bytes) -> PreparedInput:
    density = await asyncio.to_thread(decode_map, body, config.limits, recipe.prepare.voxel_size)
    return await asyncio.to_thread(prepare_input, density, recipe.prepare, source="map")


async def _stitch(
    config: ServeConfig,
    recipe: Recipe,
    handle: DeploymentHandle,
    prepared: PreparedInput,
    channels: Sequence[OutputChannel],
    sink: Sink,
) -> int:
    """Every box of the prepared map through the deployment into ``sink``; returns the boxes."""
    plan = recipe.plan(prepared.density.data.shape)
    stitcher = recipe.stitcher(plan, len(channels), sink)
    await predict_plan(handle, prepared.density.data, plan, channels, stitcher, config.batching)
    return len(plan)


async def _predict_dense(
    config: ServeConfig, spec: ModelSpec, handle: DeploymentHandle, body: bytes, channels: Sequence[OutputChannel]
) -> MapPrediction:
    recipe = Recipe.for_models([spec], config.infer)
    prepared = await _prepare(config, recipe, body)
    sink = DenseSink(prepared.density.data.shape, len(channels))
    boxes = await _stitch(config, recipe, handle, prepared, channels, sink)
    stats = InferenceStats(boxes=boxes)
    frame, record = prepared.density.frame, prepared.record
    return MapPrediction(list(channels), sink.data, frame, record, recipe.tiling, stats, sink, recipe.report())


async def enhance(
    config: ServeConfig, spec: ModelSpec, handle: DeploymentHandle, body: bytes, head: str | None
) -> bytes:
    """MRC bytes of the regression head's output on the input's grid."""
    channel = regression_channel(spec, head)
    prediction = await _predict_dense(config, spec, handle, body, [channel])
    out = await asyncio.to_thread(prediction.on_source_frame, channel.name)
    return await asyncio.to_thread(encode_map, out, label=f"cryoray serve enhance {spec.name}")


async def segment(
    config: ServeConfig, spec: ModelSpec, handle: DeploymentHandle, body: bytes, heads: Sequence[str] | None
) -> bytes:
    """A ZIP of one MRC per channel of the classification heads (or of those among ``heads``), on the input's grid."""
    channels = segment_channels(spec, heads)
    prediction = await _predict_dense(config, spec, handle, body, channels)

    def encode() -> bytes:
        maps = ((c.name, prediction.on_source_frame(c.name)) for c in channels)
        return encode_maps_zip(maps, label=f"cryoray serve segment {spec.name}")

    return await asyncio.to_thread(encode)


async def build_model(
    config: ServeConfig, spec: ModelSpec, handle: DeploymentHandle, body: bytes, pool: AlignmentPool
) -> str:
    """mmCIF text of the Cα model threaded through the map's Cα candidates (on the alignment pool)."""
    data, fasta = decode_build_request(body)
    chains = parse_chains(fasta, config.limits)
    try:
        channels = build_channels([spec])
    except InputError as exc:
        raise InputError("model", f"model '{spec.name}': {exc.reason}") from None
    recipe = Recipe.for_models([spec], config.infer, build=config.build)
    prepared = await _prepare(config, recipe, data)
    sink = candidate_sink(recipe.build)
    await _stitch(config, recipe, handle, prepared, channels, sink)
    states, _ = await asyncio.to_thread(clustered_states, sink, prepared.density.frame, recipe.build, source="map")
    result = await pool.submit(AlignmentJob(states, chains, recipe.build.threading, name="serve"))
    return model_structure(result).make_mmcif_document().as_string()
