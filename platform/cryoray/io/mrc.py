"""Reading and writing MRC/CCP4 maps with their frame.

The header is parsed with ``mrcfile``'s header layout, but the data block is read here, for
two reasons ``mrcfile`` does not cover: sources are any fsspec URL or gzip stream (not only
local paths), and every header field is checked *before* allocating, so a hostile header
cannot make us allocate terabytes or read past the end of a file.

Frame rules (see ``shared/data/real/README.md``): the axis order MAPC/MAPR/MAPS is applied so
the array is always ``(z, y, x)``; NC/NR/NS and NCSTART/NRSTART/NSSTART are per file axis;
voxel size is ``CELLA / (MX, MY, MZ)``; the centre of voxel ``i`` along an axis lies at
``ORIGIN + (NSTART + i) * voxel_size``. Cells that are not orthogonal are refused.
"""

from __future__ import annotations

import gzip
import math
import os
import tempfile
import zlib
from dataclasses import dataclass

import fsspec
import mrcfile
import numpy as np
from fsspec.implementations.local import LocalFileSystem
from mrcfile.dtypes import HEADER_DTYPE

from cryoray.errors import (
    MapFormatError,
    MapTooLargeError,
    MapValueError,
    NonOrthogonalCellError,
    SourceError,
    UnsupportedMapError,
)
from cryoray.io.atomic import replace_into_place
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.io.sources import READ_ERRORS, open_binary, source_size

__all__ = [
    "MAP_SUFFIXES",
    "MAX_EXT_HEADER_BYTES",
    "MAX_VOXELS",
    "MapHeader",
    "check_output",
    "read_map",
    "read_map_header",
    "read_map_with_header",
    "write_map",
]

#: Default limit on the number of voxels a map may have (2048 x 1024 x 512 = 1 Gi voxels,
#: 4 GiB as float32). Raise it explicitly for larger maps.
MAX_VOXELS = 1 << 30
#: Default limit on the extended header (NSYMBT). Real ones (FEI/EPU, symmetry records) hold
#: kilobytes to a few MB; a gzip'ed map declaring 1.9 GB made the reader inflate and discard
#: it (10 s of CPU for a 1.8 MB file).
MAX_EXT_HEADER_BYTES = 16 << 20
MAP_SUFFIXES = (".mrc", ".map", ".ccp4", ".mrcs", ".rec")

_HEADER_BYTES = 1024
_READ_CHUNK = 64 << 20
# Modes we read. 0 is read as signed int8 (MRC2014); 1 int16; 2 float32; 6 uint16; 12 float16.
_MODE_DTYPES = {0: "i1", 1: "i2", 2: "f4", 6: "u2", 12: "f2"}
_KNOWN_UNSUPPORTED = {3: "complex int16", 4: "complex float32", 101: "4-bit packed"}


@dataclass(frozen=True)
class MapHeader:
    """What the header says, already checked and converted to cryoray's conventions.

    Args:
        frame: the grid's frame (array shape ``(nz, ny, nx)``, vectors ``(x, y, z)``).
        mode: MRC mode number of the stored data.
        axis_order: ``(MAPC, MAPR, MAPS)``: which axis (1=x, 2=y, 3=z) runs along columns,
            rows and sections of the file.
        byte_order: ``"<"`` or ``">"``.
        ext_header_bytes: size of the extended header (NSYMBT).
        labels: the header's text labels.
    """

    frame: GridFrame
    mode: int
    axis_order: tuple[int, int, int]
    byte_order: str
    ext_header_bytes: int
    labels: tuple[str, ...]

    @property
    def file_shape(self) -> tuple[int, int, int]:
        """Array shape as stored: (sections, rows, columns)."""
        n_xyz = self.frame.shape_xyz
        mapc, mapr, maps = self.axis_order
        return n_xyz[maps - 1], n_xyz[mapr - 1], n_xyz[mapc - 1]

    @property
    def data_bytes(self) -> int:
        return self.frame.n_voxels * np.dtype(_MODE_DTYPES[self.mode]).itemsize

    def to_dict(self) -> dict[str, object]:
        return {
            **self.frame.to_dict(),
            "axis_order": list(self.axis_order),
            "mode": self.mode,
            "labels": list(self.labels),
        }


def _byte_order(raw: np.ndarray) -> str:
    try:
        return mrcfile.utils.byte_order_from_machine_stamp(raw["machst"][0])
    except ValueError:
        # Unrecognised machine stamp (seen in old files): the order whose mode is sane wins.
        little = int(raw.view(HEADER_DTYPE.newbyteorder("<"))["mode"][0])
        return "<" if 0 <= little < 1024 else ">"


