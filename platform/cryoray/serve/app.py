"""The Ray Serve application: an HTTP ingress in front of one batched model deployment per model.

Endpoints (all errors are JSON ``{"error": "..."}``: 400 malformed input or an unknown model,
413 above a limit, 422 a map without Cα candidates, 503 with ``Retry-After`` when the replica
already works on ``limits.max_requests_in_flight`` map requests, 504 after
``limits.request_timeout_s``; see :mod:`cryoray.serve.payloads` for bodies):

* ``GET /health``: ``{"status": "ok", "models": [...], "requests": {...}, "in_flight": {...}}``.
* ``GET /models``: per model its reference, box, parameters, heads, the batches one of its
  replicas has run (``boxes_per_batch``: boxes per forward pass → count), and the voxel limit
  of its ``/enhance`` and ``/segment`` requests (the budget's share over their output channels).
* ``POST /enhance?model=NAME[&head=HEAD]``: MRC bytes in, MRC bytes out on the input's grid.
* ``POST /segment?model=NAME[&heads=A,B]``: MRC bytes in, a ZIP of probability maps (MRC) out.
* ``POST /build?model=NAME``: JSON map + FASTA in, mmCIF (Cα model) out; threading runs on the
  :class:`~cryoray.modelbuild.AlignmentPool` (CPU actors shared by the ingress replicas).

``build_app(args)`` is the application builder that ``serve run`` / ``serve deploy`` name
(``import_path: cryoray.serve.app:build_app``); nothing is read or loaded at import.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations at
# runtime, and Serve's ingress wrapper resolves them outside this module (string annotations
# such as "Request" would turn into required query parameters).

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from ray import serve
from ray.serve.handle import DeploymentHandle

from cryoray.config import load_config_with_sets, validate_config
from cryoray.errors import ConfigError, InputError
from cryoray.infer.spec import ModelSpec
from cryoray.modelbuild.errors import StatesFormatError
from cryoray.serve import handlers
from cryoray.serve.config import ServeConfig, check_models
from cryoray.serve.limits import Busy, InFlight, read_body, status_for
from cryoray.serve.model import ModelServer

__all__ = ["Gateway", "build_app", "config_from_args", "serve_application"]
log = logging.getLogger(__name__)

api = FastAPI(title="cryoray", description="Enhance, segment and build models from cryo-EM maps.")


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def segment_channels(info: ModelSpec, heads: list[str] | None) -> int:
    """Output maps of a ``/segment`` request: the channels of ``heads`` (default: every classification head)."""
    return sum(h.channels for h in info.heads.values() if (h.name in heads if heads else h.classification))


@serve.deployment(name="ingress")
@serve.ingress(api)
class Gateway:
    """HTTP in and out; per request: limits, parsing, tiling, stitching, encoding (CPU)."""

    def __init__(self, config: dict, models: Mapping[str, DeploymentHandle]) -> None:
        self.config = ServeConfig.model_validate(config)
        self.models = dict(models)
        self._info: dict[str, ModelSpec] = {}
        self._pool = None
        self.in_flight = InFlight(self.config.limits.max_requests_in_flight)
        self.requests = {"ok": 0, "client_errors": 0, "server_errors": 0, "refused": 0, "timed_out": 0}

    async def _model(self, name: str | None) -> tuple[ModelSpec, DeploymentHandle]:
        if not name:
            raise InputError("model", f"name a model with ?model=NAME; configured: {sorted(self.models)}")
        handle = self.models.get(name)
        if handle is None:
            raise InputError("model", f"unknown model {name[:64]!r}; configured: {sorted(self.models)}")
        if name not in self._info:
            self._info[name] = (await handle.info.remote())["model"]
        return self._info[name], handle

    def _alignment_pool(self) -> object:
        if self._pool is None:
            from cryoray.modelbuild import AlignmentPool

            d = self.config.deployments
            self._pool = AlignmentPool(
                d.alignment_actors, num_cpus=d.alignment_num_cpus, name=f"{self.config.name}-align"
            )
        return self._pool

    def _with_limits(self, channels: int) -> ServeConfig:
        """The config with the voxel limit of a request that answers ``channels`` maps."""
        return self.config.model_copy(update={"limits": self.config.limits.for_channels(channels)})

    async def _answer(self, work: Callable[[], Awaitable[Response]]) -> Response:
        """Run a map request's ``work`` in one of the replica's places, within the request timeout.

        No place free: 503 with Retry-After at once; too slow: cancelled, 504; bad input: a JSON
        4xx; anything else a JSON 500 (the replica lives on).
        """
        limits = self.config.limits
        timer = asyncio.timeout(limits.request_timeout_s)
        try:
            with self.in_flight.place():
                async with timer:
                    response = await work()
        except Busy as exc:
            self.requests["refused"] += 1
            retry = str(limits.retry_after_s)
            return _error(503, f"busy: {exc}; retry after {retry} s", headers={"Retry-After": retry})
        except TimeoutError:
            if not timer.expired():
                raise
            self.requests["timed_out"] += 1
            return _error(504, f"no answer within the request timeout of {limits.request_timeout_s:g} s: cancelled")
        except StatesFormatError as exc:
            self.requests["client_errors"] += 1
            return _error(422, str(exc))
        except InputError as exc:
            self.requests["client_errors"] += 1
            return _error(status_for(exc), str(exc))
        except Exception as exc:  # a bug, or a resource failure: answer, log, keep serving
            log.exception("request failed")
            self.requests["server_errors"] += 1
            return _error(500, f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
        self.requests["ok"] += 1
        return response

    @api.get("/health")
    async def health(self) -> dict:
        return {
            "status": "ok",
            "models": sorted(self.models),
            "requests": dict(self.requests),
            "in_flight": {"now": self.in_flight.active, "peak": self.in_flight.peak, "limit": self.in_flight.limit},
            "replica_pid": os.getpid(),
        }

    @api.get("/models")
    async def models_info(self) -> dict:
        out = {}
        for name, handle in sorted(self.models.items()):
            info = await handle.info.remote()
            self._info[name] = info["model"]
            out[name] = info["model"].to_dict() | {k: v for k, v in info.items() if k != "model"}
            out[name]["max_map_voxels"] = {
                "enhance": self.config.limits.voxel_limit(1),
                "segment": self.config.limits.voxel_limit(segment_channels(info["model"], None)),
            }
        return {"models": out, "limits": self.config.limits.model_dump(), "batching": self.config.batching.model_dump()}

    @api.post("/enhance")
    async def enhance(self, request: Request, model: str | None = None, head: str | None = None) -> Response:
        async def work() -> Response:
            info, handle = await self._model(model)
            config = self._with_limits(1)
            body = await read_body(request, config.limits)
            data = await handlers.enhance(config, info, handle, body, head)
            return Response(data, media_type="application/octet-stream")

        return await self._answer(work)

    @api.post("/segment")
    async def segment(self, request: Request, model: str | None = None, heads: str | None = None) -> Response:
        async def work() -> Response:
            info, handle = await self._model(model)
            chosen = [h for h in heads.split(",") if h] if heads else None
            config = self._with_limits(segment_channels(info, chosen))
            body = await read_body(request, config.limits)
            data = await handlers.segment(config, info, handle, body, chosen)
            return Response(data, media_type="application/zip")

        return await self._answer(work)

    @api.post("/build")
    async def build(self, request: Request, model: str | None = None) -> Response:
        async def work() -> Response:
            info, handle = await self._model(model)
            config = self._with_limits(1)  # Cα candidates and one slab of stitched maps, not whole maps
            body = await read_body(request, config.limits)
            text = await handlers.build_model(config, info, handle, body, self._alignment_pool())
            return Response(text, media_type="chemical/x-mmcif")

        return await self._answer(work)


def config_from_args(args: Mapping[str, object]) -> ServeConfig:
    """The config from builder args: ``{"config": PATH, "set": [KEY=VALUE, ...]}``, or the settings inline.

    Raises:
        ConfigError: invalid settings.
    """
    if "config" in args:
        extra = sorted(set(args) - {"config", "set"})
        if extra:
            raise ConfigError(
                "args", f"unknown builder argument(s) {extra}: give config (and set) or the settings inline"
            )
        sets = args.get("set") or []
        return load_config_with_sets(ServeConfig, str(args["config"]), [sets] if isinstance(sets, str) else list(sets))
    return validate_config(ServeConfig, dict(args), source="application args")


def build_app(args: Mapping[str, object] | ServeConfig) -> serve.Application:
    """The application: the ingress bound to one model deployment per configured model.

    Model references are resolved here (a registered model is downloaded once), so a bad
    registry fails at startup rather than at the first request.
    """
    config = args if isinstance(args, ServeConfig) else config_from_args(args)
    check_models(config)
    d, limits = config.deployments, config.limits
    # every call the map requests of all ingress replicas may have waiting at once
    calls = d.ingress_replicas * limits.max_requests_in_flight * config.batching.calls_in_flight
    batching = {
        "max_batch_size": config.batching.max_batch_size,
        "batch_wait_timeout_s": config.batching.batch_wait_timeout_s,
    }
    handles = {
        name: ModelServer.options(
            name=f"model-{name}",
            num_replicas=d.model_replicas,
            ray_actor_options={"num_cpus": d.model_num_cpus, "num_gpus": d.model_num_gpus},
            max_ongoing_requests=max(calls, 4 * config.batching.max_batch_size),
            user_config=batching,
        ).bind(
            name, ref, tracking_uri=config.tracking_uri, device=config.infer.device, precision=config.infer.precision
        )
        for name, ref in config.models.items()
    }
    return Gateway.options(
        num_replicas=d.ingress_replicas,
        ray_actor_options={"num_cpus": d.ingress_num_cpus},
        max_ongoing_requests=d.max_ongoing_requests,
        max_queued_requests=d.max_queued_requests,
        backpressure_config={"status_code": 503, "retry_after_s": limits.retry_after_s},
    ).bind(config.model_dump(mode="json"), handles)


def serve_application(config: ServeConfig, *, route_prefix: str = "/") -> DeploymentHandle:
    """Start Serve's HTTP proxy on ``config.host:config.port`` and deploy the application (non-blocking).

    The proxy's own timeout (408) is a backstop 30 s after the ingress's (504): a client can lift
    the proxy's with a header (``x-request-timeout-seconds``), not the ingress's.
    """
    timeout = config.limits.request_timeout_s + 30.0
    serve.start(http_options={"host": config.host, "port": config.port, "request_timeout_s": timeout})
    return serve.run(build_app(config), name=config.name, route_prefix=route_prefix, blocking=False)
