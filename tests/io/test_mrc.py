"""Map reading and writing: frames, modes, axis orders, byte orders, round trips, URLs."""

from __future__ import annotations

import gzip
import io
import itertools
import shutil

import mrcfile
import numpy as np
import pytest

from cryoray.errors import MapTooLargeError, NonOrthogonalCellError, SourceError
from cryoray.io import DensityMap, GridFrame, read_map, read_map_header, write_map
from cryoray.io.mrc import MAX_EXT_HEADER_BYTES, read_map_with_header
from tests.support.data import REAL_MAPS, real


@pytest.mark.parametrize("label", sorted(REAL_MAPS), ids=sorted(REAL_MAPS))
def test_every_real_map_opens(label: str) -> None:
    density = read_map(real(REAL_MAPS[label]))
    assert density.data.dtype == np.float32
    assert density.data.shape == density.frame.shape
    assert np.isfinite(density.data).all()
    assert density.stats()["std"] > 0


def test_non_orthogonal_microed_map_is_refused() -> None:
    with pytest.raises(NonOrthogonalCellError, match=r"94\.3"):
        read_map(real("EMD-3001_MicroED_header-edge-case/EMD-3001.map"))


def test_origin_and_nstart_variants_give_one_frame() -> None:
    """EMD-21457 saved with its position in ORIGIN and in NSTART: identical voxels and frame."""
    by_origin = read_map(real(REAL_MAPS["21457-origin"]))
    by_nstart = read_map(real(REAL_MAPS["21457-nstart"]))
    zero = read_map(real(REAL_MAPS["21457-orig0"]))
    assert by_origin.frame.same_as(by_nstart.frame, atol=1e-3)
    np.testing.assert_array_equal(by_origin.data, by_nstart.data)
    np.testing.assert_array_equal(by_origin.data, zero.data)
    assert zero.origin == (0.0, 0.0, 0.0)
    assert by_origin.origin[0] == pytest.approx(162.75, abs=1e-3)


def test_negative_nstart() -> None:
    header = read_map_header(real(REAL_MAPS["8249-negstart"]))
    assert header.frame.origin == pytest.approx((-12 * 5.28,) * 3, abs=1e-3)
    assert header.frame.shape_xyz == (24, 24, 24)


def test_header_only_read_matches_full_read() -> None:
    header = read_map_header(real(REAL_MAPS["0093-gz"]))
    full_header, density = read_map_with_header(real(REAL_MAPS["0093-gz"]))
    assert header == full_header
    assert header.frame == density.frame


FRAMES = {
    "cubic-zero": GridFrame((16, 16, 16), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)),
    "odd-whole-voxel-origin": GridFrame((7, 11, 13), (1.05, 1.05, 1.05), (-12 * 1.05, 3 * 1.05, 40 * 1.05)),
    "anisotropic-fractional-origin": GridFrame((9, 5, 12), (0.8, 1.3, 2.1), (10.37, -4.2, 0.55)),
    "single-slice": GridFrame((1, 6, 4), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0)),
}


@pytest.mark.parametrize("suffix", [".mrc", ".mrc.gz"])
@pytest.mark.parametrize("name", list(FRAMES), ids=list(FRAMES))
def test_write_read_round_trip_is_exact_and_valid(tmp_path, name: str, suffix: str) -> None:
    frame = FRAMES[name]
    rng = np.random.default_rng(1)
    density = DensityMap(rng.normal(size=frame.shape).astype(np.float32), frame)
    path = tmp_path / f"out{suffix}"
    write_map(path, density, labels=("round trip test",))
    back = read_map(path)
    np.testing.assert_array_equal(back.data, density.data)
    np.testing.assert_allclose(back.voxel_size, frame.voxel_size, rtol=1e-6)
    np.testing.assert_allclose(back.origin, frame.origin, atol=1e-4)
    assert "round trip test" in back.labels
    assert mrcfile.validate(str(path), print_file=io.StringIO())
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


