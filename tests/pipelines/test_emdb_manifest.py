"""`cryoray manifest emdb`: EMDB v3 headers read safely, filters, the rejected list, and manifests
that ingest reads and whose maps open, from a real local HTTP mirror and from S3 (moto)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
import s3fs

from cryoray.cli.main import main
from cryoray.config import validate_config
from cryoray.errors import ConfigError, SourceError
from cryoray.infer.batch_config import BatchRow
from cryoray.io import read_map
from cryoray.io.models import read_model
from cryoray.io.sources import read_text
from cryoray.pipelines.emdb_manifest.entries import COLUMNS, EmdbFilters, check_entry
from cryoray.pipelines.emdb_manifest.header import MAX_HEADER_BYTES, HeaderFormatError, parse_header
from cryoray.pipelines.emdb_manifest.mirror import list_entries, normalise_entry_id
from cryoray.pipelines.manifest import read_manifest
from tests.support.emdb_mirror import BAD_HEADERS, EXPECTED, MirrorEntry, build_mirrors, emdb_header, upload_tree
from tests.support.servers import http_server

ALL = sorted(EXPECTED, key=lambda e: int(e.split("-")[1]))
WITH_MODEL = ["EMD-0093", "EMD-1883", "EMD-3488", "EMD-8249", "EMD-21457"]


@pytest.fixture(scope="module")
def mirrors(tmp_path_factory) -> tuple[Path, Path]:
    """The EMDB mirror (structures/) and the PDB mirror (pdb/) on disk."""
    return build_mirrors(tmp_path_factory.mktemp("mirrors"))


@pytest.fixture(scope="module")
def http_mirrors(mirrors) -> tuple[str, str]:
    """The same mirrors served over HTTP: (EMDB root URL, PDB root URL)."""
    with http_server(mirrors[0].parent) as base:
        yield f"{base}/structures", f"{base}/pdb"


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _run(capsys, *argv: str) -> tuple[int, dict, str]:
    code = main(["manifest", "emdb", *argv, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


# ---------------------------------------------------------------- headers


def test_header_fields_are_read_wherever_the_schema_puts_them() -> None:
    entry = MirrorEntry("EMD-8249", "subtomogramAveraging", 35.0, "2016-12-21", 5.28, "x", ("5KHE",), True)
    half = parse_header(emdb_header(entry).encode(), source="h")
    assert half.entry_id == "EMD-8249" and half.method == "subtomogramAveraging"
    assert half.resolution == 35.0 and half.released == date(2016, 12, 21)
    assert half.pdb_ids == ("5khe",) and half.map_file == "emd_8249.map.gz"
    assert half.pixel_spacing == (5.28, 5.28, 5.28)
    assert half.half_map_files == ("emd_8249_half_map_1.map.gz", "emd_8249_half_map_2.map.gz")
    entry = MirrorEntry("EMD-9005", "electronCrystallography", 3.0, "2022-02-02", 1.0, None)
    crystal = parse_header(emdb_header(entry).encode(), source="h")
    assert crystal.resolution == 3.0 and crystal.pdb_ids == () and crystal.half_map_files == ()
    prefixed = b'<e:emd xmlns:e="urn:x" emdb_id="EMD-1"><e:structure_determination_list><e:structure_determination>'
    prefixed += b"<e:method>helical</e:method><e:helical_processing><e:deep><e:final_reconstruction>"
    prefixed += b"<e:resolution>4.5</e:resolution></e:final_reconstruction></e:deep></e:helical_processing>"
    prefixed += b"</e:structure_determination></e:structure_determination_list></e:emd>"
    assert parse_header(prefixed, source="h").resolution == 4.5


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (BAD_HEADERS["EMD-9003"].encode(), "declares a DOCTYPE"),
        (b'<?xml version="1.0"?><!DOCTYPE emd SYSTEM "file:///etc/passwd"><emd/>', "declares a DOCTYPE"),
        (b'<?xml version="1.0"?><emd>&xxe;</emd>', "not well-formed XML: undefined entity"),
        (BAD_HEADERS["EMD-9001"].encode(), "not well-formed XML"),
        (b"<emd>" + b" " * MAX_HEADER_BYTES + b"</emd>", "larger than the limit"),
        (b"<html><body>404</body></html>", "root element is <html>"),
        (b"<emd><admin><key_dates><map_release>soon</map_release></key_dates></admin></emd>", "is not a date"),
        (b"<emd><map><file>../../../etc/passwd</file></map></emd>", "is not a plain file name"),
        (
            b"<emd><structure_determination_list><structure_determination><x><final_reconstruction>"
            b"<resolution>nan</resolution></final_reconstruction></x></structure_determination>"
            b"</structure_determination_list></emd>",
            "resolution 'nan' is not a positive number",
        ),
    ],
    ids=["entity-bomb", "external-doctype", "undeclared-entity", "truncated", "oversized", "not-emd", "bad-date",
         "path-escape", "nan-resolution"],
)  # fmt: skip
def test_unsafe_or_malformed_headers_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(HeaderFormatError, match=reason):
        parse_header(data, source="emd-1-v30.xml")


# ---------------------------------------------------------------- listing and one entry (no Ray)


def test_entries_are_listed_from_an_http_index_and_a_folder(mirrors, http_mirrors) -> None:
    assert list_entries(http_mirrors[0]) == ALL
    assert list_entries(str(mirrors[0])) == ALL
    assert [normalise_entry_id(e) for e in ("EMD-3488", "emd_3488", " 0093 ")] == ["EMD-3488", "EMD-3488", "EMD-0093"]
    with pytest.raises(ConfigError, match="not an EMDB entry id"):
        normalise_entry_id("EMD-34x8")
    with pytest.raises(SourceError, match="no such folder"):
        list_entries(str(mirrors[0] / "absent"))


@pytest.mark.parametrize(
    ("entry", "filters", "reason"),
    [
        ("EMD-8249", {"resolution_max": 10}, "resolution 35 Å is above --resolution-max 10 Å"),
        ("EMD-3488", {"resolution_min": 4}, "resolution 3.2 Å is below --resolution-min 4 Å"),
        ("EMD-5170", {"methods": ["singleParticle", "tomography"]},
         "method helical is not one of --method singleParticle tomography"),
        ("EMD-1883", {"released_after": "2015-01-01"}, "released 2011-05-04, before --released-after 2015-01-01"),
        ("EMD-5170", {"with_model": True}, "no fitted model in the header (crossreferences/pdb_list)"),
        ("EMD-9005", {"with_model": True}, "fitted model 9zzz not on the PDB mirror (9zzz.cif.gz)"),
        ("EMD-3488", {"with_half_maps": True}, "0 half maps in the header (interpretation/half_map_list), not 2"),
        ("EMD-9002", {}, "no final reconstruction resolution in the header"),
        ("EMD-99999", {}, "emd-99999-v30.xml: no such file"),
    ],
    ids=["res-max", "res-min", "method", "released", "no-model", "model-not-on-mirror", "no-half-maps",
         "no-resolution", "no-header"],
)  # fmt: skip
def test_each_filter_rejects_with_its_reason(http_mirrors, entry: str, filters: dict, reason: str) -> None:
    source, pdb = http_mirrors
    result = check_entry(entry, source, validate_config(EmdbFilters, filters, source="test"), pdb)
    assert result.row is None and result.reason == reason


def test_an_entry_passing_every_filter_gets_its_files(http_mirrors) -> None:
    source, pdb = http_mirrors
    filters = EmdbFilters(
        resolution_min=30,
        resolution_max=40,
        methods=("subtomogramAveraging",),
        with_model=True,
        with_half_maps=True,
        released_after=date(2016, 12, 21),  # on or after
    )
    result = check_entry("EMD-8249", source, filters, pdb)
    assert result.reason is None
    assert result.row == {
        "entry_id": "EMD-8249",
        "map": f"{source}/EMD-8249/map/emd_8249.map.gz",
        "model": f"{pdb}/mmCIF/kh/5khe.cif.gz",
        "sequence": f"{pdb}/fasta/5khe.fasta",
        "resolution": "35.0",
        "method": "subtomogramAveraging",
        "half_map_1": f"{source}/EMD-8249/other/emd_8249_half_map_1.map.gz",
        "half_map_2": f"{source}/EMD-8249/other/emd_8249_half_map_2.map.gz",
        "released": "2016-12-21",
    }
    no_mirror = check_entry("EMD-8249", source, EmdbFilters(with_model=True), None)
    assert no_mirror.reason == "fitted model 5khe, but no --pdb-mirror to find it on"


def test_a_local_mirror_gives_absolute_paths(mirrors, monkeypatch) -> None:
    emdb, pdb = mirrors
    monkeypatch.chdir(emdb.parent)
    row = check_entry("EMD-3488", "structures", EmdbFilters(with_model=True), "pdb").row
    assert row is not None
    assert row["map"] == str(emdb / "EMD-3488" / "map" / "emd_3488.map.gz")
    assert row["model"] == str(pdb / "mmCIF" / "me" / "5me2.cif.gz")
    assert read_map(row["map"]).data.shape == (100, 100, 100)


# ---------------------------------------------------------------- the command, on Ray


def test_command_lists_keeps_and_rejects_with_reasons(http_mirrors, ray_local, tmp_path, capsys) -> None:
    """Every entry of the HTTP mirror, no filter, with the PDB mirror."""
    source, pdb = http_mirrors
    out = tmp_path / "emdb.csv"
    assert main(["manifest", "emdb", source, "-o", str(out), "--pdb-mirror", pdb, "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert "manifest emdb: 11/11 entries (100%)" in captured.err  # the progress line
    kept = [e for e in ALL if EXPECTED[e] is True]
    assert report["n_entries"] == len(ALL) and report["n_kept"] == len(kept)
    assert report["n_with_model"] == 5 and report["n_with_half_maps"] == 1 and report["n_internal_errors"] == 0
    reasons = {r["entry_id"]: r["reason"] for r in report["rejected"]}
    assert set(reasons) == {e for e in ALL if EXPECTED[e] is not True}
    for entry, reason in reasons.items():
        assert reason.startswith(EXPECTED[entry]), (entry, reason)  # type: ignore[arg-type]

    text = out.read_text()
    assert text.splitlines()[0] == ",".join(COLUMNS)
    rows = {r["entry_id"]: r for r in _csv(text)}
    assert list(rows) == kept  # sorted by entry number
    assert rows["EMD-3488"]["model"] == f"{pdb}/mmCIF/me/5me2.cif.gz"
    assert rows["EMD-3488"]["sequence"] == f"{pdb}/fasta/5me2.fasta"
    assert rows["EMD-21457"]["sequence"] == ""  # no FASTA on the mirror: ingest reads the model's entities
    assert rows["EMD-5170"]["model"] == "" and rows["EMD-9005"]["model"] == ""
    assert rows["EMD-9005"]["method"] == "electronCrystallography" and rows["EMD-9005"]["resolution"] == "3.0"
    assert rows["EMD-1883"]["released"] == "2011-05-04" and rows["EMD-1883"]["resolution"] == "20.9"
    assert [e for e, r in rows.items() if r["half_map_1"]] == ["EMD-8249"]
    assert {r["entry_id"]: r["reason"] for r in _csv((out.parent / "emdb.rejected.csv").read_text())} == reasons

    # the manifest's URLs open: the map as the real map, the half maps on its grid, the model
    assert read_map(rows["EMD-3488"]["map"]).data.shape == (100, 100, 100)
    half = read_map(rows["EMD-8249"]["half_map_2"])
    assert half.frame.same_as(read_map(rows["EMD-8249"]["map"]).frame)
    assert len(read_model(rows["EMD-3488"]["model"]).ca_xyz()) == 566


def test_with_model_manifest_is_read_by_ingest_and_batch_inference(http_mirrors, ray_local, tmp_path, capsys) -> None:
    source, pdb = http_mirrors
    out = tmp_path / "models.csv"
    code, report, _ = _run(capsys, source, "-o", str(out), "--pdb-mirror", pdb, "--with-model")
    assert code == 0 and report["n_kept"] == len(WITH_MODEL)
    reasons = {r["entry_id"]: r["reason"] for r in report["rejected"]}
    assert reasons["EMD-5170"] == "no fitted model in the header (crossreferences/pdb_list)"
    assert reasons["EMD-9005"] == "fitted model 9zzz not on the PDB mirror (9zzz.cif.gz)"
    rows = read_manifest(out)
    assert sorted(r.entry_id for r in rows) == sorted(WITH_MODEL)
    assert {r.entry_id: r.resolution for r in rows}["EMD-1883"] == 20.9
    assert all(r.model.endswith(".cif.gz") for r in rows)
    assert len(read_manifest(out, row_type=BatchRow)) == len(WITH_MODEL)


def test_filters_combine_and_plain_output_lists_rejections(http_mirrors, ray_local, tmp_path, capsys) -> None:
    source, pdb = http_mirrors
    out = tmp_path / "sp.csv"
    argv = ["manifest", "emdb", source, "-o", str(out), "--pdb-mirror", pdb, "--resolution-max", "4",
            "--method", "singleParticle", "--released-after", "2017-01-01",
            "--entries", "EMD-3488,0093,emd-21457,EMD-9001", "--num-cpus", "2"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    print(printed)  # shown with -s: what the command prints
    assert [r["entry_id"] for r in _csv(out.read_text())] == ["EMD-0093", "EMD-21457"]
    lines = dict(line.split(None, 1) for line in printed.splitlines() if not line.startswith(" "))
    assert lines["entries"] == "4" and lines["kept"].startswith("2 (2 with a model, 0 with half maps)")
    shown = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in printed.splitlines() if line.startswith("  ")}
    assert shown == {
        "EMD-3488": "released 2016-11-23, before --released-after 2017-01-01",
        "EMD-9001": "emd-9001-v30.xml: not well-formed XML: unclosed token (line 15)",
    }


def test_s3_mirror_to_s3_manifest(mirrors, ray_local, s3_endpoint, capsys) -> None:
    emdb, pdb = mirrors
    source = upload_tree(emdb, "emdb-mirror", "pub/structures")
    pdb_url = upload_tree(pdb, "pdb-mirror", "divided")
    out = "s3://emdb-mirror/manifests/half.csv"
    code, report, _ = _run(capsys, source, "-o", out, "--pdb-mirror", pdb_url, "--with-half-maps")
    assert code == 0 and report["n_entries"] == len(ALL) and report["n_kept"] == 1
    rows = _csv(read_text(out, limit=1 << 20, what="manifest"))
    assert [r["entry_id"] for r in rows] == ["EMD-8249"]
    assert rows[0]["model"] == f"{pdb_url}/mmCIF/kh/5khe.cif.gz"
    assert read_map(rows[0]["half_map_1"]).data.shape == (24, 24, 24)
    fs = s3fs.S3FileSystem()
    fs.invalidate_cache()
    rejected = _csv(fs.cat("emdb-mirror/manifests/half.rejected.csv").decode())
    assert len(rejected) == len(ALL) - 1
    assert {r["reason"] for r in rejected} >= {"0 half maps in the header (interpretation/half_map_list), not 2"}


# ---------------------------------------------------------------- bad input: one line, exit 2, before Ray


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--entries", "EMD-12x4"], "--entries: 'EMD-12x4' is not an EMDB entry id"),
        (["--resolution-min", "5", "--resolution-max", "3"], "--resolution-min 5 is above --resolution-max 3"),
        (["--released-after", "2020-13-01"], "released_after"),
        (["--resolution-max", "-1"], "resolution_max"),
    ],
    ids=["bad-entry", "min-above-max", "bad-date", "negative-resolution"],
)
def test_bad_options_exit_2_with_one_line(mirrors, tmp_path, capsys, extra: list[str], message: str) -> None:
    assert main(["manifest", "emdb", str(mirrors[0]), "-o", str(tmp_path / "m.csv"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cryoray manifest: error: ") and "\n" not in err and message in err


def test_missing_source_or_output_folder_exit_2(mirrors, tmp_path, capsys) -> None:
    assert main(["manifest", "emdb", str(tmp_path / "absent"), "-o", str(tmp_path / "m.csv")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["manifest", "emdb", str(mirrors[0]), "-o", str(tmp_path / "nowhere" / "m.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "m.csv").exists()
