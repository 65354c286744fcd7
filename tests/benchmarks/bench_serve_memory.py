"""Benchmark: one ingress replica's memory under concurrent maximum-size ``/segment`` requests.

    .venv/bin/python -m tests.benchmarks.bench_serve_memory [--clients 8] [--seconds 60]
        [--budget-mb 2048] [--in-flight 2] [--num-cpus 2] [--smoke]

Starts a local Ray instance of its own (stopped at the end) and serves a random-weight tiny
SegFormer3D (16³ boxes; atom and amino-acid heads: 25 probability maps) with a memory budget of
``--budget-mb`` for ``--in-flight`` map requests. The map is the largest cube ``/segment`` takes
within one request's share of the budget (on the network's grid: ``limits.voxel_limit``), smooth
blobs on zeros sent gzip-compressed (a small body that costs the most). ``--clients`` threads post it again
and again for ``--seconds`` (after a 503 a client waits ``--backoff`` s, not the full Retry-After,
to keep the pressure on). The ingress replica's peak RSS is its kernel high-water mark
(``VmHWM``, reset before the run), so no short peak is missed between samples.

Reports: the budget and the replica's RSS (idle, peak), the worst case of one request by the
cost model (``LimitsConfig.request_bytes``) and the peak over idle per request in flight;
answers by status (200, 503 with and without Retry-After, others), the slowest answer of each,
and requests that got no answer within the timeout (hung). ``--smoke``: 4 clients for 8 s, a
1280 MiB budget (a 71³ map).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.common import parse_args
from tests.support.models import SEGMENT_TARGETS, tiny_model, write_checkpoint
from tests.support.servers import free_port
from tests.support.serving import wait_for_health

MIB = 1 << 20
VOXEL_SIZE = 4.0  # Å, of the map and of the network's grid: the two grids are the same


def blob_map(n: int) -> bytes:
    """Gzip bytes of an n³ map (4 Å voxels) of smooth blobs on a zero background."""
    from cryoray.io import DensityMap, GridFrame, write_map

    rng = np.random.default_rng(0)
    axis = np.arange(n, dtype=np.float32)
    data = np.zeros((n, n, n), dtype=np.float32)
    for centre in rng.uniform(0.2 * n, 0.8 * n, size=(12, 3)):
        r2 = sum(
            (axis.reshape(shape) - c) ** 2
            for c, shape in zip(centre, [(-1, 1, 1), (1, -1, 1), (1, 1, -1)], strict=True)
        )
        data += np.exp(-r2 / (2 * (0.05 * n) ** 2)).astype(np.float32)
    data[data < 1e-3] = 0.0  # exact zeros between the blobs: the body compresses well
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "map.mrc"
        write_map(path, DensityMap(data, GridFrame((n, n, n), (VOXEL_SIZE,) * 3, (0.0, 0.0, 0.0))))
        return gzip.compress(path.read_bytes(), compresslevel=6)


def memory(pid: int) -> dict[str, int]:
    """``VmRSS`` (now) and ``VmHWM`` (peak) of a local process, bytes (Linux /proc)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")}


