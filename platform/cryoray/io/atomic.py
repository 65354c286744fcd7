"""Putting a finished temporary file in place with the mode a plain ``open()`` would have given it.

``tempfile.mkstemp`` creates files readable by their owner only (0600) and a rename keeps the
mode, so outputs written "temporary name, then rename" would otherwise stay private whatever the
user's umask says.
"""

from __future__ import annotations

import os
import threading

__all__ = ["current_umask", "replace_into_place"]

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
