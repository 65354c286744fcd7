"""Does a model sit in a map? The check that a map and its model share one frame."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cryoray.errors import MapValueError, ModelPlacementError
from cryoray.io.density_map import DensityMap
from cryoray.io.models import AtomicModel

__all__ = ["FitReport", "fit_check", "values_at"]


@dataclass(frozen=True)
class FitReport:
    """Result of :func:`fit_check`.

    Args:
        n_ca: number of Cα atoms in the model.
        n_inside: Cα atoms inside the box spanned by the map's voxel centres.
        fraction_inside: ``n_inside / n_ca``.
        mean_sigma_at_ca: mean over the Cα atoms inside of ``(value - mean) / std``, with the
            value of the voxel nearest each atom and mean/std over the whole map.
    """

    n_ca: int
    n_inside: int
    fraction_inside: float
    mean_sigma_at_ca: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def values_at(density: DensityMap, xyz: np.ndarray) -> np.ndarray:
    """Map values at the voxels nearest to positions ``(N, 3)`` in Å (x, y, z).

    Nearest voxel, not interpolation: it is the rule labels use to assign atoms to voxels, so
    the fit check measures exactly the density that labels will describe. Positions outside
    the box take the nearest edge voxel.
    """
    index = density.frame.nearest_voxel(np.asarray(xyz, dtype=np.float64).reshape(-1, 3))
    index = np.clip(index, 0, np.asarray(density.frame.shape) - 1)
    return density.data[index[:, 0], index[:, 1], index[:, 2]]


def fit_check(density: DensityMap, model: AtomicModel, *, source: str = "map") -> FitReport:
    """Measure how well the model's Cα atoms sit in the map's density.

    A model placed in its map has most Cα atoms inside the box, several σ above the mean;
    a shifted or foreign model has few inside or sits near the mean.

    Raises:
        EmptyModelError: the model has no Cα atoms.
        ModelPlacementError: no Cα atom lies inside the map's box.
        MapValueError: the map is constant (σ = 0).
    """
    ca = model.ca_xyz()
    inside = density.frame.contains(ca)
    n_inside = int(inside.sum())
    if n_inside == 0:
        lo = np.round(ca.min(axis=0), 1).tolist()
        hi = np.round(ca.max(axis=0), 1).tolist()
        box_lo = np.round(density.origin, 1).tolist()
        box_hi = np.round(density.frame.upper, 1).tolist()
        raise ModelPlacementError(
            model.source, f"no CA atom lies in the map (atoms span {lo}..{hi} Å, map box {box_lo}..{box_hi} Å)"
        )
    stats = density.stats()
    if stats["std"] == 0:
        raise MapValueError(source, "map is constant (standard deviation 0): no density to fit")
    sigma = (values_at(density, ca[inside]) - stats["mean"]) / stats["std"]
    return FitReport(
        n_ca=len(ca),
        n_inside=n_inside,
        fraction_inside=n_inside / len(ca),
        mean_sigma_at_ca=float(sigma.mean()),
    )
