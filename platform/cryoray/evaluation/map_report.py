"""One map's evaluation in the field's terms: half-map FSC, map–model FSC, map–model correlations, Q-scores.

The model map is simulated on the map's own grid at the map's resolution (CryoTEN eq. 1, as
:func:`~cryoray.labels.simulate.simulate_map` computes it), so every number compares voxels of
one frame: nothing is resampled except a mask given on another grid. The resolution is the one
given, else the half-map FSC's 0.143 crossing; model-map metrics need one (Q-scores do not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cryoray.errors import ConfigError, MapValueError
from cryoray.io.density_map import DensityMap
from cryoray.io.models import AtomTable
from cryoray.labels.simulate import check_resolution, simulate_map
from cryoray.metrics.grids import check_same_frame
from cryoray.metrics.map_model import MapModelCorrelations, cc_mask_radius, map_model_correlations
from cryoray.metrics.qscore import QScoreReport, expected_q_score, q_score
from cryoray.metrics.shell_correlation import FscCurve, fsc
from cryoray.preprocessing.masks import zone_mask

__all__ = ["MapEvaluation", "evaluate_map"]


@dataclass(frozen=True)
class MapEvaluation:
    """What :func:`evaluate_map` measured; a part is None when its inputs were not given.

    Args:
        resolution: Å used for the model map and the expected Q (given, or from the half maps).
        resolution_source: ``"given"`` or ``"half-map FSC"`` (None without a resolution).
        fsc: FSC between the half maps.
        map_model_fsc: FSC between the map and the model map.
        cc: CC_box, CC_mask, CC_volume, CC_peaks.
        q: Q-scores of the model's atoms in the map.
        model_map: the simulated model map (for pictures), on the map's grid.
    """

    resolution: float | None
    resolution_source: str | None
    fsc: FscCurve | None
    map_model_fsc: FscCurve | None
    cc: MapModelCorrelations | None
    q: QScoreReport | None
    model_map: DensityMap | None

    def to_dict(self, map_source: str, model_source: str | None = None) -> dict[str, object]:
        """The report ``cryoray evaluate`` prints: only the keys whose inputs were given."""
        out: dict[str, object] = {"map": map_source}
        if model_source is not None:
            out["model"] = model_source
        if self.resolution is not None:
            out["resolution"] = round(self.resolution, 4)
        if self.fsc is not None:
            out["fsc"] = self.fsc.to_dict()
        if self.map_model_fsc is not None:
            out["map_model_fsc"] = self.map_model_fsc.to_dict()
        if self.cc is not None:
            c = self.cc
            out["cc"] = {
                k: round(v, 4)
                for k, v in (("box", c.cc_box), ("mask", c.cc_mask), ("volume", c.cc_volume), ("peaks", c.cc_peaks))
            }
        if self.q is not None:
            q = self.q.to_dict()
            expected = None if self.resolution is None else expected_q_score(self.resolution)
            expected = None if expected is None else round(expected, 4)
            out["q_score"] = {
                "mean": q["mean"],
                "expected": expected,
                **{k: q[k] for k in ("per_chain", "per_residue")},
            }
        return out

    def summary(self) -> dict[str, float | None]:
        """The headline numbers, flat (a benchmark's CSV columns): NaN-free, None where not measured."""
        row: dict[str, float | None] = {"resolution": self.resolution}
        if self.fsc is not None:
            row |= {"fsc_0_143": self.fsc.resolution_0143, "fsc_0_5": self.fsc.resolution_05}
        if self.map_model_fsc is not None:
            row |= {
                "map_model_fsc_0_143": self.map_model_fsc.resolution_0143,
                "map_model_fsc_0_5": self.map_model_fsc.resolution_05,
            }
        if self.cc is not None:
            row |= {
                "cc_box": self.cc.cc_box,
                "cc_mask": self.cc.cc_mask,
                "cc_volume": self.cc.cc_volume,
                "cc_peaks": self.cc.cc_peaks,
            }
        if self.q is not None:
            row |= {"q_score": self.q.overall}
            if self.resolution is not None:
                row["q_expected"] = expected_q_score(self.resolution)
        return {k: (None if v is None or not np.isfinite(v) else float(v)) for k, v in row.items()}


def _resolution(given: float | None, half: FscCurve | None, *, source: str) -> tuple[float | None, str | None]:
    if given is not None:
        try:
            return check_resolution(float(given)), "given"
        except ValueError as exc:
            raise ConfigError("--resolution", str(exc)) from exc
    if half is not None:
        if half.resolution_0143 is None:
            raise MapValueError(source, "the half-map FSC never falls below 0.143; give the resolution (--resolution)")
        return check_resolution(half.resolution_0143), "half-map FSC"
    return None, None


def evaluate_map(
    density: DensityMap,
    *,
    atoms: AtomTable | None = None,
    half_maps: tuple[DensityMap, DensityMap] | None = None,
    resolution: float | None = None,
    mask: np.ndarray | None = None,
    sources: dict[str, str] | None = None,
) -> MapEvaluation:
    """Evaluate ``density`` (and the model ``atoms`` placed in it, if given).

    Args:
        density: the map.
        atoms: the model's atoms (``read_model(...).atoms()``), in the map's frame.
        half_maps: two half maps on the map's grid, for the half-map FSC.
        resolution: Å; without it, the half-map FSC's 0.143 crossing.
        mask: weights in [0, 1] on the map's grid (:func:`~cryoray.evaluation.fsc_mask`), applied to both FSCs.
        sources: names for errors: ``map``, ``model``, ``half_map_1``, ``half_map_2``, ``mask``.

    Raises:
        GridMismatchError: a half map or the mask lies on another grid.
        ConfigError: model-map metrics without a resolution, or one out of range.
        MapValueError, EmptyModelError: unusable values, a model outside the map, no atoms.
    """
    names = {"map": "map", "model": "model", "half_map_1": "half map 1", "half_map_2": "half map 2", "mask": "mask"}
    names |= sources or {}
    half = None
    if half_maps is not None:
        first, second = half_maps
        check_same_frame(density, first, source=names["half_map_1"])
        half = fsc(first, second, mask=mask, source=names["half_map_2"], mask_source=names["mask"])
    r, r_source = _resolution(resolution, half, source=names["half_map_1"])
    map_model_curve = cc = q = model_map = None
    if atoms is not None:
        if r is None:
            raise ConfigError(
                "--resolution", "the model-map metrics need the map's resolution: give --resolution or --half-maps"
            )
        q = q_score(density, atoms, source=names["model"])
        model_map = simulate_map(atoms, density.frame, r)
        zone = zone_mask(density.frame, atoms.xyz, cc_mask_radius(r), source=names["model"])
        cc = map_model_correlations(density, model_map, zone, source=names["model"])
        map_model_curve = fsc(density, model_map, mask=mask, source=names["model"], mask_source=names["mask"])
    return MapEvaluation(
        resolution=r,
        resolution_source=r_source,
        fsc=half,
        map_model_fsc=map_model_curve,
        cc=cc,
        q=q,
        model_map=model_map,
    )
