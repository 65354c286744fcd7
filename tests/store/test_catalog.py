"""Schema v2's commit records and index: a commit costs the same at any store size, readers take the
index plus newer records, a crashed writer leaves a readable store, v1 stores open and migrate."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import boto3
import fsspec
import numpy as np
import pytest

from cryoray.cli.main import main
from cryoray.store import StoreLockedError, StoreSchemaError, StoreWriter, SubgridStore, write_entry
from cryoray.store.catalog import Catalog, store_fs
from cryoray.store.lease import LEASE_FILE
from tests.store.helpers import entry_files, put_entries, write_v1_store
from tests.support.data import REPO, tree_bytes
from tests.support.stores import LAYOUT, make_entry, metadata

# -- counting what touches the store: Python's audit events locally, botocore's events on S3 ----------

_WATCHED: list[tuple[str, Counter]] = []  # (folder, counts) while counting


def _audit(event: str, args: tuple) -> None:
    if not _WATCHED or event not in ("open", "os.rename", "os.remove", "os.listdir", "os.scandir"):
        return
    if not isinstance(args[0], (str, os.PathLike)):
        return
    folder, counts = _WATCHED[-1]
    path = os.path.abspath(os.fspath(args[0]))
    if not path.startswith(folder):
        return
    if event == "open":
        mode, flags = args[1], args[2]
        writes = ("r" not in mode or "+" in mode) if mode else bool(flags & (os.O_WRONLY | os.O_RDWR))
        event = "write" if writes else "read"
    top = os.path.relpath(path, folder).split(os.sep)[0]
    counts[(event, "<temporary>" if top.startswith(".cryoray-") and top != LEASE_FILE else top)] += 1


@functools.cache
def _install_audit_hook() -> None:
    sys.addaudithook(_audit)  # for the rest of the process: it returns at once when nothing is counted


@contextlib.contextmanager
def local_io(store: Path) -> Iterator[Counter]:
    """Files opened for reading / writing, renamed, removed and listed under ``store``, by kind and top-level name."""
    _install_audit_hook()
    counts: Counter = Counter()
    _WATCHED.append((str(store.resolve()), counts))
    try:
        yield counts
    finally:
        _WATCHED.pop()


@contextlib.contextmanager
def s3_requests(url: str) -> Iterator[Counter]:
    """S3 requests the store's filesystems send (by operation and top-level key below the store)."""
    counts: Counter = Counter()
    prefix = url.removeprefix("s3://").split("/", 1)[1] + "/"

    def hook(model, params, **_) -> None:
        key = params.get("Key") or params.get("Prefix") or ""
        counts[(model.name, key.removeprefix(prefix).split("/")[0])] += 1

    clients = {id(fs.s3): fs.s3 for fs in (store_fs(url)[0], fsspec.core.url_to_fs(url)[0])}
    for client in clients.values():
        client.meta.events.register("before-parameter-build.s3", hook)
    try:
        yield counts
    finally:
        for client in clients.values():
            client.meta.events.unregister("before-parameter-build.s3", hook)


def _commit_new(url: str, writer: StoreWriter, name: str, seed: int = 0) -> None:
    entry = make_entry(seed)
    write_entry(url, LAYOUT, name, metadata(name, len(entry.origins)), entry)
    writer.commit(name)


def _store_of(url: str, n: int) -> None:
    """A closed store of ``n`` committed copies of one entry (and its never-committed template)."""
    with StoreWriter(url, LAYOUT) as writer:
        files = entry_files(url)
        ids = [f"E-{i:05d}" for i in range(n)]
        put_entries(url, files, ids)
        for entry_id in ids:
            writer.commit(entry_id)


# -- commit cost -----------------------------------------------------------------------------------


def test_commit_cost_does_not_grow_with_the_store(tmp_path) -> None:
    """The same files read and written per commit with 10 or 300 committed entries; the index is not touched."""
    per_commit = []
    for n in (10, 300):
        url = tmp_path / f"n{n}.zarr"
        _store_of(str(url), n)
        with StoreWriter(str(url), LAYOUT, lease_ttl_s=3600) as writer:  # no background refresh meanwhile
            entry = make_entry(0)
            write_entry(str(url), LAYOUT, "NEW", metadata("NEW", len(entry.origins)), entry)
            with local_io(url) as counts:
                writer.commit("NEW")
            per_commit.append(counts)
        assert SubgridStore.open(url).entries[-1] == "NEW"
    assert per_commit[0] == per_commit[1], per_commit
    touched = {name for _, name in per_commit[0]}
    # the lease checked, the entry's attributes read, its record written (through a temporary file)
    assert touched == {LEASE_FILE, "entries", "records"}, per_commit[0]
    assert per_commit[0][("read", "entries")] == 1 and per_commit[0][("os.rename", "records")] == 1


