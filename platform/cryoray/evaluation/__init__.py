"""Evaluating maps and models in the field's terms: the metrics of :mod:`cryoray.metrics` composed
with the simulator, masks and resampling of the layers below, one report per map.

* :func:`evaluate_map` (``map_report.py``): half-map FSC, map–model FSC, CC_box/mask/volume/peaks
  and Q-scores of one map (and optionally its model), as ``cryoray evaluate`` reports them;
* :func:`fsc_mask` (``masks.py``): a user's mask map put on the map's grid, its hard edge softened;
* :func:`save_pictures` (``pictures.py``): the report's FSC curves, Q along each chain, a slice.
"""

from __future__ import annotations

from cryoray.evaluation.map_report import MapEvaluation, evaluate_map
from cryoray.evaluation.masks import fsc_mask
from cryoray.evaluation.pictures import save_pictures

__all__ = ["MapEvaluation", "evaluate_map", "fsc_mask", "save_pictures"]
