"""Reading and writing maps, atomic models and sequences, with their frames."""

from __future__ import annotations

from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.io.mrc import MapHeader, check_output, read_map, read_map_header, write_map

__all__ = ["DensityMap", "GridFrame", "MapHeader", "check_output", "read_map", "read_map_header", "write_map"]
