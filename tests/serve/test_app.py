"""The Serve application over real HTTP on 127.0.0.1: good, malformed and oversized requests."""

from __future__ import annotations

import base64
import gzip
import io
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gemmi
import numpy as np
import pytest

from cryoray.io import read_map
from cryoray.sample import haemoglobin
from tests.support.data import BAD_INPUTS, REAL_MAPS, real

MAP = real(REAL_MAPS["8249-negstart"])  # 24³ voxels of 5.28 Å, negative NSTART


def _read_mrc(data: bytes, tmp_path: Path, name: str = "out.mrc"):
    path = tmp_path / name
    path.write_bytes(data)
    return read_map(path)


def test_health_and_models(served) -> None:
    health = served.get("/health").json()
    assert health["status"] == "ok" and health["models"] == ["c2s2", "enhance"]
    models = served.get("/models").json()["models"]
    assert models["enhance"]["box"] == 16 and models["c2s2"]["box"] == 32
    assert {h["name"] for h in models["c2s2"]["heads"]} == {"atom", "amino_acid"}
    assert models["c2s2"]["parameters"] > 0 and models["c2s2"]["reference"].endswith("segformer")


def test_enhance_returns_a_map_on_the_inputs_frame(served, tmp_path) -> None:
    response = served.post("/enhance?model=enhance", data=MAP.read_bytes())
    assert response.status_code == 200, response.text
    out = _read_mrc(response.content, tmp_path)
    source = read_map(MAP)
    assert out.data.shape == source.data.shape
    assert out.frame.same_as(source.frame)
    assert np.isfinite(out.data).all()


def test_enhance_takes_gzip(served, tmp_path) -> None:
    response = served.post("/enhance?model=enhance", data=gzip.compress(MAP.read_bytes()))
    assert response.status_code == 200, response.text
    assert _read_mrc(response.content, tmp_path).data.shape == (24, 24, 24)


def test_segment_returns_probability_maps(served, tmp_path) -> None:
    response = served.post("/segment?model=c2s2&heads=atom", data=MAP.read_bytes())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = sorted(archive.namelist())
        maps = {n: _read_mrc(archive.read(n), tmp_path, n) for n in names}
    assert names == ["atom_C.mrc", "atom_CA.mrc", "atom_N.mrc", "atom_background.mrc"]
    total = sum(m.data for m in maps.values())
    assert np.allclose(total, 1.0, atol=1e-3)  # probabilities, back on the input's grid
    assert maps["atom_CA.mrc"].frame.same_as(read_map(MAP).frame)


def test_build_returns_an_mmcif_model(served) -> None:
    sample = haemoglobin()
    body = {"map": base64.b64encode(sample.map.read_bytes()).decode(), "sequence": sample.sequence.read_text()}
    response = served.post("/build?model=c2s2", json=body)
    assert response.status_code == 200, response.text
    structure = (
        gemmi.read_structure_string(response.text, format=gemmi.CoorFormat.Mmcif)
        if hasattr(gemmi, "read_structure_string")
        else None
    )
    if structure is None:
        structure = gemmi.make_structure_from_block(gemmi.cif.read_string(response.text).sole_block())
    atoms = [a for chain in structure[0] for r in chain for a in r]
    assert atoms and all(a.name == "CA" for a in atoms)
    assert {chain.name for chain in structure[0]} <= {"A", "B", "C", "D"}


def test_concurrent_requests_are_batched_together(served) -> None:
    data = MAP.read_bytes()
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: served.post("/enhance?model=enhance", data=data).status_code, range(8)))
    assert codes == [200] * 8
    batches = served.get("/models").json()["models"]["enhance"]["boxes_per_batch"]
    # one request keeps a single call of 2 boxes in flight: a batch of more boxes merged requests
    assert max(int(size) for size in batches) > served.config.batching.boxes_per_call, batches


def _header(nx: int, ny: int, nz: int, mode: int = 2) -> bytes:
    head = np.zeros(256, dtype="<i4")
    head[0:3] = nx, ny, nz
    head[3] = mode
    head[7:10] = nx, ny, nz
    cella = np.array([nx, ny, nz], dtype="<f4")
    head[10:13] = cella.view("<i4")
    head[13:16] = np.array([90, 90, 90], dtype="<f4").view("<i4")
    head[16:19] = 1, 2, 3
    raw = bytearray(head.tobytes())
    raw[208:212] = b"MAP "
    raw[212:216] = b"\x44\x44\x00\x00"
    return bytes(raw)


def _nan_map() -> bytes:
    data = np.ones((8, 8, 8), dtype="<f4")
    data[3, 3, 3] = np.nan
    return _header(8, 8, 8) + data.tobytes()


def _gzip_bomb() -> bytes:
    # a valid 8³ header, then 200 MB of zeros that compress to ~200 KB
    stream = io.BytesIO()
    with gzip.GzipFile(fileobj=stream, mode="wb", compresslevel=9) as gz:
        gz.write(_header(8, 8, 8))
        block = bytes(1 << 20)
        for _ in range(200):
            gz.write(block)
    return stream.getvalue()


