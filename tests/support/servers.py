"""Real local servers for tests: moto's S3 API and an HTTP mirror laid out like EMDB.

Both bind to 127.0.0.1 on a free port and are stopped by the test that started them (by the
process or thread handle; never by name).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not start within {timeout} s")


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """Run ``moto_server`` and yield its endpoint URL."""
    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _RangeHandler(SimpleHTTPRequestHandler):
    """Static files with single-range support (what fsspec's HTTP reader asks for)."""

    def log_message(self, *args: object) -> None:
        """Keep test output quiet: no per-request log lines."""

    def send_head(self):  # type: ignore[override]
        spec = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not spec or not path.is_file() or not spec.startswith("bytes="):
            return super().send_head()
        size = path.stat().st_size
        start_s, _, end_s = spec[len("bytes=") :].partition("-")
        start = int(start_s) if start_s else max(0, size - int(end_s))
        end = min(int(end_s), size - 1) if (start_s and end_s) else size - 1
        if start >= size:
            self.send_error(416)
            return None
        f = open(path, "rb")  # noqa: SIM115 (returned to http.server, which copies and closes it)
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self._remaining = end - start + 1
        return f

    def copyfile(self, source, outputfile) -> None:  # type: ignore[override]
        remaining = getattr(self, "_remaining", None)
        if remaining is None:
            return super().copyfile(source, outputfile)
        while remaining > 0:
            chunk = source.read(min(65536, remaining))
            if not chunk:
                break
            outputfile.write(chunk)
            remaining -= len(chunk)
        self._remaining = None


@contextlib.contextmanager
def http_server(root: Path) -> Iterator[str]:
    """Serve ``root`` over HTTP and yield the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_RangeHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def emdb_layout(root: Path, entries: dict[str, Path]) -> dict[str, str]:
    """Copy maps into EMDB's archive layout under ``root``; return entry -> relative path.

    ``entries`` maps ``"EMD-3488"`` to a map file; it is stored gzip'ed as
    ``pub/databases/emdb/structures/EMD-3488/map/emd_3488.map.gz``.
    """
    out = {}
    for entry, src in entries.items():
        number = entry.split("-")[1]
        rel = f"pub/databases/emdb/structures/{entry}/map/emd_{number}.map.gz"
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        data = src.read_bytes()
        dest.write_bytes(data if data[:2] == b"\x1f\x8b" else gzip.compress(data))
        out[entry] = rel
    return out


def s3_env(endpoint: str) -> dict[str, str]:
    """Environment that points boto/s3fs at ``endpoint`` with dummy credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


__all__ = [
    "cluster_marker",
    "cluster_processes",
    "emdb_layout",
    "free_port",
    "http_server",
    "marked_pids",
    "moto_s3",
    "s3_env",
    "stop_test_cluster",
]


def marked_pids(needles: list[bytes], directory: str | None) -> list[int]:
    """Processes whose environment holds a needle, or that have a file open under ``directory``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if any(n in (proc / "environ").read_bytes() for n in needles) or (
                directory and any(os.readlink(fd).startswith(directory) for fd in (proc / "fd").iterdir())
            ):
                pids.append(int(proc.name))
        except OSError:  # gone meanwhile
            continue
    return pids


def stop_test_cluster(markers: dict[str, str], directory: str, *, grace: float = 10.0) -> int:
    """Stop the processes of a test's own Ray cluster; return how many were found.

    Ray daemonises and renames its processes (``ray::IDLE``...) and replaces its agents'
    environments, so neither process groups, command lines nor variables find them all. A test
    starts its cluster with :func:`cluster_marker` and its own RAY_TMPDIR ``directory``; a
    process is the cluster's when its environment holds a marker or it has a file open under
    ``directory`` (the agents keep their logs there). They get SIGTERM first, then SIGKILL after
    ``grace`` seconds, repeated until none is left.
    """
    needles = [f"{k}={v}".encode() + b"\0" for k, v in {**markers, "RAY_TMPDIR": directory}.items()]
    found = marked_pids(needles, directory)
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(marked_pids(needles, directory)):
        time.sleep(0.3)
    for _ in range(20):
        left = _alive(marked_pids(needles, directory))
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
    return len(found)


def cluster_processes(directory: str, title: str) -> list[int]:
    """Live processes of the test cluster in ``directory`` whose title contains ``title``
    (e.g. ``RayTrainWorker``: Ray sets worker titles to ``ray::<actor class>...``)."""
    found = []
    for pid in _alive(marked_pids([], directory)):
        try:
            if title.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def _alive(pids: list[int]) -> list[int]:
    """The pids that are not zombies (a zombie keeps its /proc entry until reaped)."""
    out = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            out.append(pid)
    return out


def cluster_marker() -> dict[str, str]:
    """A unique environment variable to start a test's own Ray cluster with (see above)."""
    return {"CRYORAY_TEST_CLUSTER": uuid.uuid4().hex}
