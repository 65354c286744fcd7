"""Distributed ingest on a real local Ray: quarantine, byte-identical stores from local, S3 and
HTTP sources (and to an S3 store), and kill-and-resume."""

from __future__ import annotations

import functools
import gzip
import operator
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import numpy as np
import pytest
import s3fs

from cryoray.errors import InputError
from cryoray.io.models import read_model
from cryoray.pipelines.ingest import run_ingest
from cryoray.pipelines.ingest_config import IngestConfig
from cryoray.store import SubgridStore, store_info
from tests.support.data import BAD_INPUTS, ENTRIES, REAL, SMALL, local_rows, tree_bytes, write_manifest
from tests.support.servers import cluster_marker, http_server, stop_test_cluster

CONFIG = IngestConfig()


@pytest.fixture(scope="module")
def full_store(ray_local, tmp_path_factory) -> tuple[Path, dict]:
    """All real entries with models, plus three bad ones."""
    tmp = tmp_path_factory.mktemp("full")
    outside = tmp / "5me2_far.pdb"
    read_model(REAL / ENTRIES["EMD-3488"][1]).translated((500.0, 0, 0)).structure.write_pdb(str(outside))
    hb = ENTRIES["EMD-3488"]
    rows = [
        *local_rows(ENTRIES),
        ("BROKEN-MAP", BAD_INPUTS / "truncated_data.mrc", REAL / hb[1], "", 3.0),
        ("MISSING-MODEL", REAL / hb[0], tmp / "absent.pdb", "", 3.0),
        ("MODEL-ELSEWHERE", REAL / hb[0], outside, "", 3.2),
    ]
    store = tmp / "full.zarr"
    report = run_ingest(str(write_manifest(tmp / "manifest.csv", rows)), str(store), CONFIG)
    return store, report


def test_full_ingest_commits_good_entries_and_quarantines_bad(full_store) -> None:
    store, report = full_store
    assert sorted(report["ingested"]) == sorted(ENTRIES)
    reasons = {q["entry_id"]: q["error"] for q in report["quarantined"]}
    assert reasons == {
        "BROKEN-MAP": "MapFormatError",
        "MISSING-MODEL": "SourceError",
        "MODEL-ELSEWHERE": "ModelPlacementError",
    }
    info = store_info(store)
    assert info["schema_version"] == 2 and info["n_entries"] == 5
    assert info["n_subgrids"] == report["n_subgrids"] > 400
    assert {q["entry_id"] for q in info["quarantine"]} == set(reasons)
    assert info["arrays"]["input"]["dtype"] == "float16" and info["arrays"]["input"]["chunks"][0] == 32
    assert sorted(functools.reduce(operator.iadd, info["splits"].values(), [])) == sorted(ENTRIES)


def test_stored_labels_sit_on_density(full_store) -> None:
    store = SubgridStore.open(full_store[0])
    for entry in ("EMD-3488", "EMD-0093"):
        x = store.read(entry, "input").astype(np.float32)
        atom = store.read(entry, "atom")
        assert (atom == 1).sum() > 100
        # normalised input is clipped to [0, 1]: Cα voxels sit near the top, far above the boxes' mean
        assert x[atom == 1].mean() > 0.5
        assert x[atom == 1].mean() > 3 * x.mean()


def test_stored_boxes_trace_back_to_the_map(full_store) -> None:
    """Sub-grid i of an entry is the prepared map at origins[i] (tiling + frame metadata suffice)."""
    from cryoray.io import read_map
    from cryoray.preprocessing import prepare_map
    from cryoray.preprocessing.tiling import extract_box

    store = SubgridStore.open(full_store[0])
    meta = store.entry_metadata("EMD-21457")
    prepared, _ = prepare_map(read_map(REAL / ENTRIES["EMD-21457"][0]), CONFIG.prepare)
    assert meta["frame"] == prepared.frame.to_dict()
    origins, boxes = store.read("EMD-21457", "origins"), store.read("EMD-21457", "input")
    for i in (0, len(origins) - 1):
        expected = extract_box(prepared.data, origins[i], 32).astype(np.float16)
        np.testing.assert_array_equal(boxes[i], expected)