def reset_peak(pid: int) -> None:
    """Start the process's ``VmHWM`` again from its RSS now (``clear_refs`` 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def client(url: str, body: bytes, stop: float, timeout: float, backoff: float, answers: list) -> None:
    """Post ``body`` until ``stop``; record (status, Retry-After header, seconds) of every answer."""
    session = requests.Session()
    while time.monotonic() < stop:
        start = time.perf_counter()
        try:
            response = session.post(url, data=body, timeout=timeout)
            status, retry = response.status_code, response.headers.get("Retry-After")
        except requests.RequestException as exc:
            status, retry = type(exc).__name__, None
        answers.append((status, retry, time.perf_counter() - start))
        if status == 503:
            time.sleep(backoff)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--budget-mb", type=int, default=2048)
    parser.add_argument("--in-flight", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0, help="limits.request_timeout_s")
    parser.add_argument("--backoff", type=float, default=0.5, help="seconds a client waits after a 503")
    parser.add_argument("--num-cpus", type=int, default=2)
    args = parse_args(parser, {"clients": 4, "seconds": 8.0, "budget_mb": 1280})

    import ray
    from ray import serve

    from cryoray.serve import ServeConfig
    from cryoray.serve.app import serve_application

    work = Path(tempfile.mkdtemp(prefix="bench-serve-memory-"))
    checkpoint = write_checkpoint(work / "segformer", tiny_model("segformer3d"), SEGMENT_TARGETS)
    ray.init(
        num_cpus=args.num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=tempfile.mkdtemp(prefix="rb", dir="/tmp"),
    )
    config = ServeConfig.model_validate(
        {
            "port": free_port(),
            "models": {"seg": str(checkpoint)},
            "limits": {
                "max_request_bytes": 16 * MIB,
                "memory_budget_mb": args.budget_mb,
                "max_requests_in_flight": args.in_flight,
                "request_timeout_s": args.timeout,
            },
            "batching": {"max_batch_size": 16, "batch_wait_timeout_s": 0.02, "boxes_per_call": 4},
            "infer": {"device": "cpu", "voxel_size": VOXEL_SIZE},
            "deployments": {"ingress_num_cpus": 0.5, "model_num_cpus": 1},
        }
    )
    limits = config.limits
    try:
        serve_application(config)
        base = f"http://127.0.0.1:{config.port}"
        url = f"{base}/segment?model=seg"
        wait_for_health(base, 180)
        info = requests.get(base + "/models", timeout=60).json()["models"]["seg"]
        channels = sum(h["channels"] for h in info["heads"] if h["kind"] == "classification")
        voxels = info["max_map_voxels"]["segment"]
        n = round(voxels ** (1 / 3))
        while n**3 > voxels:
            n -= 1
        body = blob_map(n)
        print(f"map {n}³ ({n**3} voxels, {channels} maps out), body {len(body)} bytes", file=sys.stderr)
        small = blob_map(24)
        assert requests.post(url, data=small, timeout=300).status_code == 200  # warm-up
        ingress_pid = requests.get(base + "/health", timeout=30).json()["replica_pid"]
        reset_peak(ingress_pid)
        idle = memory(ingress_pid)["VmRSS"]

        answers: list = []
        stop = time.monotonic() + args.seconds
        timeout = limits.request_timeout_s + 60
        threads = [
            threading.Thread(target=client, args=(url, body, stop, timeout, args.backoff, answers))
            for _ in range(args.clients)
        ]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        peak = memory(ingress_pid)["VmHWM"]
        health = requests.get(base + "/health", timeout=30).json()

        counts: Counter = Counter()
        slowest: dict[str, float] = {}
        for status, retry, seconds in answers:
            key = "503 Retry-After" if status == 503 and retry else str(status)
            counts[key] += 1
            slowest[key] = max(slowest.get(key, 0.0), seconds)
        hung = sum(1 for status, _, _ in answers if not isinstance(status, int))
        worst = limits.request_bytes(n**3, channels, limits.max_request_bytes)
        report = {
            "clients": args.clients,
            "seconds": round(wall, 1),
            "map": {"side": n, "voxels": n**3, "maps_out": channels, "body_bytes": len(body)},
            "budget_mib": limits.memory_budget_mb,
            "in_flight_limit": limits.max_requests_in_flight,
            "rss_mib": {"idle": round(idle / MIB), "peak": round(peak / MIB)},
            "peak_within_budget": peak <= limits.memory_budget_mb * MIB,
            "request_worst_case_mib": round(worst / MIB),
            "peak_over_idle_per_request_mib": round((peak - idle) / MIB / health["in_flight"]["peak"]),
            "answers": dict(sorted(counts.items())),
            "slowest_s": {k: round(v, 2) for k, v in sorted(slowest.items())},
            "hung": hung,
            "ingress": {"requests": health["requests"], "in_flight": health["in_flight"]},
        }
        print(json.dumps(report, indent=2))
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
