"""`cryoray local-resolution`: the output's frame, the --json contract, pictures, one-line errors with exit 2;
half maps, or one map with a (random-weight, tiny) CryoRes bundle.

No real half maps are available: halves are synthetic (a real map low-passed to 4 Å plus
independent noise per half, :func:`~cryoray.preprocessing.synthetic_halves.synthetic_halves`).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cryoray.cli.local_resolution import picture_paths
from cryoray.cli.main import main
from cryoray.io import read_map, write_map
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.preprocessing.synthetic_halves import synthetic_halves
from tests.support.data import BAD_INPUTS, REAL_MAPS, real
from tests.support.models import write_cryores_bundle, write_enhance_checkpoint

KEYS = ["output", "pictures", "unit", "median", "p5", "p25", "p75", "p95", "best_possible", "worst_possible"]


def write_halves(folder, density: DensityMap) -> list[str]:
    made = synthetic_halves(density, np.zeros(density.frame.shape, dtype=np.int64), [4.0], noise=3.0, seed=2)
    paths = [str(folder / "half1.mrc"), str(folder / "half2.mrc")]
    write_map(paths[0], made.half1)
    write_map(paths[1], made.half2)
    return paths


@pytest.fixture(scope="module")
def halves_3488(tmp_path_factory) -> list[str]:
    return write_halves(tmp_path_factory.mktemp("halves_3488"), read_map(real(REAL_MAPS["3488"])))


@pytest.fixture(scope="module")
def halves_with_origin(tmp_path_factory) -> list[str]:
    """EMD-21457's segment: 47 x 40 x 48 voxels (x, y, z) placed by ORIGIN, not at 0."""
    return write_halves(tmp_path_factory.mktemp("halves_21457"), read_map(real(REAL_MAPS["21457-origin"])))