def test_commit_cost_does_not_grow_on_s3(s3_endpoint) -> None:
    boto3.client("s3").create_bucket(Bucket="catalog-cost")
    per_commit = []
    for n in (5, 60):
        url = f"s3://catalog-cost/n{n}.zarr"
        _store_of(url, n)
        with StoreWriter(url, LAYOUT, lease_ttl_s=3600) as writer:  # no background refresh meanwhile
            entry = make_entry(0)
            write_entry(url, LAYOUT, "NEW", metadata("NEW", len(entry.origins)), entry)
            with s3_requests(url) as counts:
                writer.commit("NEW")
            per_commit.append(counts)
        assert SubgridStore.open(url).entries[-1] == "NEW"
    assert per_commit[0] == per_commit[1], per_commit
    assert per_commit[0] == {
        ("GetObject", LEASE_FILE): 1,  # the lease is still this writer's
        ("GetObject", "entries"): 1,  # the entry's attributes
        ("PutObject", "records"): 1,  # its record
    }


def test_opening_reads_the_same_objects_at_any_size(tmp_path) -> None:
    """Opening (and planning from) a closed store reads the root and the index, no entry group."""
    reads = []
    for n in (10, 300):
        url = tmp_path / f"n{n}.zarr"
        _store_of(str(url), n)
        with local_io(url) as counts:
            store = SubgridStore.open(url)
            assert len(store.index) == n * 4
        reads.append(counts)
    assert reads[0] == reads[1], reads
    assert {name for _, name in reads[0]} == {"zarr.json", "index.json", "records"}, reads[0]


# -- what readers see --------------------------------------------------------------------------------


def test_readers_take_the_index_plus_newer_records(tmp_path) -> None:
    url = str(tmp_path / "s.zarr")
    writer = StoreWriter(url, LAYOUT, index_every=4)
    for i in range(5):
        _commit_new(url, writer, f"E-{i}", i)
    writer.quarantine("Q-1", "MapFormatError", "truncated")
    index = json.loads((tmp_path / "s.zarr" / "index.json").read_text())
    assert sorted(index["entries"]) == ["E-0", "E-1", "E-2", "E-3"]  # folded at the fourth record
    assert sorted(p.name for p in (tmp_path / "s.zarr" / "records").iterdir()) == ["E-4.json", "Q-1.json"]

    store = SubgridStore.open(url)
    assert store.entries == [f"E-{i}" for i in range(5)]
    assert store.entry_metadata("E-4") == metadata("E-4", 4)
    assert store.attrs["quarantine"] == [{"entry_id": "Q-1", "error": "MapFormatError", "reason": "truncated"}]
    np.testing.assert_array_equal(store.read("E-4", "origins"), make_entry(4).origins)

    _commit_new(url, writer, "Q-1")  # a quarantined entry that succeeds on a re-run
    assert SubgridStore.open(url).attrs["quarantine"] == []
    with pytest.raises(ValueError, match="committed"):
        writer.quarantine("E-0", "X", "y")
    writer.close()
    index = json.loads((tmp_path / "s.zarr" / "index.json").read_text())
    assert sorted(index["entries"]) == ["E-0", "E-1", "E-2", "E-3", "E-4", "Q-1"] and index["quarantine"] == []
    assert list((tmp_path / "s.zarr" / "records").iterdir()) == []  # all folded in
    assert SubgridStore.open(url).entries == sorted(index["entries"])


def test_finished_store_does_not_depend_on_commit_order(tmp_path) -> None:
    """Different orders, index rewrites and a quarantine later undone give byte-identical stores."""
    a, b = str(tmp_path / "a.zarr"), str(tmp_path / "b.zarr")
    with StoreWriter(a, LAYOUT) as writer:
        for i in range(4):
            _commit_new(a, writer, f"E-{i}", i)
    with StoreWriter(b, LAYOUT, index_every=1) as writer:
        writer.quarantine("E-2", "SourceError", "timeout")
        for i in (3, 1, 0, 2):
            _commit_new(b, writer, f"E-{i}", i)
    assert tree_bytes(tmp_path / "a.zarr") == tree_bytes(tmp_path / "b.zarr")


