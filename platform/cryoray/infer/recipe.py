"""How maps are prepared, cut and blended for a set of models: decided once, from specs and settings.

Every front end builds one :class:`Recipe` (``Recipe.for_models(specs, infer_config)``) and takes
from it the preparation (grid, interpolation, normalisation percentile, mask), the tiling (by
the models' box) and the blend weights, so the CLI, the batch pipeline and Serve cut and
normalise a map the same way.

Each setting comes from one of three places, recorded in :meth:`Recipe.report`: the settings
(``option``: a flag, a config key, ``--set``), which override the models' bundles (``bundle``:
the preprocessing the network expects, :class:`~cryoray.bundle.Preprocessing`), else cryoray's
defaults (``default``: for models that state nothing, such as older checkpoint directories).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cryoray.bundle import Preprocessing
from cryoray.errors import ConfigError
from cryoray.infer.channels import ca_score_head
from cryoray.infer.config import InferConfig
from cryoray.infer.spec import ModelSpec
from cryoray.infer.stitching import Sink, Stitcher, TilePlan, blend_weights
from cryoray.modelbuild.config import BuildConfig, CandidateConfig
from cryoray.preprocessing.config import MaskConfig, PrepareConfig
from cryoray.preprocessing.tiling import Tiling

__all__ = ["Recipe", "tiling_for"]

#: the config key each setting is overridden with (for errors)
_KEYS = {
    "voxel_size": "infer.voxel_size",
    "percentile": "infer.percentile",
    "tiling": "infer.tiling",
    "blend": "infer.blend",
    "ca_threshold": "build.candidates.threshold",
    "cluster_radius": "build.candidates.cluster_radius",
}


@dataclass
class _Settings:
    """The recipe's settings as they are decided: each value, where it came from, and bundle values overridden."""

    specs: Sequence[ModelSpec]
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    overridden: dict[str, Any] = field(default_factory=dict)

    def bundled(self, name: str, *, needed: bool = True) -> Any:
        """The value of ``name`` the models' bundles state (None when none states one, or, when not
        ``needed``, when they disagree).

        Raises:
            ConfigError: a ``needed`` setting the bundles state differently (it must then be chosen).
        """
        found = []
        for spec in self.specs:
            value = None if spec.preprocessing is None else getattr(spec.preprocessing, name)
            if value is not None and value not in found:
                found.append(value)
        if len(found) > 1 and needed:
            shown = sorted(str(getattr(v, "name", v)) for v in found)
            raise ConfigError(_KEYS[name], f"the models' bundles expect different {name} ({', '.join(shown)}); set it")
        return found[0] if len(found) == 1 else None

    def pick(self, name: str, option: Any, default: Any) -> Any:
        """``option`` when set, else the bundles' value, else ``default``; recorded."""
        bundled = self.bundled(name, needed=option is None)
        if option is not None:
            value, source = option, "option"
            if bundled is not None:
                self.overridden[name] = bundled
        elif bundled is not None:
            value, source = bundled, "bundle"
        else:
            value, source = default, "default"
        self.record(name, value, source)
        return value

    def record(self, name: str, value: Any, source: str) -> None:
        self.values[name], self.sources[name] = value, source


def _box(specs: Sequence[ModelSpec]) -> int:
    boxes = {s.box for s in specs}
    if len(boxes) != 1:
        raise ConfigError("models", f"models take different boxes {sorted(boxes)}; use models with one box size")
    return boxes.pop()


def _tiling(settings: _Settings, config: InferConfig, box: int) -> Tiling:
    """The tiling (see :meth:`InferConfig.tiling_for`), recorded as ``tiling`` and its ``box``/``stride``/``core``.

    Raises:
        ConfigError: a tiling the tiler refuses, or one whose box the network cannot take.
    """
    bundled = settings.bundled("tiling", needed=config.tiling is None)
    try:
        tiling = config.tiling_for(box, bundled)
    except ValueError as exc:
        raise ConfigError("infer.tiling", str(exc)) from exc
    if tiling.box != box:
        raise ConfigError("infer.tiling", f"tiling '{tiling.name}' cuts {tiling.box}³ boxes but the model takes {box}³")
    base = "bundle" if bundled is not None else "default"
    set_here = (
        {"box", "stride", "core"}
        if config.tiling is not None
        else {key for key in ("box", "stride", "core") if getattr(config, key) is not None}
    )
    settings.record("tiling", tiling.name, "option" if set_here else base)
    for key in ("box", "stride", "core"):
        settings.record(key, getattr(tiling, key), "option" if key in set_here else base)
        if key in set_here and bundled is not None:
            settings.overridden[key] = getattr(bundled, key)
    if set_here and bundled is not None:
        settings.overridden["tiling"] = bundled.name
    return tiling


def tiling_for(specs: Sequence[ModelSpec], config: InferConfig) -> Tiling:
    """The tiling for these models (one box size for all of them).

    Raises:
        ConfigError: models with different boxes, or a tiling box the network cannot take.
    """
    return _tiling(_Settings(specs), config, _box(specs))


