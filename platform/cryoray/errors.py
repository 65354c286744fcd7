"""Typed errors for bad input.

Every error a user can cause with a file, a URL or a config derives from :class:`InputError`.
It carries the offending source and a one-line reason, so the CLI can print
``SOURCE: reason`` and exit with code 2 without a traceback. Anything else that escapes is
a bug in cryoray and is allowed to crash loudly.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "EmptyModelError",
    "GridMismatchError",
    "InputError",
    "MapFormatError",
    "MapTooLargeError",
    "MapValueError",
    "ModelFormatError",
    "ModelPlacementError",
    "ModelReferenceError",
    "NonOrthogonalCellError",
    "SequenceFormatError",
    "SourceError",
    "UnsupportedMapError",
]


class InputError(Exception):
    """Bad user input: a file, URL or setting that cryoray cannot use.

    Args:
        source: the file, URL or config key the problem is in.
        reason: one line saying what is wrong.
    """

    def __init__(self, source: object, reason: str) -> None:
        self.source = str(source)
        self.reason = " ".join(str(reason).split())  # always one line
        super().__init__(f"{self.source}: {self.reason}")


class SourceError(InputError):
    """The source cannot be opened or read (missing file, network failure, bad URL)."""


class MapFormatError(InputError):
    """The bytes are not a valid MRC/CCP4 map (bad header, truncated, size mismatch, bad gzip)."""


class UnsupportedMapError(InputError):
    """A valid map that cryoray does not handle (complex or 4-bit modes, ...)."""


class NonOrthogonalCellError(UnsupportedMapError):
    """The unit cell is not orthogonal; placing atoms would need the full cell matrix."""


class MapTooLargeError(InputError):
    """The header asks for more voxels than the configured limit allows."""


class MapValueError(InputError):
    """The map's values are unusable (NaN/Inf, no voxels, nothing positive to normalise)."""


class GridMismatchError(MapValueError):
    """Two maps (or a map and a mask) that must share one grid do not: compared voxel by voxel,
    they would compare different places in space."""


class ModelFormatError(InputError):
    """The atomic model file cannot be parsed as PDB or mmCIF."""


class EmptyModelError(InputError):
    """The atomic model parses but holds no atoms (or no atoms of the kind asked for)."""


class ModelPlacementError(InputError):
    """The atomic model does not lie in the map's box."""


class SequenceFormatError(InputError):
    """The sequence file is not usable FASTA (no records, empty or invalid sequences)."""


class ConfigError(InputError):
    """A setting is missing, unknown or out of range; the source names the key (and file)."""


class ModelReferenceError(InputError):
    """A model reference cannot be used: no checkpoint or bundle there, an unknown registered model,
    weights that do not load or do not match their bundle's checksum."""