@pytest.fixture(scope="module")
def small_local(ray_local, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("small")
    store = tmp / "local.zarr"
    run_ingest(str(write_manifest(tmp / "m.csv", local_rows(SMALL))), str(store), CONFIG)
    return store


def test_ingest_from_s3_is_byte_identical(small_local, tmp_path) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="ingest-src")
    rows = []
    for entry, (m, mo, seq, res) in ((e, ENTRIES[e]) for e in SMALL):
        keys = []
        for rel in (m, mo, seq):
            key = f"{entry}/{Path(rel).name}"
            s3.upload_file(str(REAL / rel), "ingest-src", key)
            keys.append(f"s3://ingest-src/{key}")
        rows.append((entry, *keys, res))
    store = tmp_path / "s3src.zarr"
    report = run_ingest(str(write_manifest(tmp_path / "m.csv", rows)), str(store), CONFIG)
    assert report["quarantined"] == []
    assert tree_bytes(store) == tree_bytes(small_local)


def test_ingest_from_emdb_http_mirror_is_byte_identical(small_local, tmp_path) -> None:
    """Maps gzip'ed in EMDB's layout, models gzip'ed in the PDB's: same decompressed bytes, same store."""
    mirror = tmp_path / "mirror"
    rows = []
    for entry, (m, mo, seq, res) in ((e, ENTRIES[e]) for e in SMALL):
        number = entry.split("-")[1]
        pdb_id = Path(mo).stem[-4:].lower()
        files = {
            f"pub/databases/emdb/structures/{entry}/map/emd_{number}.map.gz": (REAL / m, True),
            f"pub/pdb/data/structures/divided/pdb/{pdb_id[1:3]}/pdb{pdb_id}.ent.gz": (REAL / mo, True),
            f"pub/pdb/fasta/{pdb_id}.fasta": (REAL / seq, False),
        }
        for rel, (src, compress) in files.items():
            (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
            (mirror / rel).write_bytes(gzip.compress(src.read_bytes()) if compress else src.read_bytes())
        rows.append((entry, *files, res))
    with http_server(mirror) as base:
        rows = [(e, *(f"{base}/{rel}" for rel in rels), res) for e, *rels, res in rows]
        store = tmp_path / "httpsrc.zarr"
        report = run_ingest(str(write_manifest(tmp_path / "m.csv", rows)), str(store), CONFIG)
    assert report["quarantined"] == []
    assert tree_bytes(store) == tree_bytes(small_local)


def test_store_on_s3_is_byte_identical(small_local, tmp_path) -> None:
    boto3.client("s3").create_bucket(Bucket="ingest-out")
    url = "s3://ingest-out/datasets/small.zarr"
    run_ingest(str(write_manifest(tmp_path / "m.csv", local_rows(SMALL))), url, CONFIG)
    assert store_info(url)["n_entries"] == 2
    fs = s3fs.S3FileSystem()
    fs.invalidate_cache()
    fs.get("ingest-out/datasets/small.zarr", str(tmp_path / "downloaded"), recursive=True)
    assert tree_bytes(tmp_path / "downloaded") == tree_bytes(small_local)


def _committed(store: Path) -> list[str]:
    try:
        return SubgridStore.open(store).entries
    except (OSError, ValueError, InputError):  # not made yet, or being made
        return []


def test_kill_and_resume_gives_identical_store(ray_local, tmp_path) -> None:
    """SIGKILL the ingest (driver and its Ray) after its first commit; a re-run completes it."""
    names = ("EMD-3488", "EMD-21457", "EMD-8249", "EMD-0093")
    manifest = write_manifest(tmp_path / "m.csv", local_rows(names))
    reference = tmp_path / "reference.zarr"
    run_ingest(str(manifest), str(reference), CONFIG)

    store = tmp_path / "killed.zarr"
    # Unique and short: Ray's socket paths must stay under 107 characters.
    ray_tmp = Path(tempfile.mkdtemp(prefix="cr", dir="/tmp"))
    marker = cluster_marker()
    env = {**os.environ, **marker, "RAY_TMPDIR": str(ray_tmp)}
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, "-m", "cryoray.cli.main", "-q", "ingest", str(manifest), "-o", str(store), "--num-cpus", "2"]
    log = tmp_path / "first_run.log"
    with open(log, "wb") as out:
        child = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not _committed(store) and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.2)
        assert child.poll() is None, f"ingest ended before it was killed:\n{log.read_text()[-2000:]}"
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        _stop_cluster(marker, ray_tmp)
    partial = _committed(store)
    assert 1 <= len(partial) < len(names), f"kill came too late or too early: {partial}"

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    _stop_cluster(marker, ray_tmp)
    assert done.returncode == 0, done.stderr[-2000:]
    assert tree_bytes(store) == tree_bytes(reference)


