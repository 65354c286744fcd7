"""Where a batch run writes: entry folders and JSON files under the output prefix (a folder or ``s3://``)."""

from __future__ import annotations

import json
import os

import fsspec
from fsspec.implementations.local import LocalFileSystem

from cryoray.io.sources import write_bytes

__all__ = ["SUMMARY", "done_entries", "ensure_dir", "join", "write_json"]

#: an entry's last file: its presence means the entry is done (a re-run skips it)
SUMMARY = "summary.json"


def join(prefix: str, *parts: str) -> str:
    """``prefix/part/...`` for a folder or a URL."""
    return "/".join([prefix.rstrip("/"), *parts])


def write_json(url: str, data: object) -> None:
    """``data`` as indented JSON, appearing whole or not at all."""
    write_bytes(url, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode(), make_dirs=True)


def ensure_dir(url: str) -> None:
    """Create a local folder (object stores need none)."""
    fs, path = fsspec.core.url_to_fs(url)
    if isinstance(fs, LocalFileSystem):
        os.makedirs(path, exist_ok=True)


def done_entries(output: str) -> set[str]:
    """Entries under ``output`` that have a ``summary.json`` (finished by an earlier run)."""
    fs, path = fsspec.core.url_to_fs(output)
    try:
        found = fs.glob(f"{path.rstrip('/')}/*/{SUMMARY}")
    except (FileNotFoundError, OSError):
        return set()
    return {p.rstrip("/").split("/")[-2] for p in found}
