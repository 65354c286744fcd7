"""The writer's lease on a store: one ingest driver at a time commits into it.

A writer folds its commit records into an index that it rewrites whole from what it holds in
memory, so two drivers committing into one store would lose each other's commits. A writer
therefore first creates ``.cryoray-writer.lease`` in the store, whole and only if it is absent
(a hard link locally, a conditional PUT with ``If-None-Match: *`` on S3), holding its owner id
and an expiry time that a background thread moves forward while the writer lives.

A second writer that finds an unexpired lease is refused with :class:`StoreLockedError`, naming
the holder. A lease that expired (its holder crashed), or whose holder is a process of this host
that no longer exists, is taken over. A writer checks before every commit that the lease is
still its own, so a writer whose lease was taken over stops instead of overwriting commits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime

from fsspec.implementations.local import LocalFileSystem

from cryoray.errors import SourceError
from cryoray.io.atomic import create_exclusive
from cryoray.io.sources import write_bytes
from cryoray.store.catalog import store_fs

__all__ = ["LEASE_FILE", "StoreLockedError", "WriterLease"]

LEASE_FILE = ".cryoray-writer.lease"
log = logging.getLogger(__name__)


class StoreLockedError(SourceError):
    """Another writer holds the store's lease (or took it over from this one)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class WriterLease:
    """The lease of one writer on the store at ``url``; :meth:`acquire` before writing, :meth:`release` after.

    Args:
        url: the store, local path or fsspec URL.
        ttl_s: seconds a lease stays valid without being refreshed (refreshed every ``ttl_s / 4``);
            a crashed writer's store can be written again after at most this long.
    """

    def __init__(self, url: str, *, ttl_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.ttl_s = ttl_s
        self.fs, root = store_fs(self.url)
        self.path = f"{root}/{LEASE_FILE}"
        self.host = socket.gethostname()
        self.owner = f"{self.host} pid {os.getpid()} ({uuid.uuid4().hex[:8]})"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost: str | None = None

    def _record(self) -> bytes:
        record = {"owner": self.owner, "host": self.host, "pid": os.getpid(), "expires": time.time() + self.ttl_s}
        return json.dumps(record).encode()

    def _read(self) -> dict | None:
        """The lease as stored, or None when there is none."""
        try:
            raw = self.fs.cat_file(self.path)
        except FileNotFoundError:
            return None
        try:
            held = json.loads(raw)
            if not isinstance(held, dict) or not {"owner", "host", "pid", "expires"} <= held.keys():
                raise ValueError("missing fields")
            return held
        except ValueError as exc:
            raise StoreLockedError(
                self.url, f"unreadable writer lease {self.path} ({exc}); remove it if no ingest writes to this store"
            ) from exc

    def _create(self) -> bool:
        """Create the lease if there is none; False if there is one."""
        try:
            if isinstance(self.fs, LocalFileSystem):
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                create_exclusive(self.path, self._record())
            else:
                self.fs.pipe_file(self.path, self._record(), mode="create")
        except FileExistsError:
            return False
        return True

    def _stale(self, held: dict) -> bool:
        if held["expires"] < time.time():
            return True
        return held["host"] == self.host and not _alive(int(held["pid"]))

    def acquire(self) -> None:
        """Take the lease (creating it, or taking over a stale one) and keep it fresh in the background.

        Raises:
            StoreLockedError: another writer holds an unexpired lease.
            SourceError: the lease cannot be read or written.
        """
        try:
            for _ in range(3):
                if self._create():
                    self._thread = threading.Thread(target=self._keep_alive, name="store-lease", daemon=True)
                    self._thread.start()
                    return
                held = self._read()
                if held is None:
                    continue  # released meanwhile
                if not self._stale(held):
                    raise StoreLockedError(
                        self.url,
                        f"another writer holds it: {held['owner']}, lease valid until {_when(held['expires'])} "
                        f"(refreshed while that writer runs; a crashed writer's lease expires within {self.ttl_s:g} s)",
                    )
                if self._read() == held:  # unchanged since judged stale: remove it, then create ours
                    log.warning("store %s: taking over the stale writer lease of %s", self.url, held["owner"])
                    with contextlib.suppress(FileNotFoundError):  # another writer removed it first
                        self.fs.rm_file(self.path)
        except StoreLockedError:
            raise
        except OSError as exc:
            raise SourceError(self.url, f"cannot take the writer lease {self.path}: {exc}") from exc
        raise StoreLockedError(self.url, "other writers are taking the writer lease at the same time")

    def check(self) -> None:
        """Make sure the lease is still this writer's (call before each write into the store).

        One read of the lease. It is refreshed too when less than half its time is left (the
        background refresh keeps more than three quarters while it runs), so the write that
        follows has at least ``ttl_s / 2`` before another writer could take the store over.

        Raises:
            StoreLockedError: the lease was lost (taken over after it expired).
        """
        if self._lost is not None:
            raise StoreLockedError(self.url, self._lost)
        if self._owned()["expires"] - time.time() < self.ttl_s / 2:
            self._refresh()

    def _owned(self) -> dict:
        held = self._read()
        if held is None or held["owner"] != self.owner:
            taker = "removed" if held is None else f"taken over by {held['owner']}"
            self._lost = f"this writer's lease was {taker}; nothing more is committed"
            raise StoreLockedError(self.url, self._lost)
        return held

    def _refresh(self) -> None:
        self._owned()
        write_bytes(f"{self.url}/{LEASE_FILE}", self._record())

    def _keep_alive(self) -> None:
        while not self._stop.wait(self.ttl_s / 4):
            try:
                self._refresh()
            except StoreLockedError:
                return
            except OSError as exc:  # a passing network failure: the next round tries again
                log.warning("store %s: cannot refresh the writer lease: %s", self.url, exc)

    def release(self) -> None:
        """Stop refreshing and remove the lease if it is still this writer's; later calls do nothing."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        try:
            held = self._read()
            if held is not None and held["owner"] == self.owner:
                self.fs.rm_file(self.path)
        except (OSError, StoreLockedError) as exc:  # it then expires by itself
            log.warning("store %s: cannot remove the writer lease: %s", self.url, exc)