def test_index_is_canonical_json_of_the_catalog() -> None:
    """Entries encoded once and joined give the bytes of encoding the whole index (sorted keys, UTF-8)."""
    catalog = Catalog({e: metadata(e, 4) for e in ("E-2", "É-1", "E-10")}, splits={"method": {}, "assignment": {}})
    catalog.apply({"entry_id": "Q", "state": "quarantined", "error": "MapFormatError", "reason": "trunc ü"})
    expected = {
        "entries": catalog.entries,
        "quarantine": [{"entry_id": "Q", "error": "MapFormatError", "reason": "trunc ü"}],
        "schema_version": 2,
        "splits": catalog.splits,
    }
    canonical = json.dumps(expected, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert catalog.index_bytes() == canonical
    catalog.apply({"entry_id": "E-2", "state": "committed", "entry": metadata("E-2", 7)})  # re-encoded
    assert json.loads(catalog.index_bytes())["entries"]["E-2"]["n_subgrids"] == 7


def test_commit_of_an_unwritten_entry_is_refused(tmp_path) -> None:
    url = str(tmp_path / "s.zarr")
    with StoreWriter(url, LAYOUT) as writer:
        with pytest.raises(ValueError, match="E-1 was not written"):
            writer.commit("E-1")
        (tmp_path / "s.zarr" / "entries" / "E-2").mkdir()
        (tmp_path / "s.zarr" / "entries" / "E-2" / "zarr.json").write_text(
            json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}})
        )
        with pytest.raises(ValueError, match="E-2 was not completely written"):
            writer.commit("E-2")
    assert SubgridStore.open(url).entries == []


def test_tampered_index_and_records_are_refused(tmp_path) -> None:
    url = tmp_path / "s.zarr"
    writer = StoreWriter(str(url), LAYOUT)
    _commit_new(str(url), writer, "E-1")
    writer.close()
    writer = StoreWriter(str(url), LAYOUT)
    _commit_new(str(url), writer, "E-2", 1)
    writer.lease.release()  # as if crashed: E-2's record stays

    record = url / "records" / "E-2.json"
    good = record.read_bytes()
    record.write_text(json.dumps({**json.loads(good), "state": "gone"}))
    with pytest.raises(StoreSchemaError, match=r"records/E-2\.json: record metadata breaks schema v2"):
        SubgridStore.open(url)
    record.write_bytes(good)
    (url / "records" / "E-3.json").write_bytes(good)
    with pytest.raises(StoreSchemaError, match=r"record of entry .*E-2.* stored under the name E-3"):
        SubgridStore.open(url)
    (url / "records" / "E-3.json").unlink()

    index = json.loads((url / "index.json").read_text())
    (url / "index.json").write_text(json.dumps({**index, "entries": {"E-1": {"entry_id": "E-1"}}}))
    with pytest.raises(StoreSchemaError, match=r"index\.json#E-1: index entry breaks schema v2"):
        SubgridStore.open(url)
    (url / "index.json").write_text("{not json")
    with pytest.raises(StoreSchemaError, match="index is not valid JSON"):
        SubgridStore.open(url)


# -- crashes and concurrent writers ------------------------------------------------------------------

CRASHING_WRITER = """
import os, sys
from cryoray.store import StoreWriter, write_entry
from tests.support.stores import LAYOUT, make_entry, metadata
url, index_every = sys.argv[1], int(sys.argv[2])
writer = StoreWriter(url, LAYOUT, index_every=index_every)
for i, name in enumerate(["E-1", "E-2", "E-3"]):
    entry = make_entry(i)
    write_entry(url, LAYOUT, name, metadata(name, len(entry.origins)), entry)
    writer.commit(name)
entry = make_entry(3)
write_entry(url, LAYOUT, "E-4", metadata("E-4", len(entry.origins)), entry)  # written, never committed
os._exit(0)  # dies: no close, no index of its last records, its lease left behind
"""


