"""Manifests (CSV and JSON lines) and train/val/test splits with MMseqs2 clusters."""

from __future__ import annotations

import json

import pytest

from cryoray.config import load_config, validate_config
from cryoray.errors import ConfigError
from cryoray.pipelines.ingest_config import IngestConfig, SplitConfig
from cryoray.pipelines.manifest import read_manifest
from cryoray.pipelines.splits import assign_splits, sequence_groups
from cryoray.preprocessing import PrepareConfig


def test_csv_manifest_resolves_relative_paths(tmp_path) -> None:
    (tmp_path / "m.csv").write_text(
        "entry_id,map,model,sequence,resolution\n"
        "EMD-1,maps/a.map,s3://b/a.pdb,,3.5\n"
        "EMD-2,/abs/b.map,models/b.cif,seq/b.fasta,4\n"
    )
    rows = read_manifest(tmp_path / "m.csv")
    assert rows[0].map == str(tmp_path / "maps" / "a.map") and rows[0].model == "s3://b/a.pdb"
    assert rows[0].sequence is None and rows[1].sequence == str(tmp_path / "seq" / "b.fasta")
    assert rows[1].resolution == 4.0


def test_jsonl_manifest(tmp_path) -> None:
    lines = [{"entry_id": "EMD-1", "map": "http://h/a.map.gz", "model": "http://h/a.cif", "resolution": 2.9}]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    assert read_manifest(tmp_path / "m.jsonl")[0].map == "http://h/a.map.gz"


@pytest.mark.parametrize(
    "text,needle",
    [
        ("entry_id,map,resolution\nE,a,3\n", r"lacks column\(s\) model"),
        ("entry_id,map,model,sequence,resolution\nE,a,b,,-1\n", "line 2: resolution"),
        ("entry_id,map,model,sequence,resolution\nE,a,b,,3\nE,c,d,,3\n", "appears twice"),
        ("entry_id,map,model,sequence,resolution\nbad id!,a,b,,3\n", "entry_id"),
        ("", "empty"),
        ('{"entry_id": "E"\n', "not JSON"),
        ("entry_id,map,model,sequence,resolution\nE,a,b,,inf\n", "line 2: resolution: .*from 0.5 to 50, got inf"),
        ("entry_id,map,model,sequence,resolution\nE,a,b,,1e-300\n", "from 0.5 to 50, got 1e-300"),
        ("entry_id,map,model,sequence,resolution\nE,a,b,,nan\n", "from 0.5 to 50, got nan"),
        ("entry_id,map,model,sequence,resolution\nE,a,b,,51\n", "from 0.5 to 50, got 51"),
    ],
    ids=[
        "missing-column",
        "negative-resolution",
        "duplicate",
        "bad-id",
        "empty",
        "broken-json",
        "infinite-resolution",
        "tiny-resolution",
        "nan-resolution",
        "coarse-resolution",
    ],
)
def test_bad_manifests(tmp_path, text, needle) -> None:
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        read_manifest(path)


def test_entries_sharing_a_cluster_stay_together() -> None:
    hb_alpha = "VLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHFDLSHGSAQVKGHGKKVADALTNAVAHVDDMPNAL"
    other = "MEDLQKALEAQSRALRAELAAGASQSRRPRPPRQRDSSTSGDDSGRDSGGPRRRRGNRGRGQRRDWSRAPPPPEERQETR"
    sequences = {f"E{i:02d}": [other[i:] + other[:i] if i % 2 else hb_alpha[: 60 + i]] for i in range(20)}
    groups, tool = sequence_groups(sequences, SplitConfig())
    assert tool.startswith("mmseqs2")
    even = sorted(e for e in sequences if int(e[1:]) % 2 == 0)
    assert even in groups  # the 10 haemoglobin fragments cluster together
    resolutions = {e: 3.5 for e in sequences}
    method, assignment = assign_splits(resolutions, sequences, SplitConfig())
    assert {assignment[e] for e in even} == {assignment[even[0]]}
    assert set(assignment) == set(sequences) and method["n_groups"] == len(groups)


def test_splits_follow_fractions_within_resolution_strata() -> None:
    resolutions = {f"E{i:03d}": (2.5 if i < 50 else 5.0) for i in range(100)}
    _method, assignment = assign_splits(resolutions, {e: [] for e in resolutions}, SplitConfig(seed=3))
    for stratum in (range(50), range(50, 100)):
        names = [f"E{i:03d}" for i in stratum]
        counts = {s: sum(assignment[n] == s for n in names) for s in ("train", "val", "test")}
        assert counts == {"train": 40, "val": 5, "test": 5}
    assert assign_splits(resolutions, {e: [] for e in resolutions}, SplitConfig(seed=3))[1] == assignment


@pytest.mark.parametrize(
    "settings,needle",
    [
        ({"tiling": "c3s"}, "tiling"),
        ({"tiling": "custom", "box": 32}, "custom tiling needs box and stride"),
        ({"prepare": {"normalize": False}}, "normalize"),
        ({"labels": ["atom", "atom"]}, "repeat"),
        ({"labels": ["charge"]}, "labels.0"),
        ({"splits": {"fractions": [0.5, 0.5, 0.5]}}, "fractions"),
        ({"splits": {"resolution_edges": [4.0, 3.0, 6.0]}}, r"must increase strictly, got \[4.0, 3.0, 6.0\]"),
        ({"splits": {"resolution_edges": [3.0, 3.0]}}, "must increase strictly"),
        ({"splits": {"resolution_edges": [3.0, float("inf")]}}, "from 0.5 to 50, got inf"),
        ({"denoise_radius": 50.0}, "denoise_radius: Input should be less than or equal to 12"),
        ({"denoise_radius": 0}, "denoise_radius"),
        ({"prepare": {"voxel_size": float("inf")}}, "prepare.voxel_size: Input should be a finite number"),
    ],
)
def test_bad_ingest_configs(settings, needle) -> None:
    with pytest.raises(ConfigError, match=needle):
        validate_config(IngestConfig, settings, source="test.yaml")


def test_resolution_edges_are_checked_when_the_config_file_loads(tmp_path) -> None:
    """Unsorted edges used to pass and break the splits only after every entry was committed."""
    path = tmp_path / "ingest.yaml"
    path.write_text("ingest:\n  splits:\n    resolution_edges: [6.0, 3.0]\n")
    with pytest.raises(ConfigError, match=r"ingest\.splits\.resolution_edges") as info:
        load_config(IngestConfig, path, section="ingest")
    assert str(info.value).startswith(str(path))


def test_voxel_limit_does_not_change_the_store_layout() -> None:
    """Raising max_voxels is a resource choice: a store made with the default limit can be resumed."""
    raised = IngestConfig(prepare=PrepareConfig(max_voxels=1 << 34))
    assert raised.layout().to_attrs() == IngestConfig().layout().to_attrs()
    assert "max_voxels" not in IngestConfig().layout().to_attrs()["prepare"]


def test_mmseqs_that_runs_too_long_is_stopped_naming_the_setting() -> None:
    sequences = {"E1": ["MKVLAAGIVGLLLA"], "E2": ["MKVLAAGIVGLLLS"]}
    with pytest.raises(ConfigError, match=r"^splits\.mmseqs_timeout: mmseqs .* did not finish within 0\.001 s"):
        sequence_groups(sequences, SplitConfig(mmseqs_timeout=0.001))