def test_float16_output(tmp_path, make_map) -> None:
    density = make_map((6, 7, 8))
    write_map(tmp_path / "half.mrc", density, float16=True)
    header, back = read_map_with_header(tmp_path / "half.mrc")
    assert header.mode == 12
    np.testing.assert_allclose(back.data, density.data, rtol=1e-3, atol=1e-3)


def test_write_refuses_to_overwrite(tmp_path, make_map) -> None:
    path = tmp_path / "m.mrc"
    write_map(path, make_map(seed=1))
    with pytest.raises(SourceError, match="already exists"):
        write_map(path, make_map(seed=2))
    write_map(path, make_map(seed=2), overwrite=True)
    np.testing.assert_array_equal(read_map(path).data, make_map(seed=2).data)


def _write_raw(path, file_array: np.ndarray, *, axis_order, voxel_xyz, nstart_file, origin=(0, 0, 0), mode_dtype=None):
    """Write a file whose array is stored (sections, rows, columns) with the given MAPC/MAPR/MAPS."""
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(file_array if mode_dtype is None else file_array.astype(mode_dtype))
        n_file = (file_array.shape[2], file_array.shape[1], file_array.shape[0])  # nc, nr, ns
        mrc.header.mapc, mrc.header.mapr, mrc.header.maps = axis_order
        sampling_xyz = [0, 0, 0]
        for axis, n in zip(axis_order, n_file, strict=True):
            sampling_xyz[axis - 1] = n
        mrc.header.mx, mrc.header.my, mrc.header.mz = sampling_xyz
        mrc.header.cella = tuple(v * n for v, n in zip(voxel_xyz, sampling_xyz, strict=True))
        mrc.header.nxstart, mrc.header.nystart, mrc.header.nzstart = nstart_file
        mrc.header.origin = origin


@pytest.mark.parametrize("axis_order", list(itertools.permutations((1, 2, 3))), ids=str)
def test_any_axis_order_reads_as_zyx(tmp_path, axis_order) -> None:
    """A (z, y, x) array stored in any MAPC/MAPR/MAPS order reads back identical, same frame."""
    rng = np.random.default_rng(3)
    zyx = rng.normal(size=(5, 6, 7)).astype(np.float32)  # nz=5, ny=6, nx=7
    voxel_xyz = (1.1, 1.2, 1.3)
    start_xyz = (-3, 4, 10)
    mapc, mapr, maps = axis_order
    # Stored array axes are (sections, rows, columns) = (axis maps, axis mapr, axis mapc).
    zyx_axis = {3: 0, 2: 1, 1: 2}
    stored = np.ascontiguousarray(zyx.transpose(zyx_axis[maps], zyx_axis[mapr], zyx_axis[mapc]))
    nstart_file = (start_xyz[mapc - 1], start_xyz[mapr - 1], start_xyz[maps - 1])
    path = tmp_path / "perm.mrc"
    _write_raw(path, stored, axis_order=axis_order, voxel_xyz=voxel_xyz, nstart_file=nstart_file)
    header, density = read_map_with_header(path)
    assert header.axis_order == axis_order
    np.testing.assert_array_equal(density.data, zyx)
    np.testing.assert_allclose(density.voxel_size, voxel_xyz, rtol=1e-6)
    np.testing.assert_allclose(density.origin, np.array(start_xyz) * voxel_xyz, atol=1e-5)


def test_permuted_real_map_places_model_identically(tmp_path) -> None:
    """EMD-8249 rewritten with axis order 3,1,2 keeps every voxel's position."""
    density = read_map(real(REAL_MAPS["8249-negstart"]))
    stored = np.ascontiguousarray(density.data.transpose(1, 2, 0))  # sections=y, rows=x, columns=z
    start_xyz = np.rint(np.asarray(density.origin) / np.asarray(density.voxel_size)).astype(int)
    path = tmp_path / "permuted.map"
    _write_raw(
        path,
        stored,
        axis_order=(3, 1, 2),
        voxel_xyz=density.voxel_size,
        nstart_file=(start_xyz[2], start_xyz[0], start_xyz[1]),
    )
    back = read_map(path)
    assert back.frame.same_as(density.frame, atol=1e-3)
    np.testing.assert_array_equal(back.data, density.data)