@pytest.mark.parametrize("index_every,lose_index", [(2, False), (1000, True)], ids=["index+records", "records-only"])
def test_crash_between_commits_leaves_a_readable_store(tmp_path, capsys, index_every, lose_index) -> None:
    store = tmp_path / "s.zarr"
    subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(store), str(index_every)], cwd=REPO, check=True)
    assert (store / LEASE_FILE).exists()
    if lose_index:  # as if it died before writing any index
        (store / "index.json").unlink()
    assert len(list((store / "records").iterdir())) == (1 if index_every == 2 else 3)

    reader = SubgridStore.open(store)
    assert reader.entries == ["E-1", "E-2", "E-3"]
    np.testing.assert_array_equal(reader.read("E-3", "origins"), make_entry(2).origins)
    assert main(["store", "info", str(store), "--check", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_entries"] == 3

    with StoreWriter(str(store), LAYOUT) as writer:  # takes over the dead writer's lease
        assert writer.committed == ["E-1", "E-2", "E-3"]
        _commit_new(str(store), writer, "E-5", 5)
    assert json.loads((store / "index.json").read_text())["entries"].keys() == {"E-1", "E-2", "E-3", "E-5"}
    assert list((store / "records").iterdir()) == []
    assert SubgridStore.open(store, check="all").entries == ["E-1", "E-2", "E-3", "E-5"]


def test_second_writer_is_refused_while_the_first_has_records(tmp_path) -> None:
    url = str(tmp_path / "s.zarr")
    first = StoreWriter(url, LAYOUT)
    _commit_new(url, first, "E-1")
    with pytest.raises(StoreLockedError, match="another writer holds it"):
        StoreWriter(url, LAYOUT)
    assert SubgridStore.open(url).entries == ["E-1"]  # readers see the first writer's record meanwhile
    _commit_new(url, first, "E-2", 1)
    first.close()
    with StoreWriter(url, LAYOUT) as second:
        assert second.committed == ["E-1", "E-2"]


def test_writer_that_lost_its_lease_leaves_the_index_alone(tmp_path) -> None:
    store = tmp_path / "s.zarr"
    writer = StoreWriter(str(store), LAYOUT)
    _commit_new(str(store), writer, "E-1")
    index = (store / "index.json").read_bytes()
    (store / LEASE_FILE).write_text(
        json.dumps({"owner": "elsewhere pid 1 (planted)", "host": "elsewhere", "pid": 1, "expires": 4e9})
    )
    writer.close()  # cannot fold its record in: not its store any more
    assert (store / "index.json").read_bytes() == index
    assert SubgridStore.open(store).entries == ["E-1"]


# -- v1 stores ---------------------------------------------------------------------------------------


def test_v1_store_opens_and_migrates(tmp_path, capsys) -> None:
    store = tmp_path / "v1.zarr"
    quarantined = {"entry_id": "BAD", "error": "MapFormatError", "reason": "truncated"}
    write_v1_store(store, ["E-2", "E-1"], quarantine=(quarantined,))
    entries_before = tree_bytes(store / "entries")

    v1 = SubgridStore.open(store, check="all")
    assert (v1.version, v1.entries, v1.attrs["quarantine"]) == (1, ["E-1", "E-2"], [quarantined])
    data = {e: v1.read_block(e, v1.array_names, 0, 4) for e in v1.entries}
    with pytest.raises(StoreSchemaError, match="schema v1 store, which this cryoray reads but does not write"):
        StoreWriter(str(store), LAYOUT)
    assert not (store / LEASE_FILE).exists()

    assert main(["store", "migrate", str(store), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"store": str(store), "from_version": 1, "to_version": 2, "n_entries": 2}
    assert tree_bytes(store / "entries") == entries_before  # entry data untouched
    v2 = SubgridStore.open(store, check="all")
    assert (v2.version, v2.entries, v2.attrs["quarantine"]) == (2, ["E-1", "E-2"], [quarantined])
    for entry_id, arrays in data.items():
        assert v2.entry_metadata(entry_id) == v1.entry_metadata(entry_id)
        for name, values in v2.read_block(entry_id, v2.array_names, 0, 4).items():
            np.testing.assert_array_equal(values, arrays[name])
    with StoreWriter(str(store), LAYOUT) as writer:
        _commit_new(str(store), writer, "E-3", 3)
    assert SubgridStore.open(store).entries == ["E-1", "E-2", "E-3"]
    assert main(["store", "migrate", str(store), "--json"]) == 0  # already current: nothing to do
    assert json.loads(capsys.readouterr().out)["from_version"] == 2


def test_migrate_refuses_a_broken_v1_store(tmp_path, capsys) -> None:
    store = tmp_path / "v1.zarr"
    write_v1_store(store, ["E-1", "E-2"])
    (store / "entries" / "E-2" / "atom" / "zarr.json").unlink()
    root_before = (store / "zarr.json").read_bytes()
    assert main(["store", "migrate", str(store)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "E-2: array atom is missing" in err[0]
    assert (store / "zarr.json").read_bytes() == root_before and not (store / "index.json").exists()