def _parse_header(source: object, head: bytes, *, max_voxels: int, max_ext_header_bytes: int) -> MapHeader:
    if len(head) < _HEADER_BYTES:
        what = "empty" if not head else f"only {len(head)} bytes"
        raise MapFormatError(source, f"not an MRC map: file is {what}, shorter than the 1024-byte header")
    raw = np.frombuffer(head[:_HEADER_BYTES], dtype=HEADER_DTYPE)
    order = _byte_order(raw)
    h = raw.view(HEADER_DTYPE.newbyteorder(order))[0]
    stamped = bytes(h["map"]) == b"MAP "
    not_map = "" if stamped else " (no 'MAP ' stamp: is this an MRC/CCP4 file?)"

    mode = int(h["mode"])
    if mode in _KNOWN_UNSUPPORTED:
        raise UnsupportedMapError(source, f"mode {mode} ({_KNOWN_UNSUPPORTED[mode]}) is not a density map mode")
    if mode not in _MODE_DTYPES:
        raise MapFormatError(source, f"unknown data mode {mode}{not_map}")

    n_file = (int(h["nx"]), int(h["ny"]), int(h["nz"]))  # columns, rows, sections
    if min(n_file) < 0:
        raise MapFormatError(source, f"negative dimensions {n_file} in header{not_map}")
    if min(n_file) == 0:
        raise MapValueError(source, f"map has no voxels (dimensions {n_file})")
    n_voxels = math.prod(n_file)  # Python ints: no overflow for hostile headers
    if n_voxels > max_voxels:
        raise MapTooLargeError(
            source, f"header dimensions {n_file} give {n_voxels} voxels, above the limit of {max_voxels}{not_map}"
        )

    axis_order = (int(h["mapc"]), int(h["mapr"]), int(h["maps"]))
    if sorted(axis_order) != [1, 2, 3]:
        raise MapFormatError(source, f"axis order MAPC/MAPR/MAPS = {axis_order} is not a permutation of 1,2,3")

    angles = tuple(float(a) for a in h["cellb"].tolist())
    if angles != (0.0, 0.0, 0.0) and not np.allclose(angles, 90.0, atol=1e-3):
        raise NonOrthogonalCellError(
            source,
            f"non-orthogonal cell (angles {angles[0]:g}, {angles[1]:g}, {angles[2]:g}); "
            "cryoray only places atoms in orthogonal grids",
        )

    sampling = np.array([int(h["mx"]), int(h["my"]), int(h["mz"])], dtype=np.float64)
    cell = np.array([float(v) for v in h["cella"].tolist()])
    if np.any(sampling <= 0) or np.any(~np.isfinite(cell)) or np.any(cell <= 0):
        raise MapFormatError(
            source, f"cell {cell.tolist()} / sampling {sampling.astype(int).tolist()} give no valid voxel size"
        )
    voxel_size = cell / sampling

    n_xyz = [0, 0, 0]
    start_xyz = [0, 0, 0]
    starts = (int(h["nxstart"]), int(h["nystart"]), int(h["nzstart"]))  # per column, row, section
    for axis, n, start in zip(axis_order, n_file, starts, strict=True):
        n_xyz[axis - 1] = n
        start_xyz[axis - 1] = start
    origin_field = np.array([float(v) for v in h["origin"].tolist()])
    if not np.all(np.isfinite(origin_field)):
        raise MapFormatError(source, f"ORIGIN {origin_field.tolist()} is not finite")
    origin = origin_field + np.array(start_xyz) * voxel_size

    nsymbt = int(h["nsymbt"])
    if nsymbt < 0:
        raise MapFormatError(source, f"negative extended header size {nsymbt}")
    if nsymbt > max_ext_header_bytes:
        raise MapTooLargeError(
            source, f"extended header (NSYMBT) of {nsymbt} bytes is above the limit of {max_ext_header_bytes}{not_map}"
        )
    nlabl = min(max(int(h["nlabl"]), 0), 10)
    labels = tuple(
        s for s in (mrcfile.utils.printable_string_from_bytes(bytes(h["label"][i])).strip() for i in range(nlabl)) if s
    )
    frame = GridFrame(shape=(n_xyz[2], n_xyz[1], n_xyz[0]), voxel_size=tuple(voxel_size), origin=tuple(origin))
    return MapHeader(frame, mode, axis_order, order, nsymbt, labels)


