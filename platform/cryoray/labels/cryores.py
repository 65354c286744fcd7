"""CryoRes's training labels for one entry, on the prepared grid: global resolution, relative local resolution, mask.

As the CryoRes paper labels its maps (``shared/papers/cryores.txt``, "Training details"):

- global resolution: the resolution deposited in EMDB (the manifest's ``resolution``), one value
  for the whole entry;
- relative local resolution: a half-map estimate of the local resolution minus the global one.
  The paper uses ResMap; here cryoray's local-FSC estimator
  (:func:`cryoray.metrics.local_resolution.local_resolution`) on the two half maps, both first
  sampled onto the prepared grid (cubic), measured inside the molecular mask; 0 outside it;
- molecular mask: where a 4 Å map simulated from the fitted model
  (:func:`cryoray.labels.simulate.simulate_map`) is above a contour. The paper does not state the
  contour; here a fraction of the median simulated density at the atoms' centres, 0.05 by default:
  on haemoglobin (5ME2 in EMD-3488's box) that mask holds 71,000 Å³, about the molecule's volume
  (1.21 Å³ per dalton), where 0.2 holds 43,000 Å³.

On a 1 Å prepared grid the estimator cannot read finer than 2 Å (Nyquist), nor, with its
default 24-voxel box, coarser than 24 Å.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cryoray.errors import EmptyModelError
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.io.models import AtomTable
from cryoray.labels.simulate import simulate_map
from cryoray.metrics.grids import check_same_frame
from cryoray.metrics.local_resolution import local_resolution
from cryoray.preprocessing.resample import resample_onto

__all__ = [
    "CRYORES_LABEL_KINDS",
    "MASK_CONTOUR",
    "MASK_RESOLUTION",
    "CryoResLabels",
    "cryores_grids",
    "cryores_labels",
    "molecule_mask",
]

#: the store label kinds these labels fill; only ``relative_resolution`` needs half maps
CRYORES_LABEL_KINDS = ("global_resolution", "relative_resolution", "molecule_mask")

#: resolution (Å) of the simulated map the mask is drawn from (the paper's 4 Å)
MASK_RESOLUTION = 4.0
#: the mask's contour, as a fraction of the median simulated density at the atoms' centres
MASK_CONTOUR = 0.05


def molecule_mask(
    atoms: AtomTable, frame: GridFrame, *, resolution: float = MASK_RESOLUTION, contour: float = MASK_CONTOUR
) -> np.ndarray:
    """Boolean ``frame.shape``: voxels where ``atoms`` simulated at ``resolution`` Å reach ``contour``.

    ``contour`` is a fraction of the median simulated density at the voxels of the atoms' centres
    (those inside ``frame``), so it does not depend on the map's scale or the model's size.

    Raises:
        ValueError: ``contour`` outside (0, 1].
        EmptyModelError: no atom lies inside ``frame``.
    """
    if not 0 < contour <= 1:
        raise ValueError(f"`contour` must be within (0, 1], got {contour}")
    index = frame.nearest_voxel(atoms.xyz)
    index = index[frame.contains_index(index)]
    if not len(index):
        raise EmptyModelError("model", "no atom lies inside the map, so there is no molecular mask")
    simulated = simulate_map(atoms, frame, resolution).data
    level = contour * float(np.median(simulated[index[:, 0], index[:, 1], index[:, 2]]))
    return simulated >= level


@dataclass(frozen=True)
class CryoResLabels:
    """One entry's CryoRes labels on the prepared grid.

    Args:
        global_resolution: the entry's global resolution, Å.
        local: the half-map local resolution, Å, 0 outside the mask.
        mask: the molecular mask, boolean.
        box: the estimator's box edge in voxels.
    """

    global_resolution: float
    local: DensityMap
    mask: np.ndarray
    box: int

    @property
    def relative(self) -> np.ndarray:
        """Local minus global resolution inside the mask, 0 outside; float32, Å."""
        return np.where(self.mask, self.local.data - np.float32(self.global_resolution), 0).astype(np.float32)

    def grids(self) -> dict[str, np.ndarray]:
        """The label arrays by store kind: ``global_resolution`` (the value at every voxel),
        ``relative_resolution`` (Å) and ``molecule_mask`` (0 background, 1 molecule)."""
        shape = self.mask.shape
        return {
            "global_resolution": np.full(shape, self.global_resolution, dtype=np.float32),
            "relative_resolution": self.relative,
            "molecule_mask": self.mask.astype(np.uint8),
        }


def cryores_labels(
    halves: Sequence[DensityMap],
    atoms: AtomTable,
    frame: GridFrame,
    global_resolution: float,
    *,
    box: int = 24,
    stride: int | None = None,
    threshold: float = 0.5,
    mask_resolution: float = MASK_RESOLUTION,
    mask_contour: float = MASK_CONTOUR,
    source: str = "second half map",
) -> CryoResLabels:
    """CryoRes's labels of an entry on ``frame`` (its prepared grid) from its half maps and fitted model.

    Args:
        halves: the two half maps, on one grid (any grid; they are sampled onto ``frame``).
        atoms: the fitted model's atoms.
        frame: the prepared grid the labels lie on.
        global_resolution: the deposited resolution, Å.
        box, stride, threshold: the local-FSC estimator's settings, in voxels of ``frame``.
        mask_resolution, mask_contour: see :func:`molecule_mask`.
        source: how errors name the second half map.

    Raises:
        GridMismatchError: the halves lie on different grids.
        EmptyModelError: no atom inside ``frame``.
        ConfigError: estimator settings out of range.
    """
    if len(halves) != 2:
        raise ValueError(f"`halves` must be two half maps, got {len(halves)}")
    check_same_frame(halves[0], halves[1], source=source)
    mask = molecule_mask(atoms, frame, resolution=mask_resolution, contour=mask_contour)
    half1, half2 = (resample_onto(half, frame, order=3) for half in halves)
    result = local_resolution(half1, half2, mask=mask, box=box, stride=stride, threshold=threshold, source=source)
    return CryoResLabels(float(global_resolution), result.map, result.mask, result.box)


def cryores_grids(
    kinds: Sequence[str],
    atoms: AtomTable,
    frame: GridFrame,
    global_resolution: float,
    halves: Sequence[DensityMap] | None = None,
    *,
    source: str = "second half map",
) -> dict[str, np.ndarray]:
    """The CryoRes label arrays of ``kinds`` (some of :data:`CRYORES_LABEL_KINDS`) on ``frame``.

    The half maps are estimated (the costly part) only when ``relative_resolution`` is asked for.

    Raises:
        ValueError: an unknown kind, or ``relative_resolution`` without two half maps.
        As :func:`cryores_labels` otherwise.
    """
    unknown = sorted(set(kinds) - set(CRYORES_LABEL_KINDS))
    if unknown:
        raise ValueError(f"not CryoRes label kinds: {unknown}")
    if "relative_resolution" in kinds:
        if halves is None:
            raise ValueError("`relative_resolution` needs the entry's two half maps")
        grids = cryores_labels(halves, atoms, frame, global_resolution, source=source).grids()
    else:
        grids = {
            "global_resolution": np.full(frame.shape, global_resolution, dtype=np.float32),
            "molecule_mask": molecule_mask(atoms, frame).astype(np.uint8) if "molecule_mask" in kinds else None,
        }
    return {kind: grids[kind] for kind in kinds}