def _stop_cluster(marker: dict[str, str], ray_tmp: Path) -> None:
    """Stop the Ray processes the child started (they carry ``marker``), and their files."""
    stop_test_cluster(marker, str(ray_tmp))
    shutil.rmtree(ray_tmp, ignore_errors=True)


def test_sharper_simulated_and_wider_amino_acid_labels(tmp_path) -> None:
    """``simulated_resolution_scale`` makes the simulated label at that multiple of the entry's
    resolution (a sharper target for an enhancer), ``amino_acid_radius`` labels residue types
    around each Cα; the store records both, and neither at its default."""
    from cryoray.io import read_map
    from cryoray.labels import simulate_map
    from cryoray.pipelines.entry import ingest_entry
    from cryoray.pipelines.manifest import ManifestRow
    from cryoray.preprocessing import prepare_map
    from cryoray.preprocessing.tiling import extract_box
    from cryoray.store import StoreWriter

    map_path, model, _, resolution = ENTRIES["EMD-3488"]
    row = ManifestRow(
        entry_id="EMD-3488", map=str(REAL / map_path), model=str(REAL / model), sequence="", resolution=resolution
    )
    stores = {}
    for scale, radius in ((1.0, 0.0), (0.6, 1.5)):
        config = IngestConfig(
            labels=("simulated", "amino_acid"), simulated_resolution_scale=scale, amino_acid_radius=radius
        )
        stores[scale] = tmp_path / f"s{scale}.zarr"
        with StoreWriter(str(stores[scale]), config.layout()) as writer:
            ingest_entry(row, config, str(stores[scale]), config.layout())
            writer.commit("EMD-3488")
    sharp, plain = SubgridStore.open(stores[0.6]), SubgridStore.open(stores[1.0])
    assert sharp.settings["simulated_resolution_scale"] == 0.6 and sharp.settings["amino_acid_radius"] == 1.5
    assert not {"simulated_resolution_scale", "amino_acid_radius"} & set(plain.settings)
    labelled = [np.count_nonzero(s.read("EMD-3488", "amino_acid")) for s in (plain, sharp)]
    assert 10 * labelled[0] < labelled[1] < 20 * labelled[0]
    prepared, _ = prepare_map(read_map(REAL / map_path), CONFIG.prepare)
    expected = simulate_map(read_model(REAL / model).atoms(), prepared.frame, 0.6 * resolution).data
    origins, boxes = sharp.read("EMD-3488", "origins"), sharp.read("EMD-3488", "simulated")
    for i in (0, len(origins) // 2):
        np.testing.assert_allclose(boxes[i], extract_box(expected, origins[i], 32), rtol=1e-3, atol=1e-3)
    # sharper Gaussians of the same mass: higher peaks than at the map's resolution
    assert boxes.astype(np.float32).max() > 2 * plain.read("EMD-3488", "simulated").astype(np.float32).max()