@pytest.mark.parametrize(
    "dtype,mode",
    [(np.int8, 0), (np.int16, 1), (np.float32, 2), (np.uint16, 6), (np.float16, 12)],
    ids=["mode0-int8", "mode1-int16", "mode2-float32", "mode6-uint16", "mode12-float16"],
)
def test_modes(tmp_path, dtype, mode) -> None:
    values = np.arange(4 * 5 * 6).reshape(4, 5, 6) % 100
    path = tmp_path / "m.mrc"
    _write_raw(path, values.astype(dtype), axis_order=(1, 2, 3), voxel_xyz=(1, 1, 1), nstart_file=(0, 0, 0))
    header, density = read_map_with_header(path)
    assert header.mode == mode
    np.testing.assert_array_equal(density.data, values.astype(np.float32))


def test_big_endian_file(tmp_path) -> None:
    values = np.random.default_rng(5).normal(size=(4, 5, 6)).astype(">f4")
    path = tmp_path / "be.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(values)
        mrc.voxel_size = 1.5
    header, density = read_map_with_header(path)
    assert header.byte_order == ">"
    np.testing.assert_array_equal(density.data, values.astype(np.float32))


def test_gzip_detected_by_content_not_name(tmp_path) -> None:
    src = real(REAL_MAPS["8249-negstart"])
    disguised = tmp_path / "really_gzip.map"
    disguised.write_bytes(gzip.compress(src.read_bytes()))
    np.testing.assert_array_equal(read_map(disguised).data, read_map(src).data)


def test_file_url(tmp_path) -> None:
    src = tmp_path / "m.map"
    shutil.copy(real(REAL_MAPS["8249-negstart"]), src)
    assert read_map(f"file://{src}").frame == read_map(src).frame


def test_missing_file_is_a_source_error(tmp_path) -> None:
    with pytest.raises(SourceError, match="no such file") as info:
        read_map(tmp_path / "nope.mrc")
    assert str(tmp_path / "nope.mrc") in str(info.value)


def _gzip_map_with_extended_header(path, ext_bytes: int) -> None:
    """A valid gzip'ed 8³ map whose extended header (NSYMBT) holds ``ext_bytes`` zeros."""
    with mrcfile.new(path.with_suffix(""), overwrite=True) as mrc:
        mrc.set_data(np.arange(512, dtype=np.float32).reshape(8, 8, 8))
        mrc.voxel_size = 2.0
    raw = bytearray(path.with_suffix("").read_bytes())
    raw[92:96] = np.array([ext_bytes], dtype="<i4").tobytes()
    path.write_bytes(gzip.compress(bytes(raw[:1024]) + bytes(ext_bytes) + bytes(raw[1024:]), compresslevel=1))


def test_oversized_extended_header_is_refused_before_inflating_it(tmp_path) -> None:
    """A 32 MiB extended header compresses to ~32 KB; it was inflated and discarded, now refused."""
    path = tmp_path / "ext.mrc.gz"
    _gzip_map_with_extended_header(path, 32 << 20)
    assert path.stat().st_size < 1 << 20
    for read in (read_map, read_map_header):
        with pytest.raises(MapTooLargeError, match=f"NSYMBT\\) of {32 << 20} bytes is above the limit of {16 << 20}"):
            read(path)
    density = read_map(path, max_ext_header_bytes=64 << 20)  # the limit is configurable; the map is valid
    np.testing.assert_array_equal(density.data.ravel(), np.arange(512, dtype=np.float32))
    assert MAX_EXT_HEADER_BYTES == 16 << 20
