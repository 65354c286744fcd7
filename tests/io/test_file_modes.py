"""Files written "temporary name, then rename" get the mode open() would give them (0666 & ~umask)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cryoray.io import write_map
from cryoray.io.atomic import current_umask
from cryoray.io.sources import write_bytes


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request) -> Iterator[int]:
    saved = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(saved)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_umask_is_read_without_changing_it(umask: int) -> None:
    assert current_umask() == umask
    assert current_umask() == umask


def test_write_bytes_honours_the_umask(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "out.bin"
    write_bytes(target, b"data")
    assert target.read_bytes() == b"data"
    assert _mode(target) == 0o666 & ~umask
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"x")
    assert _mode(target) == _mode(plain)  # as a plain open() would


@pytest.mark.parametrize("name", ["map.mrc", "map.mrc.gz"])
def test_write_map_honours_the_umask(tmp_path: Path, umask: int, make_map: Callable, name: str) -> None:
    target = tmp_path / name
    write_map(target, make_map((8, 8, 8)))
    assert _mode(target) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary left behind
