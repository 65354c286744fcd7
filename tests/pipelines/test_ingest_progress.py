"""`cryoray ingest` shows its progress on stderr (entries done and quarantined of all), and -q hides it."""

from __future__ import annotations

import json

from cryoray.cli.main import main
from cryoray.sample import haemoglobin
from tests.support.data import write_manifest


def test_cli_ingest_prints_progress_to_stderr(ray_local, tmp_path, capsys) -> None:
    hb = haemoglobin()
    rows = [
        (hb.entry_id, hb.map, hb.model, hb.sequence, hb.resolution),
        ("MISSING-MAP", tmp_path / "absent.mrc", hb.model, "", 3.0),
    ]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    assert main(["ingest", str(manifest), "-o", str(tmp_path / "s.zarr"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["quarantined"][0]["entry_id"] == "MISSING-MAP"  # stdout stays clean JSON
    lines = [line for line in err.splitlines() if line.startswith("ingest: ")]
    assert lines, err
    assert lines[-1].startswith("ingest: 2/2 entries (100%)")
    assert "quarantined 1" in lines[-1] and "took " in lines[-1]


def test_quiet_ingest_prints_no_progress(ray_local, tmp_path, capsys) -> None:
    manifest = write_manifest(
        tmp_path / "m.csv", [("MISSING-MAP", tmp_path / "absent.mrc", tmp_path / "a.pdb", "", 3.0)]
    )
    assert main(["-q", "ingest", str(manifest), "-o", str(tmp_path / "s.zarr")]) == 0
    assert "ingest: " not in capsys.readouterr().err