def _candidates(settings: _Settings, specs: Sequence[ModelSpec], option: CandidateConfig) -> CandidateConfig:
    """Cα candidate settings: ``option``'s where set, else the bundles', else by the Cα score's kind
    (a regressed heatmap: its local maxima above :attr:`~CandidateConfig.HEATMAP_THRESHOLD`; a
    softmax P(Cα): every voxel above :attr:`~CandidateConfig.THRESHOLD`); recorded."""
    head = ca_score_head(specs)
    heatmap = head is not None and head[1].label == "ca_heatmap"
    threshold = CandidateConfig.HEATMAP_THRESHOLD if heatmap else CandidateConfig.THRESHOLD
    if option.local_maxima is None:
        settings.record("ca_local_maxima", heatmap, "default")
    else:
        settings.record("ca_local_maxima", option.local_maxima, "option")
    return CandidateConfig(
        threshold=settings.pick("ca_threshold", option.threshold, threshold),
        cluster_radius=settings.pick("cluster_radius", option.cluster_radius, CandidateConfig.CLUSTER_RADIUS),
        local_maxima=heatmap if option.local_maxima is None else option.local_maxima,
    )


@dataclass(frozen=True)
class Recipe:
    """Preparation, tiling and blending for one set of models (and candidate selection for model building).

    Args:
        prepare: how the input map is prepared (grid, normalisation, mask).
        tiling: how the prepared map is cut.
        weights: blend weights over a box's kept region.
        build: model-building settings with the Cα candidates' threshold and radius decided
            (None when the recipe was made without ``build``).
        decided: where the settings came from (see :meth:`report`).
    """

    prepare: PrepareConfig
    tiling: Tiling
    weights: np.ndarray
    build: BuildConfig | None = None
    decided: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def for_models(
        cls,
        specs: Sequence[ModelSpec],
        config: InferConfig,
        *,
        mask: MaskConfig | None = None,
        build: BuildConfig | None = None,
    ) -> Recipe:
        """The recipe for ``specs`` under ``config``; ``mask`` zeroes the input outside it.

        Settings ``config`` (and ``build``'s candidates) leave unset come from the models'
        bundles, else from cryoray's defaults (:meth:`Preprocessing.assumed`: 99.999th percentile
        when every model has only regression heads, else the 95th; 1 Å; tiling by the box;
        constant blend; P(Cα) > 0.4 clustered within 2 Å; a heatmap's local maxima above 0.3).

        Raises:
            ConfigError: models with different boxes or different bundle values for a setting
                left unset, or a tiling the models cannot take.
        """
        settings = _Settings(specs)
        default = Preprocessing.assumed(regression_only=all(s.regression_only for s in specs))
        box = _box(specs)
        voxel_size = settings.pick("voxel_size", config.voxel_size, default.voxel_size)
        percentile = settings.pick("percentile", config.percentile, default.percentile)
        normalize = config.percentile is not None or all(
            s.preprocessing is None or s.preprocessing.normalize for s in specs
        )
        if not normalize:
            settings.record("percentile", None, "bundle")  # the network saw maps that were not normalised
        tiling = _tiling(settings, config, box)
        blend = settings.pick("blend", config.blend, default.blend)
        prepare = PrepareConfig(
            voxel_size=voxel_size, order=config.order, normalize=normalize, percentile=percentile, mask=mask
        )
        if build is not None:
            build = build.model_copy(update={"candidates": _candidates(settings, specs, build.candidates)})
        weights = blend_weights(tiling, blend, sigma_scale=config.sigma_scale)
        decided = {
            "preprocessing": settings.values,
            "preprocessing_from": settings.sources,
            "bundle_overridden": settings.overridden,
        }
        return cls(prepare, tiling, weights, build, decided)

    def report(self) -> dict[str, dict[str, Any]]:
        """Where the settings came from, for a command's output.

        ``preprocessing``: each setting's value; ``preprocessing_from``: ``bundle`` (the model's
        bundle), ``option`` (set explicitly) or ``default`` (cryoray's, the model states none);
        ``bundle_overridden``: the bundle's values that explicit settings replaced.
        """
        return {key: dict(values) for key, values in self.decided.items()}

    def plan(self, shape: Sequence[int]) -> TilePlan:
        """The boxes of a prepared map of ``shape`` (z, y, x)."""
        return TilePlan.for_shape(shape, self.tiling)

    def stitcher(
        self, plan: TilePlan, channels: int, sink: Sink, *, passes: int = 1, z_range: tuple[int, int] | None = None
    ) -> Stitcher:
        """A stitcher of ``plan`` (of its z-sections ``z_range``) with this recipe's blend weights."""
        return Stitcher(plan, channels, weights=self.weights, sink=sink, passes=passes, z_range=z_range)
