"""Store writing, reading and schema validation, without Ray (a synthetic 2-entry store, in schema v2 and v1)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import zarr

from cryoray.cli.main import main
from cryoray.errors import SourceError
from cryoray.preprocessing.tiling import PRESETS, extract_box
from cryoray.store import StoreLayout, StoreSchemaError, StoreWriter, SubgridStore, store_info, write_entry
from tests.store.helpers import write_v1_store
from tests.support.stores import LAYOUT, make_entry, metadata


def _v2_store(url: Path) -> None:
    with StoreWriter(str(url), LAYOUT) as writer:
        for i, name in enumerate(["E-2", "E-1"]):
            entry = make_entry(1 - i)
            write_entry(str(url), LAYOUT, name, metadata(name, len(entry.origins)), entry)
            writer.commit(name)


@pytest.fixture(params=[2, 1], ids=["v2", "v1"])
def store(request, tmp_path) -> Path:
    """Entries E-1 (``make_entry(0)``) and E-2 (``make_entry(1)``), committed E-2 first, in either schema."""
    url = tmp_path / "s.zarr"
    if request.param == 2:
        _v2_store(url)
    else:
        write_v1_store(url, ["E-1", "E-2"])
    return url


def _version(store: Path) -> int:
    return json.loads((store / "zarr.json").read_text())["attributes"]["cryoray_store"]["schema_version"]


def test_round_trip_and_index(store) -> None:
    s = SubgridStore.open(store)
    assert s.entries == ["E-1", "E-2"]  # sorted, whatever the commit order
    assert s.version == _version(store)
    n = s.entry_metadata("E-1")["n_subgrids"]
    assert n == 2 * 2 * 1  # c2s on 40x30x20: 2, 2 and 1 boxes per axis
    assert s.entry_metadata("E-1") == metadata("E-1", n)
    np.testing.assert_array_equal(s.index, [[0, 0], [0, 1], [0, 2], [0, 3], [1, 0], [1, 1], [1, 2], [1, 3]])
    entry = make_entry(0)
    np.testing.assert_array_equal(s.read("E-1", "origins"), entry.origins)
    for name, dtype in (("input", np.float16), ("atom", np.uint8), ("simulated", np.float16)):
        stored = s.read("E-1", name)
        assert stored.dtype == dtype
        for i, origin in enumerate(entry.origins):
            np.testing.assert_array_equal(stored[i], extract_box(entry.grids[name], origin, 32).astype(dtype))
    block = s.read_block("E-1", ["input", "atom", "origins"], 1, 3)
    assert sorted(block) == ["atom", "input", "origins"]
    for name in block:
        np.testing.assert_array_equal(block[name], s.read("E-1", name)[1:3])


def test_uncommitted_entry_is_invisible(store) -> None:
    entry = make_entry(5)
    write_entry(str(store), LAYOUT, "E-3", metadata("E-3", len(entry.origins)), entry)
    assert SubgridStore.open(store).entries == ["E-1", "E-2"]


def test_store_info_cli(store, capsys) -> None:
    assert main(["store", "info", str(store), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["schema_version"] == _version(store) and info["n_entries"] == 2
    assert set(info["arrays"]) == {"origins", "input", "atom", "simulated"}
    assert info["arrays"]["simulated"]["dtype"] == "float16"
    assert info["bytes_on_disk"] > 0
    assert info == store_info(store) | {"store": str(store)}
    assert main(["store", "info", str(store), "--check"]) == 0
    assert "every entry's attributes and arrays match the schema" in capsys.readouterr().out


def _edit_json(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "tamper,needle",
    [
        (lambda d: d["attributes"]["cryoray_store"].update(schema_version=3), "schema version 3 is not understood"),
        (lambda d: d["attributes"].pop("cryoray_store"), "not a cryoray store"),
        (lambda d: d["attributes"]["cryoray_store"].update(input_dtype="int8"), "input_dtype"),
    ],
    ids=["future-version", "not-ours", "bad-dtype-setting"],
)
def test_tampered_root_is_refused_at_open(store, tamper, needle, capsys) -> None:
    _edit_json(store / "zarr.json", tamper)
    with pytest.raises(StoreSchemaError, match=needle):
        SubgridStore.open(store)
    assert main(["store", "info", str(store)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def _list_missing_entry(store: Path) -> None:
    """E-9 listed as committed, without a group."""
    if _version(store) == 1:
        _edit_json(store / "zarr.json", lambda d: d["attributes"].update(entries=["E-1", "E-2", "E-9"]))
        return
    index = json.loads((store / "index.json").read_text())
    index["entries"]["E-9"] = {**index["entries"]["E-1"], "entry_id": "E-9", "emdb_id": "E-9"}
    (store / "index.json").write_text(json.dumps(index))


def _change_box(store: Path) -> None:
    _edit_json(store / "zarr.json", lambda d: d["attributes"]["cryoray_store"]["tiling"].update(box=48))


def _tamper_attrs(store: Path) -> None:
    _edit_json(store / "entries" / "E-2" / "zarr.json", lambda d: d["attributes"].update(n_subgrids=3))


def _replace_atom_dtype(store: Path) -> None:
    group = zarr.open_group(str(store / "entries" / "E-2"), mode="r+")
    n = group["atom"].shape[0]
    del group["atom"]
    group.create_array("atom", shape=(n, 32, 32, 32), dtype="float32")


@pytest.mark.parametrize(
    "tamper,needle",
    [
        (_list_missing_entry, "E-9: (listed )?entry has no group"),
        (_change_box, "E-1: array .* schema says"),
        (_tamper_attrs, "E-2: (array .* schema says|the entry group's attributes differ)"),
        (_replace_atom_dtype, "E-2: array atom is .* float32, schema says"),
    ],
    ids=["listed-but-missing", "box-size-changed", "entry-attributes-changed", "array-dtype-changed"],
)
def test_broken_entry_is_refused_when_read_and_by_check(store, tamper, needle, capsys) -> None:
    tamper(store)
    lazy = SubgridStore.open(store)  # opening reads no entry's arrays
    broken = re.search(r"E-\d", needle).group()
    with pytest.raises(StoreSchemaError, match=needle):
        lazy.read_block(broken, ["input", "atom"], 0, 1)
    with pytest.raises(StoreSchemaError, match=needle):
        SubgridStore.open(store, check="all")
    assert main(["store", "info", str(store), "--check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(needle, err[0]), err


def test_check_names_every_broken_entry(tmp_path) -> None:
    url = tmp_path / "s.zarr"
    _v2_store(url)
    for name in ("E-1", "E-2"):
        (url / "entries" / name / "input" / "zarr.json").unlink()
    with pytest.raises(StoreSchemaError, match=r"E-1: array input is missing \(and 1 more broken entries: .*E-2\)"):
        SubgridStore.open(url, check="all")


def test_reopening_with_other_settings_is_refused(tmp_path) -> None:
    store = tmp_path / "s.zarr"
    _v2_store(store)
    other = StoreLayout(tiling=PRESETS["cryoten-train"], label_kinds=("atom",))
    with pytest.raises(StoreSchemaError, match="other settings"):
        StoreWriter(str(store), other)


def test_paths_that_are_not_stores(tmp_path) -> None:
    with pytest.raises(SourceError, match="no store here"):
        SubgridStore.open(tmp_path / "absent.zarr")
    plain = tmp_path / "plain.zarr"
    zarr.open_group(str(plain), mode="w")  # a zarr group, but not a cryoray store
    with pytest.raises(StoreSchemaError, match="not a cryoray store"):
        SubgridStore.open(plain)


def test_writer_refuses_a_folder_that_holds_other_things(tmp_path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(SourceError, match="exists and is not a cryoray store"):
        StoreWriter(str(folder), LAYOUT)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]  # nothing written into it, no lease left behind
    zarr.open_group(str(folder / "group"), mode="w").create_group("child")  # a zarr group that is not ours
    with pytest.raises(SourceError, match="exists and is not a cryoray store"):
        StoreWriter(str(folder / "group"), LAYOUT)
