"""Local sources that are not regular files (FIFOs, devices) are refused before opening, never read."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cryoray.errors import SourceError
from cryoray.io import read_map
from cryoray.io.models import read_model
from cryoray.io.sources import read_text


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """Opening a FIFO for reading blocks until a writer comes: the reader hung forever."""
    fifo = tmp_path / "map.mrc"
    os.mkfifo(fifo)
    outcome: dict[str, BaseException] = {}

    def read() -> None:
        try:
            read_map(fifo)
        except BaseException as exc:
            outcome["error"] = exc

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():
        with open(fifo, "wb"):  # a writer unblocks the reader, so the test can end
            pass
        reader.join(10)
        pytest.fail("reading a FIFO blocked")
    error = outcome["error"]
    assert isinstance(error, SourceError)
    assert str(error) == f"{fifo}: is a FIFO, not a regular file; cryoray reads only regular files"


@pytest.mark.parametrize("read", [read_map, read_model, lambda p: read_text(p, limit=1 << 20, what="text")])
def test_character_device_is_refused(read) -> None:
    with pytest.raises(SourceError, match="is a character device, not a regular file"):
        read("/dev/zero")


def test_cli_exits_2_on_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "model.pdb"
    os.mkfifo(fifo)
    result = subprocess.run(
        [sys.executable, "-m", "cryoray.cli.main", "info", str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert (
        result.stderr.strip()
        == f"cryoray info: error: {fifo}: is a FIFO, not a regular file; cryoray reads only regular files"
    )
