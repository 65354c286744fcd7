"""Opening inputs from local paths and fsspec URLs (``file://``, ``s3://``, ``http(s)://``).

Gzip is detected from the first bytes, not trusted from the file name, so ``.map.gz`` from
EMDB and a mislabelled ``.mrc`` that is really gzip both open. Every failure to open or read is
turned into :class:`~cryoray.errors.SourceError` (or a format error for corrupt gzip).
"""

from __future__ import annotations

import gzip
import os
import stat
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import fsspec
from fsspec.implementations.local import LocalFileSystem

from cryoray.errors import InputError, SourceError
from cryoray.io.atomic import replace_into_place

__all__ = ["READ_ERRORS", "is_gzip", "open_binary", "read_bytes", "read_text", "source_size", "write_bytes"]

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20

# Errors that reading a stream can raise for reasons outside our control: I/O and network
# failures (fsspec maps most to OSError), and corrupt or truncated gzip data.
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error)


def _fs_and_path(source: str | os.PathLike) -> tuple[fsspec.AbstractFileSystem, str]:
    try:
        fs, path = fsspec.core.url_to_fs(os.fspath(source))
    except (ImportError, ValueError) as exc:
        raise SourceError(source, f"cannot handle this URL: {exc}") from exc
    return fs, path


def source_size(source: str | os.PathLike) -> int | None:
    """Size in bytes of the stored object (compressed size for gzip), or None if unknown."""
    fs, path = _fs_and_path(source)
    try:
        size = fs.size(path)
    except READ_ERRORS:
        return None
    return None if size is None else int(size)


def is_gzip(head: bytes) -> bool:
    return head[:2] == _GZIP_MAGIC


_SPECIAL_FILES = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _check_local_file(source: str | os.PathLike, path: str) -> None:
    """Refuse a local path that is not a regular file before opening it: opening a FIFO blocks
    until a writer appears, and a device never ends."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError as exc:
        raise SourceError(source, "no such file") from exc
    except OSError as exc:
        raise SourceError(source, f"cannot open: {exc}") from exc
    if stat.S_ISDIR(mode):
        raise SourceError(source, "is a directory, not a file")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _SPECIAL_FILES if test(mode)), "a special file")
        raise SourceError(source, f"is {kind}, not a regular file; cryoray reads only regular files")


@contextmanager
def open_binary(source: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open ``source`` for binary reading; gzip content is decompressed on the fly.

    Raises:
        SourceError: the source does not exist, is a directory or another non-regular local
            file (FIFO, socket, device), or cannot be reached.
    """
    fs, path = _fs_and_path(source)
    if isinstance(fs, LocalFileSystem):
        _check_local_file(source, path)
    try:
        raw = fs.open(path, "rb")
    except FileNotFoundError as exc:
        raise SourceError(source, "no such file") from exc
    except IsADirectoryError as exc:
        raise SourceError(source, "is a directory, not a file") from exc
    except READ_ERRORS as exc:
        raise SourceError(source, f"cannot open: {exc}") from exc
    try:
        try:
            head = raw.read(2)
            raw.seek(0)
        except READ_ERRORS as exc:
            raise SourceError(source, f"cannot read: {exc}") from exc
        yield gzip.GzipFile(fileobj=raw, mode="rb") if is_gzip(head) else raw  # type: ignore[misc]
    finally:
        raw.close()


def read_bytes(source: str | os.PathLike, *, limit: int, what: str, corrupt: type[InputError] = InputError) -> bytes:
    """Read a whole (decompressed) source, refusing more than ``limit`` bytes.

    Used for text inputs (models, sequences) whose parsers need the whole content; corrupt
    gzip data raises ``corrupt`` (the format error of the kind of file being read).
    """
    chunks: list[bytes] = []
    total = 0
    with open_binary(source) as stream:
        try:
            # Chunked: a single read(limit) would allocate the whole limit up front.
            while chunk := stream.read(min(_CHUNK, limit + 1 - total)):
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:
                    raise SourceError(source, f"{what} is larger than the limit of {limit} bytes")
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise corrupt(source, f"corrupt gzip data: {exc}") from exc
        except READ_ERRORS as exc:
            raise SourceError(source, f"cannot read: {exc}") from exc
    return b"".join(chunks)


def read_text(source: str | os.PathLike, *, limit: int, what: str, corrupt: type[InputError] = InputError) -> str:
    """Read a whole text source (see :func:`read_bytes`); binary content raises ``corrupt``.

    Text here means what PDB, mmCIF, FASTA and YAML files hold: almost no control characters
    other than tab, CR and LF. A UTF-8 byte-order mark is dropped.
    """
    raw = read_bytes(source, limit=limit, what=what, corrupt=corrupt)
    head = raw[:65536]
    controls = sum(head.count(bytes([b])) for b in range(32) if b not in (9, 10, 13))
    if controls > max(2, len(head) // 100):
        raise corrupt(source, f"binary content: not a text {what}")
    return raw.decode("utf-8", errors="replace").removeprefix("\ufeff")


def write_bytes(url: str | os.PathLike, data: bytes, *, make_dirs: bool = False) -> None:
    """Write ``data`` so that it appears whole or not at all: a temporary file renamed into place
    locally (with the umask's mode, as ``open()`` gives), one upload elsewhere (``s3://``).

    Raises:
        SourceError: the local directory is missing (unless ``make_dirs``) or the write fails.
    """
    fs, path = fsspec.core.url_to_fs(os.fspath(url))
    try:
        if isinstance(fs, LocalFileSystem):
            directory = os.path.dirname(os.path.abspath(path))
            if make_dirs:
                os.makedirs(directory, exist_ok=True)
            elif not os.path.isdir(directory):
                raise SourceError(url, f"directory {directory} does not exist")
            fd, tmp = tempfile.mkstemp(prefix=".cryoray-", dir=directory)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                replace_into_place(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        else:
            fs.pipe_file(path, data)  # one upload: the object appears whole
    except OSError as exc:
        raise SourceError(url, f"cannot write: {exc}") from exc
