"""Pictures people look at: map slices (more, such as training curves, come later)."""

from __future__ import annotations

from cryoray.viz.slices import save_slices

__all__ = ["save_slices"]