MALFORMED = {
    "not-mrc": (b"hello, this is not a map" * 100, 400, "MRC/CCP4"),
    "empty": (b"", 400, "empty body"),
    "truncated": (real(REAL_MAPS["8249-negstart"]).read_bytes()[:20_000], 400, "bytes"),
    "nan": (_nan_map(), 400, "NaN"),
    "corrupt-gzip": (b"\x1f\x8b\x08\x00" + bytes(range(256)) * 8, 400, "gzip"),
    "complex-mode": (_header(8, 8, 8, mode=4) + bytes(8 * 8 * 8 * 8), 400, "mode 4"),
    "huge-header": (_header(4000, 4000, 4000), 413, "voxels"),
    "long-axis": (_header(200, 2, 2) + bytes(200 * 2 * 2 * 4), 413, "per axis"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED), ids=sorted(MALFORMED))
def test_malformed_maps_get_json_errors(served, case) -> None:
    body, status, words = MALFORMED[case]
    response = served.post("/enhance?model=enhance", data=body)
    assert response.status_code == status, response.text
    assert words.lower() in response.json()["error"].lower()


def test_gzip_bomb_is_refused(served) -> None:
    response = served.post("/enhance?model=enhance", data=_gzip_bomb())
    assert response.status_code == 400 and "data continues past" in response.json()["error"]


#: Every map-like file of tests/bad_inputs and its answer: 413 above a limit (checked on the header,
#: before any voxel is read), 400 for anything else (see bad_inputs/manifest.json for why each is bad).
HOSTILE = {
    "absurd_dims.mrc": 413,
    "bad_axis_order.mrc": 400,
    "binary.cif.gz": 400,
    "complex_mode.mrc": 400,
    "constant_map.mrc": 400,
    "corrupt_gzip.mrc.gz": 400,
    "dims_disagree.mrc": 400,
    "empty_file.mrc": 400,
    "extra_data.mrc": 400,
    "gzip_bomb_dims.mrc.gz": 413,
    "header_only_part.mrc": 400,
    "gzip_huge_extended_header.mrc.gz": 413,
    "huge_extended_header.mrc": 413,
    "huge_voxel_size.mrc": 413,
    "inf_values.mrc": 400,
    "just_under_int_overflow.mrc": 413,
    "mode_int16_but_float_data.mrc": 400,
    "nan_values.mrc": 400,
    "negative_dims.mrc": 400,
    "non_orthogonal.mrc": 400,
    "text_named_mrc.mrc": 400,
    "truncated_data.mrc": 400,
    "truncated_gzip.mrc.gz": 400,
    "unknown_mode.mrc": 400,
    "zero_cell.mrc": 400,
    "zero_dims.mrc": 400,
}


def test_hostile_files_from_bad_inputs_get_their_4xx(served) -> None:
    assert sorted(HOSTILE) == sorted(p.name for p in BAD_INPUTS.iterdir() if p.suffix in (".mrc", ".map", ".gz"))
    answers = {}
    for name in sorted(HOSTILE):
        response = served.post("/enhance?model=enhance", data=(BAD_INPUTS / name).read_bytes())
        answers[name] = response.status_code
        assert response.json()["error"], (name, response.text)
    assert answers == HOSTILE


def test_oversized_bodies_get_413(served) -> None:
    limit = served.config.limits.max_request_bytes
    response = served.post("/enhance?model=enhance", data=bytes(limit + 1))
    assert response.status_code == 413 and "limit" in response.json()["error"]
    chunked = served.post("/enhance?model=enhance", data=iter([bytes(1 << 20)] * (limit // (1 << 20) + 2)))
    assert chunked.status_code == 413  # no Content-Length: counted while it streams in


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("", "name a model"),
        ("?model=nope", "unknown model"),
        ("?model=../../etc/passwd", "unknown model"),
        ("?model=/tmp", "unknown model"),
        ("?model=c2s2", "no regression head"),
    ],
    ids=["no-model", "unknown", "path-traversal", "absolute-path", "wrong-kind"],
)
def test_models_come_from_the_registry_only(served, query, words) -> None:
    response = served.post(f"/enhance{query}", data=MAP.read_bytes())
    assert response.status_code == 400 and words in response.json()["error"]


def test_bad_build_requests(served) -> None:
    sample = haemoglobin()
    good_map = base64.b64encode(MAP.read_bytes()).decode()
    cases = [
        (b"not json", 400, "not JSON"),
        (b'{"map": "AAAA"}', 400, "expected a JSON object"),
        (b'{"map": "%%%", "sequence": ">A\\nAAA"}', 400, "base64"),
        (f'{{"map": "{good_map}", "sequence": "MKV no header"}}'.encode(), 400, "FASTA"),
        (f'{{"map": "{good_map}", "sequence": ">A\\nAC1?!"}}'.encode(), 400, "sequence"),
        (f'{{"map": "{good_map}", "sequence": ">A\\n{"A" * 1001}"}}'.encode(), 413, "residues"),
    ]
    for body, status, words in cases:
        response = served.post("/build?model=c2s2", data=body, headers={"content-type": "application/json"})
        assert response.status_code == status, (body[:40], response.text)
        assert words.lower() in response.json()["error"].lower(), response.text
    response = served.post("/build?model=enhance", json={"map": good_map, "sequence": sample.sequence.read_text()})
    assert response.status_code == 400 and "heads trained on" in response.json()["error"]


def test_the_replica_still_serves_after_bad_requests(served, tmp_path) -> None:
    served.post("/enhance?model=enhance", data=b"\x00" * 2000)
    served.post("/enhance?model=enhance", data=_nan_map())
    response = served.post("/enhance?model=enhance", data=MAP.read_bytes())
    assert response.status_code == 200
    health = served.get("/health").json()
    assert health["requests"]["server_errors"] == 0 and health["requests"]["client_errors"] > 0