def _skip(stream, n: int, source: object, what: str) -> None:
    """Read past ``n`` bytes (chunk by chunk, keeping nothing), or fail if the stream ends first."""
    remaining = n
    while remaining > 0:
        chunk = stream.read(min(remaining, _READ_CHUNK))
        if not chunk:
            raise MapFormatError(source, f"truncated: {what} needs {n} bytes, only {n - remaining} present")
        remaining -= len(chunk)


def _read_into(stream, out: np.ndarray, source: object, expected_total: int) -> None:
    view = memoryview(out).cast("B")
    done = 0
    while done < len(view):
        got = stream.readinto(view[done : done + _READ_CHUNK])
        if not got:
            raise MapFormatError(
                source,
                f"truncated: header describes {expected_total} bytes, file ends after {_HEADER_BYTES + done}"
                " (header + data so far); header dimensions or mode disagree with the file",
            )
        done += got


def read_map_header(
    source: str | os.PathLike, *, max_voxels: int = MAX_VOXELS, max_ext_header_bytes: int = MAX_EXT_HEADER_BYTES
) -> MapHeader:
    """Read and check only the header of a map (cheap, any size of map).

    Raises:
        SourceError, MapFormatError, UnsupportedMapError, NonOrthogonalCellError,
        MapTooLargeError, MapValueError.
    """
    with open_binary(source) as stream:
        try:
            head = stream.read(_HEADER_BYTES)
        except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
            raise MapFormatError(source, f"corrupt gzip data: {exc}") from exc
        except READ_ERRORS as exc:
            raise SourceError(source, f"cannot read header: {exc}") from exc
    return _parse_header(source, head, max_voxels=max_voxels, max_ext_header_bytes=max_ext_header_bytes)


def read_map(
    source: str | os.PathLike,
    *,
    max_voxels: int = MAX_VOXELS,
    max_ext_header_bytes: int = MAX_EXT_HEADER_BYTES,
    allow_nonfinite: bool = False,
) -> DensityMap:
    """Read an MRC/CCP4 map; see :func:`read_map_with_header` for arguments and errors."""
    return read_map_with_header(
        source, max_voxels=max_voxels, max_ext_header_bytes=max_ext_header_bytes, allow_nonfinite=allow_nonfinite
    )[1]


def read_map_with_header(
    source: str | os.PathLike,
    *,
    max_voxels: int = MAX_VOXELS,
    max_ext_header_bytes: int = MAX_EXT_HEADER_BYTES,
    allow_nonfinite: bool = False,
) -> tuple[MapHeader, DensityMap]:
    """Read an MRC/CCP4 map (optionally gzip) from a path or fsspec URL into memory.

    The array comes back float32 ``(z, y, x)`` whatever the stored mode and axis order.
    Memory: the stored data once, plus one float32 copy when the mode or axis order needs it.

    Args:
        source: local path or fsspec URL (``s3://``, ``http(s)://``, ``file://``).
        max_voxels: refuse headers describing more voxels than this (before allocating).
        max_ext_header_bytes: refuse extended headers (NSYMBT) larger than this (before reading them).
        allow_nonfinite: keep NaN/Inf values instead of refusing the map.

    Raises:
        SourceError: cannot open or read the source.
        MapFormatError: not a valid map (bad header, truncated, size mismatch, corrupt gzip).
        UnsupportedMapError / NonOrthogonalCellError: a map mode or cell cryoray does not handle.
        MapTooLargeError: more voxels than ``max_voxels``, or a larger extended header than
            ``max_ext_header_bytes``.
        MapValueError: no voxels, or NaN/Inf values.
    """
    with open_binary(source) as stream:
        try:
            head = stream.read(_HEADER_BYTES)
            header = _parse_header(source, head, max_voxels=max_voxels, max_ext_header_bytes=max_ext_header_bytes)
            expected = _HEADER_BYTES + header.ext_header_bytes + header.data_bytes
            stored = source_size(source)
            compressed = isinstance(stream, gzip.GzipFile)
            if stored is not None and not compressed and stored != expected:
                raise MapFormatError(
                    source,
                    f"file has {stored} bytes but the header (mode {header.mode}, dimensions "
                    f"{header.frame.shape_xyz}, extended header {header.ext_header_bytes}) describes {expected}",
                )
            _skip(stream, header.ext_header_bytes, source, "extended header")
            stored_dtype = np.dtype(_MODE_DTYPES[header.mode]).newbyteorder(header.byte_order)
            flat = np.empty(header.frame.n_voxels, dtype=stored_dtype)
            _read_into(stream, flat, source, expected)
            if compressed and stream.read(1):
                raise MapFormatError(source, f"data continues past the {expected} bytes the header describes")
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise MapFormatError(source, f"corrupt gzip data: {exc}") from exc
        except EOFError as exc:
            raise MapFormatError(source, f"truncated gzip stream: {exc}") from exc
        except READ_ERRORS as exc:
            raise SourceError(source, f"cannot read: {exc}") from exc

    data = flat.reshape(header.file_shape).astype(np.float32, copy=False)
    del flat
    # Array axes are (sections, rows, columns) = axes (MAPS, MAPR, MAPC); reorder to (z, y, x).
    file_axes = header.axis_order[::-1]
    data = np.ascontiguousarray(data.transpose([file_axes.index(3), file_axes.index(2), file_axes.index(1)]))
    if not allow_nonfinite and header.mode in (2, 12):
        n_bad = sum(int(np.count_nonzero(~np.isfinite(data[k : k + 16]))) for k in range(0, data.shape[0], 16))
        if n_bad:
            raise MapValueError(source, f"{n_bad} voxels are NaN or infinite")
    return header, DensityMap(data=data, frame=header.frame, labels=header.labels)


