"""Where things lie in an EMDB archive mirror and a PDB mirror; listing entries; retried reads.

EMDB layout (as ``https://ftp.ebi.ac.uk/pub/databases/emdb/structures``), below ``SOURCE``::

    EMD-3488/header/emd-3488-v30.xml      the v3 XML header
    EMD-3488/map/emd_3488.map.gz          the primary map (name from the header's map/file)
    EMD-3488/other/emd_3488_half_map_1.map.gz   half maps (names from its half_map_list)

PDB layout below ``--pdb-mirror`` (the wwPDB archive's divided mmCIF folder, as
``https://files.wwpdb.org/pub/pdb/data/structures/divided``, plus an optional FASTA folder)::

    mmCIF/me/5me2.cif.gz                  the model; the folder is the id's middle two characters
    fasta/5me2.fasta                      the sequence (optional: without it ingest reads the
                                          model's entity sequences)

Ids are lower case. SOURCE and the PDB mirror are local folders, ``s3://`` or ``http(s)://``
URLs; local paths are written to the manifest as absolute paths.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import fsspec

from cryoray.errors import ConfigError, SourceError
from cryoray.io.sources import READ_ERRORS, read_bytes, read_text

__all__ = [
    "ATTEMPTS",
    "entry_number",
    "exists",
    "header_url",
    "join",
    "list_entries",
    "map_url",
    "normalise_entry_id",
    "other_url",
    "pdb_model_url",
    "pdb_sequence_url",
    "read_with_retries",
]
log = logging.getLogger(__name__)

#: tries of a read that failed for a reason that may pass (network, server), with 0.5 s, 1 s between
ATTEMPTS = 3
#: a directory index of all of EMDB is a few MB
MAX_INDEX_BYTES = 64 << 20
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_ENTRY = re.compile(r"^(?:EMD[-_]?)?(\d{4,9})$", re.IGNORECASE)
_FOLDER = re.compile(r"^EMD-(\d{4,9})$")
_HREF = re.compile(r"""href\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
T = TypeVar("T")


def normalise_entry_id(text: str) -> str:
    """``EMD-1234``, ``emd_1234`` or ``1234`` -> ``EMD-1234``; ConfigError otherwise."""
    match = _ENTRY.match(text.strip())
    if not match:
        raise ConfigError("--entries", f"{text.strip()[:40]!r} is not an EMDB entry id such as EMD-1234")
    return f"EMD-{match.group(1)}"


def entry_number(entry_id: str) -> str:
    """``EMD-1234`` -> ``1234``."""
    return entry_id.split("-", 1)[1]


def join(base: str, *parts: str) -> str:
    """``base/part/...``: a URL stays a URL, a local path becomes absolute."""
    if _URL.match(base):
        return "/".join([base.rstrip("/"), *parts])
    return os.path.join(os.path.abspath(base), *parts)


def header_url(source: str, entry_id: str) -> str:
    return join(source, entry_id, "header", f"emd-{entry_number(entry_id)}-v30.xml")


def map_url(source: str, entry_id: str, file_name: str) -> str:
    return join(source, entry_id, "map", file_name)


def other_url(source: str, entry_id: str, file_name: str) -> str:
    return join(source, entry_id, "other", file_name)


def pdb_model_url(mirror: str, pdb_id: str) -> str:
    return join(mirror, "mmCIF", pdb_id[1:3], f"{pdb_id}.cif.gz")


def pdb_sequence_url(mirror: str, pdb_id: str) -> str:
    return join(mirror, "fasta", f"{pdb_id}.fasta")


def _passing(exc: BaseException) -> bool:
    """Whether a failure may pass on a second try (not a missing file, not a size limit)."""
    if isinstance(exc, SourceError):
        return exc.reason.startswith(("cannot open", "cannot read"))
    return isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError)


def _retrying(call: Callable[[], T], what: str) -> T:
    for attempt in range(ATTEMPTS):
        try:
            return call()
        except (SourceError, *READ_ERRORS) as exc:
            if attempt == ATTEMPTS - 1 or not _passing(exc):
                raise
            log.debug("%s failed (%s); try %d of %d", what, exc, attempt + 2, ATTEMPTS)
            time.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")


def read_with_retries(url: str, *, limit: int, what: str) -> bytes:
    """:func:`~cryoray.io.sources.read_bytes`, tried again after network or server failures."""
    return _retrying(lambda: read_bytes(url, limit=limit, what=what, corrupt=SourceError), url)


def _fs(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise SourceError(url, f"cannot handle this URL: {exc}") from exc


def exists(url: str) -> bool:
    """Whether a file is there (over HTTP a HEAD request, which cannot tell "absent" from "refused").

    Raises:
        SourceError: the question could not be answered (network failure after retries).
    """
    fs, path = _fs(url)

    def ask() -> bool:
        try:
            return fs.info(path).get("type", "file") == "file"
        except FileNotFoundError:
            return False

    try:
        return _retrying(ask, url)
    except READ_ERRORS as exc:
        raise SourceError(url, f"cannot reach: {exc}") from exc


def _sorted_ids(names: set[str]) -> list[str]:
    return sorted(names, key=lambda e: int(entry_number(e)))


def list_entries(source: str) -> list[str]:
    """The ``EMD-*`` entry folders under ``source``, in numeric order.

    Over HTTP(S) the server's directory index (HTML) is read and its links ``EMD-1234/`` taken;
    elsewhere the folder (or ``s3://`` prefix) is listed.

    Raises:
        SourceError: the folder or index cannot be read.
    """
    if urlsplit(source).scheme in ("http", "https"):
        index = source.rstrip("/") + "/"
        text = read_text(index, limit=MAX_INDEX_BYTES, what="directory index", corrupt=SourceError)
        found = set()
        for href in _HREF.findall(text):
            path = unquote(urlsplit(href).path)
            if path.endswith("/") and (match := _FOLDER.match(path.rstrip("/").rpartition("/")[2])):
                found.add(f"EMD-{match.group(1)}")
        return _sorted_ids(found)
    fs, path = _fs(source)
    fs.invalidate_cache(path)
    try:
        listing = _retrying(lambda: fs.ls(path, detail=True), source)
    except FileNotFoundError as exc:
        raise SourceError(source, "no such folder") from exc
    except NotADirectoryError as exc:
        raise SourceError(source, "is a file, not a folder") from exc
    except READ_ERRORS as exc:
        raise SourceError(source, f"cannot list: {exc}") from exc
    return _sorted_ids(
        {
            item["name"].rstrip("/").rpartition("/")[2]
            for item in listing
            if item.get("type") == "directory" and _FOLDER.match(item["name"].rstrip("/").rpartition("/")[2])
        }
    )
