"""One writer per store: a second one is refused by name, stale leases are taken over, a lost lease stops commits."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import s3fs

from cryoray.cli.main import main
from cryoray.store import StoreLockedError, StoreWriter, SubgridStore, write_entry
from cryoray.store.lease import LEASE_FILE
from tests.support.stores import LAYOUT, make_entry, metadata


def _write(url: str, writer: StoreWriter, name: str) -> None:
    entry = make_entry(len(name))
    write_entry(url, LAYOUT, name, metadata(name, len(entry.origins)), entry)
    writer.commit(name)


def _plant_lease(store: Path, **fields: object) -> None:
    """A lease left by another writer (as a crashed or running one leaves it)."""
    lease = {"owner": "elsewhere pid 1 (planted)", "host": "elsewhere", "pid": 1, "expires": time.time() + 600}
    lease.update(fields)
    store.mkdir(parents=True, exist_ok=True)
    (store / LEASE_FILE).write_text(json.dumps(lease))


def test_second_writer_is_refused_until_the_first_closes(tmp_path) -> None:
    url = str(tmp_path / "s.zarr")
    first = StoreWriter(url, LAYOUT)
    _write(url, first, "E-1")
    with pytest.raises(StoreLockedError) as err:
        StoreWriter(url, LAYOUT)
    message = str(err.value)
    assert message.startswith(f"{url}: another writer holds it: {first.lease.owner}, lease valid until")
    assert "\n" not in message
    _write(url, first, "E-2")  # the refused writer changed nothing: the first one goes on
    first.close()
    assert not (tmp_path / "s.zarr" / LEASE_FILE).exists()
    with StoreWriter(url, LAYOUT) as again:
        _write(url, again, "E-3")
    assert SubgridStore.open(url).entries == ["E-1", "E-2", "E-3"]  # no commit lost


def test_expired_lease_is_taken_over(tmp_path) -> None:
    store = tmp_path / "s.zarr"
    _plant_lease(store, expires=time.time() - 1)
    with StoreWriter(str(store), LAYOUT) as writer:
        held = json.loads((store / LEASE_FILE).read_text())
        assert held["owner"] == writer.lease.owner
        _write(str(store), writer, "E-1")
    assert SubgridStore.open(store).entries == ["E-1"]


def test_unexpired_lease_of_another_host_is_respected(tmp_path) -> None:
    store = tmp_path / "s.zarr"
    _plant_lease(store)
    with pytest.raises(StoreLockedError, match=r"another writer holds it: elsewhere pid 1 \(planted\)"):
        StoreWriter(str(store), LAYOUT)
    assert json.loads((store / LEASE_FILE).read_text())["owner"] == "elsewhere pid 1 (planted)"  # left alone


def test_lease_of_a_dead_process_on_this_host_is_taken_over(tmp_path) -> None:
    """A killed ingest's re-run need not wait for the lease to expire."""
    import socket

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    store = tmp_path / "s.zarr"
    _plant_lease(store, host=socket.gethostname(), pid=int(gone.stdout))
    with StoreWriter(str(store), LAYOUT) as writer:
        _write(str(store), writer, "E-1")


def test_writer_whose_lease_was_taken_commits_nothing(tmp_path) -> None:
    store = tmp_path / "s.zarr"
    writer = StoreWriter(str(store), LAYOUT)
    _write(str(store), writer, "E-1")
    _plant_lease(store)  # as if it had expired and another writer took it over
    entry = make_entry(0)
    write_entry(str(store), LAYOUT, "E-2", metadata("E-2", len(entry.origins)), entry)
    with pytest.raises(StoreLockedError, match="lease was taken over by elsewhere pid 1"):
        writer.commit("E-2")
    with pytest.raises(StoreLockedError):
        writer.quarantine("E-2", "X", "y")
    writer.close()
    assert (store / LEASE_FILE).exists()  # the new holder's lease stays
    assert SubgridStore.open(store).entries == ["E-1"]


def test_lease_is_refreshed_while_the_writer_lives(tmp_path) -> None:
    store = tmp_path / "s.zarr"
    with StoreWriter(str(store), LAYOUT, lease_ttl_s=0.4):
        first = json.loads((store / LEASE_FILE).read_text())["expires"]
        time.sleep(1.0)  # > ttl: only refreshing keeps it valid
        assert json.loads((store / LEASE_FILE).read_text())["expires"] > first + 0.5
        with pytest.raises(StoreLockedError):
            StoreWriter(str(store), LAYOUT)


def test_dropped_writer_releases_its_lease(tmp_path) -> None:
    store = tmp_path / "s.zarr"
    StoreWriter(str(store), LAYOUT)  # never closed
    gc.collect()
    assert not (store / LEASE_FILE).exists()
    StoreWriter(str(store), LAYOUT).close()


def test_refused_writer_of_a_mismatched_store_releases_its_lease(tmp_path) -> None:
    from cryoray.preprocessing.tiling import PRESETS
    from cryoray.store import StoreLayout, StoreSchemaError

    store = tmp_path / "s.zarr"
    StoreWriter(str(store), LAYOUT).close()
    with pytest.raises(StoreSchemaError):
        StoreWriter(str(store), StoreLayout(tiling=PRESETS["cryoten-train"], label_kinds=("atom",)))
    assert not (store / LEASE_FILE).exists()


def test_second_writer_on_s3_is_refused(s3_endpoint) -> None:
    boto3.client("s3").create_bucket(Bucket="lease-test")
    url = "s3://lease-test/s.zarr"
    first = StoreWriter(url, LAYOUT)
    with pytest.raises(StoreLockedError, match=f"^{url}: another writer holds it: "):
        StoreWriter(url, LAYOUT)
    _write(url, first, "E-1")
    first.close()
    assert not s3fs.S3FileSystem().exists(f"lease-test/s.zarr/{LEASE_FILE}")
    with StoreWriter(url, LAYOUT) as again:
        _write(url, again, "E-2")
    assert SubgridStore.open(url).entries == ["E-1", "E-2"]


def test_cli_ingest_into_a_locked_store_exits_2_with_one_line(tmp_path, capsys) -> None:
    store = tmp_path / "s.zarr"
    manifest = tmp_path / "m.csv"
    manifest.write_text("entry_id,map,model,sequence,resolution\nE-1,a.mrc,a.pdb,,3.0\n")
    with StoreWriter(str(store), LAYOUT):
        assert main(["ingest", str(manifest), "-o", str(store)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(store) in err[0] and "another writer holds it" in err[0]
