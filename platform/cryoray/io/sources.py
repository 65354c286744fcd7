"""Opening inputs from local paths and fsspec URLs (``file://``, ``s3://``, ``http(s)://``).

Gzip is detected from the first bytes, not trusted from the file name, so ``.map.gz`` from
EMDB and a mislabelled ``.mrc`` that is really gzip both open. Every failure to open or read is
turned into :class:`~cryoray.errors.SourceError` (or a format error for corrupt gzip).
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import fsspec

from cryoray.errors import InputError, SourceError

__all__ = ["open_binary", "read_bytes", "source_size", "is_gzip", "READ_ERRORS"]

_GZIP_MAGIC = b"\x1f\x8b"

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


@contextmanager
def open_binary(source: str | os.PathLike, *, decompress: bool = True) -> Iterator[BinaryIO]:
    """Open ``source`` for binary reading; gzip content is decompressed on the fly.

    Raises:
        SourceError: the source does not exist, is a directory, or cannot be reached.
    """
    fs, path = _fs_and_path(source)
    try:
        raw = fs.open(path, "rb")
    except FileNotFoundError as exc:
        raise SourceError(source, "no such file") from exc
    except IsADirectoryError as exc:
        raise SourceError(source, "is a directory, not a file") from exc
    except READ_ERRORS as exc:
        raise SourceError(source, f"cannot open: {exc}") from exc
    try:
        stream: BinaryIO = raw
        if decompress:
            try:
                head = raw.read(2)
                raw.seek(0)
            except READ_ERRORS as exc:
                raise SourceError(source, f"cannot read: {exc}") from exc
            if is_gzip(head):
                stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        yield stream
    finally:
        raw.close()


def read_bytes(
    source: str | os.PathLike, *, limit: int, what: str, corrupt: type[InputError] = InputError
) -> bytes:
    """Read a whole (decompressed) source, refusing more than ``limit`` bytes.

    Used for text inputs (models, sequences) whose parsers need the whole content; corrupt
    gzip data raises ``corrupt`` (the format error of the kind of file being read).
    """
    with open_binary(source) as stream:
        try:
            data = stream.read(limit + 1)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise corrupt(source, f"corrupt gzip data: {exc}") from exc
        except READ_ERRORS as exc:
            raise SourceError(source, f"cannot read: {exc}") from exc
    if len(data) > limit:
        raise SourceError(source, f"{what} is larger than the limit of {limit} bytes")
    return data

