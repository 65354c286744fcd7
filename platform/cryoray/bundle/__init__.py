"""Model bundles: a network as one self-describing directory, whoever trained it.

A bundle is a directory with ``model.safetensors`` (the weights) and ``bundle.json``: the
network config, its heads, the preprocessing it expects (voxel size, normalisation percentile,
tiling, blend, Cα candidates), its provenance and the weights' SHA-256, checked on every load
(:mod:`cryoray.bundle.format`). Training writes one into every checkpoint, ``cryoray
import-weights`` makes one from a published tool's checkpoint, and every inference front end
(CLI, batch inference, Serve) loads them, taking the preprocessing as its defaults.
"""

from __future__ import annotations

from cryoray.bundle.format import (
    BUNDLE,
    CLASSIFICATION_PERCENTILE,
    FORMAT,
    FORMAT_VERSION,
    REGRESSION_PERCENTILE,
    WEIGHTS,
    Bundle,
    HeadSpec,
    Preprocessing,
    provenance,
    read_bundle,
    sha256_file,
    write_bundle,
)

__all__ = [
    "BUNDLE",
    "CLASSIFICATION_PERCENTILE",
    "FORMAT",
    "FORMAT_VERSION",
    "REGRESSION_PERCENTILE",
    "WEIGHTS",
    "Bundle",
    "HeadSpec",
    "Preprocessing",
    "provenance",
    "read_bundle",
    "sha256_file",
    "write_bundle",
]
