"""Putting a finished temporary file in place with the mode a plain ``open()`` would have given it.

``tempfile.mkstemp`` creates files readable by their owner only (0600) and a rename keeps the
mode, so outputs written "temporary name, then rename" would otherwise stay private whatever the
user's umask says. Local files only; remote objects appear whole through one upload.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading

__all__ = ["create_exclusive", "current_umask", "replace_folder_into_place", "replace_into_place"]

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (``/proc/self/status``)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:  # elsewhere: set and restore at once (the only portable way to read it)
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def replace_into_place(tmp: str | os.PathLike, target: str | os.PathLike) -> None:
    """Rename the finished file ``tmp`` onto ``target`` (atomic on one filesystem), mode ``0666 & ~umask``."""
    os.chmod(tmp, 0o666 & ~current_umask())
    os.replace(tmp, target)


def replace_folder_into_place(staging: str | os.PathLike, target: str | os.PathLike) -> None:
    """Rename the finished folder ``staging`` onto ``target`` (replacing what is there), with the modes
    ``mkdir()`` and ``open()`` would give its files and itself: readers see the old folder or the new
    one, whole."""
    umask = current_umask()
    for child in os.scandir(staging):
        os.chmod(child.path, 0o666 & ~umask)
    os.chmod(staging, 0o777 & ~umask)
    if os.path.isdir(target):
        shutil.rmtree(target)
    elif os.path.lexists(target):
        os.unlink(target)
    os.replace(staging, target)


def create_exclusive(path: str | os.PathLike, data: bytes) -> None:
    """Create the file ``path`` holding ``data``, whole, only if nothing is there yet.

    Written under a temporary name and hard-linked into place, so no reader sees it partly
    written and of two racing writers exactly one succeeds.

    Raises:
        FileExistsError: ``path`` exists.
    """
    fd, tmp = tempfile.mkstemp(prefix=".cryoray-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.link(tmp, path)
    finally:
        os.unlink(tmp)
