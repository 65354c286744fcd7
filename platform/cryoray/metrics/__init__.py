"""Measures of maps and models: fit of a model in a map (more come with training)."""

from __future__ import annotations

from cryoray.metrics.fit import FitReport, fit_check

__all__ = ["FitReport", "fit_check"]
