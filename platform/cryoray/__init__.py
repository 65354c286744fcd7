"""cryoray: train and serve deep-learning models on cryo-EM density maps, on Ray."""

from __future__ import annotations

__version__ = "0.1.0"