def test_json_keys_pictures_and_mask_on_another_grid(tmp_path, capsys, halves_3488) -> None:
    out = tmp_path / "locres.mrc"
    mask = str(real(REAL_MAPS["3488-mask"]))  # 91 x 91 x 100: sampled onto the halves' grid
    assert main(["local-resolution", *halves_3488, "-o", str(out), "--mask", mask, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report)[: len(KEYS)] == KEYS
    assert report["unit"] == "Å" and report["box"] == 24 and report["threshold"] == 0.5
    assert report["output"] == str(out) and report["pictures"] == list(picture_paths(str(out)))
    assert report["p5"] <= report["p25"] <= report["median"] <= report["p75"] <= report["p95"]
    assert 3.0 < report["median"] < 4.5  # low-passed to 4 Å (see tests/metrics/test_local_resolution.py)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locres.mrc", "locres_histogram.png", "locres_slices.png"]
    written = read_map(out)
    assert written.frame == read_map(halves_3488[0]).frame
    assert int((written.data > 0).sum()) == report["n_voxels"]


def test_output_keeps_the_input_frame_exactly(tmp_path, capsys, halves_with_origin) -> None:
    out = tmp_path / "locres.mrc.gz"
    argv = ["local-resolution", *halves_with_origin, "-o", str(out), "--box", "16", "--threshold", "0.143"]
    assert main(argv) == 0
    lines = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert float(lines["threshold"]) == 0.143 and int(lines["box"]) == 16
    half = read_map(halves_with_origin[0])
    written = read_map(out)
    assert written.frame == half.frame and half.frame.origin != (0.0, 0.0, 0.0)
    assert (tmp_path / "locres_histogram.png").is_file() and (tmp_path / "locres_slices.png").is_file()
    assert np.all(written.data > 0)  # no mask: every voxel measured


def test_mismatched_halves_exit_2_with_one_line(tmp_path, capsys, halves_3488) -> None:
    half = read_map(halves_3488[1])
    moved = tmp_path / "moved.mrc"
    write_map(moved, DensityMap(data=half.data, frame=GridFrame(half.frame.shape, half.voxel_size, (2.1, 0, 0))))
    assert main(["local-resolution", halves_3488[0], str(moved), "-o", str(tmp_path / "out.mrc")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(moved) in err and "grid" in err
    assert not list(tmp_path.glob("out*"))


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--half2", str(BAD_INPUTS / "truncated_data.mrc")], "truncated_data.mrc"),
        (["--mask", str(BAD_INPUTS / "nan_values.mrc")], "nan_values.mrc"),
        (["--mask", "HALF1"], "mask values must be within [0, 1]"),
        (["--box", "4"], "--box"),
        (["--threshold", "1.5"], "--threshold"),
    ],
    ids=["corrupt-half", "nan-mask", "density-as-mask", "small-box", "bad-threshold"],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, halves_3488, args, named) -> None:
    half1, half2 = halves_3488
    if args[0] == "--half2":
        half2, args = args[1], []
    args = [half1 if a == "HALF1" else a for a in args]
    assert main(["local-resolution", half1, half2, "-o", str(tmp_path / "out.mrc"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err
    assert not list(tmp_path.iterdir())


def test_existing_output_is_refused_before_work(tmp_path, capsys, halves_3488) -> None:
    out = tmp_path / "locres.mrc"
    out.write_bytes(b"keep")
    assert main(["local-resolution", *halves_3488, "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"keep"


@pytest.fixture(scope="module")
def cryores_bundle(tmp_path_factory) -> str:
    return str(write_cryores_bundle(tmp_path_factory.mktemp("bundles") / "cryores"))


@pytest.fixture(scope="module")
def small_map(tmp_path_factory) -> str:
    """A 20 x 18 x 22 (x, y, z) map of 1.3 Å voxels placed off zero."""
    frame = GridFrame((22, 18, 20), (1.3, 1.3, 1.3), (5.2, -3.9, 2.6))
    data = np.random.default_rng(1).normal(size=frame.shape).astype(np.float32)
    path = tmp_path_factory.mktemp("maps") / "map.mrc"
    write_map(path, DensityMap(data, frame))
    return str(path)


def test_single_map_with_a_cryores_model(tmp_path, capsys, cryores_bundle, small_map) -> None:
    out = tmp_path / "locres.mrc"
    argv = ["local-resolution", small_map, "-o", str(out), "--model", cryores_bundle, "--device", "cpu", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report)[:8] == KEYS[:8]
    assert report["model"] == cryores_bundle and report["mask_threshold"] == 0.5
    assert (report["box"], report["stride"]) == (16, 8)  # the bundle's tiling
    assert report["tiling"] == "custom" and report["preprocessing_from"]["box"] == "bundle"
    written = read_map(out)
    assert written.frame == read_map(small_map).frame  # the input's frame exactly
    inside = written.data != 0
    assert report["n_voxels"] == int(inside.sum()) and 0 < inside.sum() < inside.size
    assert 3.0 < report["median"] < 7.0  # the global head's bias (5 Å) plus small random relative values
    assert (tmp_path / "locres_histogram.png").is_file() and (tmp_path / "locres_slices.png").is_file()


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["SECOND", "--model", "MODEL"], "one MAP with --model"),
        ([], "two half maps"),
        (["--model", "MODEL", "--threshold", "0.143"], "--threshold/--mask"),
        (["--model", "MODEL", "--mask-threshold", "0"], "--mask-threshold"),
    ],
    ids=["two-maps-with-model", "one-map-without-model", "fsc-threshold-with-model", "mask-threshold-0"],
)
def test_single_map_mode_refusals_exit_2_with_one_line(tmp_path, capsys, cryores_bundle, small_map, extra, named):
    argv = [
        "local-resolution",
        small_map,
        *[cryores_bundle if a == "MODEL" else small_map if a == "SECOND" else a for a in extra],
        "-o",
        str(tmp_path / "out.mrc"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err
    assert not list(tmp_path.glob("out*"))


def test_a_model_that_is_not_cryores_exits_2(tmp_path, capsys, small_map) -> None:
    bundle = write_enhance_checkpoint(tmp_path / "enhance")
    argv = ["local-resolution", small_map, "-o", str(tmp_path / "out.mrc"), "--model", str(bundle)]
    assert main(argv) == 2
    assert "not a CryoRes model" in capsys.readouterr().err
