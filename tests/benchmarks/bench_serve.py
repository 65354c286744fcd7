"""Benchmark: the Serve application under load on loopback (32 concurrent clients, 60 s by default).

    .venv/bin/python -m tests.benchmarks.bench_serve [--seconds 60] [--clients 32] [--num-cpus 2]
        [--map MAP] [--voxel-size 2.0] [--max-batch-size 16] [--smoke]

Starts a local Ray instance of its own (stopped at the end), writes a small random-weight
UNETR++ (box 16, as tests/infer) and serves it with ``POST /enhance``; every client posts the
map (default: a synthetic 20³ map of 1 Å, which the network sees on a 2 Å grid: one box per
request) again and again over keep-alive connections. Reports requests/s, p50/p99 latency,
errors by status, the ingress and model replicas' RSS at the start (after a warm-up) and the
end, and the batch sizes the model replica ran (boxes per forward pass: count).
"""

from __future__ import annotations

import argparse
import json
import statistics
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
from tests.support.models import ENHANCE_MODEL as TINY_UNETRPP
from tests.support.models import write_checkpoint
from tests.support.servers import free_port


def synthetic_map(path: Path, n: int = 20) -> Path:
    from cryoray.io import DensityMap, GridFrame, write_map

    rng = np.random.default_rng(0)
    data = rng.gamma(2.0, 1.0, size=(n, n, n)).astype(np.float32)
    write_map(path, DensityMap(data, GridFrame((n, n, n), (1.0, 1.0, 1.0), (10.0, -5.0, 3.0))))
    return path


def rss_mib(pid: int) -> float:
    """Resident memory of a local process (Linux /proc), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for process {pid}")


def client(url: str, body: bytes, stop: float, latencies: list[float], errors: Counter) -> None:
    session = requests.Session()
    while time.monotonic() < stop:
        start = time.perf_counter()
        try:
            response = session.post(url, data=body, timeout=120)
            status = response.status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        elapsed = time.perf_counter() - start
        if status == 200:
            latencies.append(elapsed)
        else:
            errors[str(status)] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--map", type=Path, help="map to post (default: synthetic 20³ at 1 Å)")
    parser.add_argument("--voxel-size", type=float, default=2.0, help="grid the network sees (Å)")
    parser.add_argument("--max-batch-size", type=int, default=16)
    args = parse_args(parser, {"seconds": 5.0, "clients": 4})

    import ray
    from ray import serve

    from cryoray.serve import ServeConfig
    from cryoray.serve.app import serve_application

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    checkpoint = write_checkpoint(
        work / "unetrpp", TINY_UNETRPP, {"output": {"label": "simulated", "loss": {"terms": [{"kind": "masked_mse"}]}}}
    )
    body = (args.map or synthetic_map(work / "map.mrc")).read_bytes()
    ray.init(
        num_cpus=args.num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=tempfile.mkdtemp(prefix="rb", dir="/tmp"),
    )
    config = ServeConfig.model_validate(
        {
            "port": free_port(),
            "models": {"small": str(checkpoint)},
            "batching": {"max_batch_size": args.max_batch_size, "batch_wait_timeout_s": 0.02, "boxes_per_call": 4},
            "infer": {"device": "cpu", "voxel_size": args.voxel_size},
            "deployments": {"ingress_num_cpus": 0.5, "model_num_cpus": 1, "max_ongoing_requests": 2 * args.clients},
        }
    )
    try:
        started = time.perf_counter()
        serve_application(config)
        base = f"http://127.0.0.1:{config.port}"
        url = f"{base}/enhance?model=small"
        print(f"serve up in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        for _ in range(3):  # warm-up
            assert requests.post(url, data=body, timeout=120).status_code == 200
        ingress_pid = requests.get(base + "/health", timeout=30).json()["replica_pid"]
        model_pid = requests.get(base + "/models", timeout=30).json()["models"]["small"]["replica_pid"]
        rss_start = {"ingress": rss_mib(ingress_pid), "model": rss_mib(model_pid)}
        before = requests.get(base + "/models", timeout=30).json()["models"]["small"]["boxes_per_batch"]

        latencies: list[float] = []
        errors: Counter = Counter()
        stop = time.monotonic() + args.seconds
        threads = [
            threading.Thread(target=client, args=(url, body, stop, latencies, errors)) for _ in range(args.clients)
        ]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0

        info = requests.get(base + "/models", timeout=30).json()["models"]["small"]
        batches = Counter({int(k): v for k, v in info["boxes_per_batch"].items()})
        batches.subtract({int(k): v for k, v in before.items()})
        rss_end = {"ingress": rss_mib(ingress_pid), "model": rss_mib(model_pid)}
        q = np.quantile(latencies, [0.5, 0.99]) if latencies else [float("nan")] * 2
        report = {
            "clients": args.clients,
            "seconds": round(wall, 1),
            "requests_ok": len(latencies),
            "requests_per_s": round(len(latencies) / wall, 2),
            "latency_p50_ms": round(1000 * float(q[0]), 1),
            "latency_p99_ms": round(1000 * float(q[1]), 1),
            "latency_mean_ms": round(1000 * statistics.fmean(latencies), 1) if latencies else None,
            "errors": dict(errors),
            "rss_mib_start": rss_start,
            "rss_mib_end": rss_end,
            "boxes_per_batch": {k: v for k, v in sorted(batches.items()) if v},
            "map_bytes": len(body),
            "voxel_size": args.voxel_size,
            "max_batch_size": args.max_batch_size,
        }
        print(json.dumps(report, indent=2))
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