def _header_origin(frame: GridFrame) -> tuple[np.ndarray, np.ndarray]:
    """NSTART (x, y, z) and ORIGIN for writing; only one of them is ever non-zero.

    An origin on whole voxels goes into NSTART (as EMDB deposits do); any other goes into ORIGIN.
    Readers that honour either field then agree on the position.
    """
    voxels = np.asarray(frame.origin) / np.asarray(frame.voxel_size)
    whole = np.rint(voxels)
    if np.allclose(voxels, whole, atol=1e-4) and np.all(np.abs(whole) < 2**31):
        return whole.astype(np.int64), np.zeros(3)
    return np.zeros(3, dtype=np.int64), np.asarray(frame.origin)


def check_output(path: str | os.PathLike, *, overwrite: bool = False) -> tuple[fsspec.AbstractFileSystem, str]:
    """Refuse an existing output unless ``overwrite``; call before long work, not only after.

    Returns the filesystem and path the output will be written to.
    """
    fs, fs_path = fsspec.core.url_to_fs(os.fspath(path))
    if not overwrite and fs.exists(fs_path):
        raise SourceError(path, "already exists (pass overwrite=True / --overwrite to replace it)")
    return fs, fs_path


def write_map(
    path: str | os.PathLike,
    density: DensityMap,
    *,
    overwrite: bool = False,
    float16: bool = False,
    labels: tuple[str, ...] = (),
) -> None:
    """Write a map as MRC2014 (gzip if the name ends in ``.gz``) that keeps its frame.

    The file appears only when complete (written to a temporary name, then renamed or
    uploaded in one piece), so readers never see a half-written map.

    Args:
        path: local path or fsspec URL.
        density: the map.
        overwrite: replace an existing file.
        float16: store as mode 12 (half the size; ~3 significant digits) instead of mode 2.
        labels: extra provenance labels (at most 10 are kept, each cut to 80 characters).

    Raises:
        SourceError: the target exists (without ``overwrite``) or cannot be written.
    """
    fs, fs_path = check_output(path, overwrite=overwrite)
    gz = fs_path.endswith(".gz")
    local_dir = os.path.dirname(os.path.abspath(fs_path)) if isinstance(fs, LocalFileSystem) else None
    if local_dir is not None and not os.path.isdir(local_dir):
        raise SourceError(path, f"directory {local_dir} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".cryoray-", suffix=".mrc.gz" if gz else ".mrc", dir=local_dir)
    os.close(fd)
    try:
        with mrcfile.new(tmp, overwrite=True, compression="gzip" if gz else None) as mrc:
            mrc.set_data(np.asarray(density.data, dtype=np.float16 if float16 else np.float32))
            mrc.voxel_size = tuple(density.voxel_size)
            nstart, origin = _header_origin(density.frame)
            mrc.header.nxstart, mrc.header.nystart, mrc.header.nzstart = (int(v) for v in nstart)
            mrc.header.origin = tuple(float(v) for v in origin)
            mrc.header.ispg = 1
            all_labels = [s[:80] for s in (*density.labels, *labels)][-10:]
            mrc.header.nlabl = len(all_labels)
            for i, text in enumerate(all_labels):
                mrc.header.label[i] = text.encode("ascii", "replace")
            mrc.update_header_stats()
        if local_dir is not None:
            replace_into_place(tmp, fs_path)
        else:
            fs.put_file(tmp, fs_path)
    except OSError as exc:
        raise SourceError(path, f"cannot write: {exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
