"""Benchmark: a store's commit, open and block-planning times against its number of entries (schema v2).

    .venv/bin/python -m tests.benchmarks.bench_store_scale [--entries 1000 10000 50000] [--s3] [--json] [--smoke]

(from the repository root; ``--smoke``: 200 and 1000 entries, local and S3, with the JSON line).

For each size N a new store is filled with N tiny entries: copies of one real entry of 4 c2s
sub-grids (group attributes and the metadata of its origins, input and atom arrays; chunks are
left out, so they read as zeros), written in bulk and not timed. Then every entry is committed
through ``StoreWriter.commit`` as ingest does, each commit timed. Reported per size and backend:

  commit_ms       mean time per commit over the last min(N, 1000) commits: amortised, so it
                  includes one rewrite of the index (every ``--index-every`` records)
  commit_p50_ms   median commit (the plain per-commit work: lease check, entry attributes, record)
  index_ms        one rewrite of the index at N entries (close, splits, every --index-every records)
  open_s          SubgridStore.open of the closed store: root attributes, index, records listing
  plan_s          data.selection.plan_blocks(store, "train", holdout="subgrids"): what training's
                  driver does with an opened store before anything starts
  requests_per_commit  (S3) requests the writer sent per commit, index rewrites included

Goal: the largest size's commit_ms within 1.3x of the smallest's. ``--s3`` also runs every size
against a moto_server bucket on 127.0.0.1 (started here, on the same cores as everything else).
``--json``: the last line is one JSON list of the rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.benchmarks.common import parse_args
from tests.support.servers import moto_s3, s3_env

BUCKET = "bench-store-scale"
GOAL = 1.3
BATCH = 2000  # entries written per bulk put


def _fill_and_commit(url: str, n: int, index_every: int) -> dict[str, object]:
    import fsspec

    from cryoray.data.selection import plan_blocks
    from cryoray.preprocessing.tiling import PRESETS
    from cryoray.store import StoreLayout, StoreWriter, SubgridStore
    from cryoray.store.catalog import store_fs
    from tests.store.helpers import entry_files, put_entries

    layout = StoreLayout(tiling=PRESETS["c2s"], label_kinds=("atom",), prepare={"voxel_size": 1.0})
    requests: Counter = Counter()

    def count(model, **_) -> None:
        requests[model.name] += 1

    writer = StoreWriter(url, layout, index_every=index_every)
    files = {rel: raw for rel, raw in entry_files(url, layout).items() if rel.endswith("zarr.json")}
    ids = [f"EMD-{i:06d}" for i in range(n)]
    t0 = time.perf_counter()
    for start in range(0, n, BATCH):
        put_entries(url, files, ids[start : start + BATCH])
    fill_s = time.perf_counter() - t0

    clients = []
    if url.startswith("s3://"):
        clients = list({id(fs.s3): fs.s3 for fs in (store_fs(url)[0], fsspec.core.url_to_fs(url)[0])}.values())
    for client in clients:
        client.meta.events.register("before-parameter-build.s3", count)
    times = []
    for entry_id in ids:
        t0 = time.perf_counter()
        writer.commit(entry_id)
        times.append(time.perf_counter() - t0)
    for client in clients:
        client.meta.events.unregister("before-parameter-build.s3", count)
    t0 = time.perf_counter()
    writer.write_index()
    index_s = time.perf_counter() - t0
    writer.close()

    t0 = time.perf_counter()
    store = SubgridStore.open(url)
    open_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    blocks = plan_blocks(store, "train", holdout="subgrids")
    plan_s = time.perf_counter() - t0
    assert len(store.entries) == n and blocks, (len(store.entries), len(blocks))
    window = times[-min(n, 1000) :]
    row = {
        "commit_ms": round(1000 * statistics.fmean(window), 3),
        "commit_p50_ms": round(1000 * statistics.median(window), 3),
        "index_ms": round(1000 * index_s, 1),
        "open_s": round(open_s, 3),
        "plan_s": round(plan_s, 3),
        "fill_s": round(fill_s, 1),
        "commit_total_s": round(sum(times), 1),
    }
    if requests:
        row["requests_per_commit"] = round(sum(requests.values()) / n, 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[1000, 10000], help="store sizes to measure")
    parser.add_argument("--s3", action="store_true", help="also measure on a moto_server S3 bucket")
    parser.add_argument("--s3-entries", type=int, nargs="*", help="sizes for S3 (default: --entries)")
    parser.add_argument(
        "--index-every", type=int, default=None, help="records between index rewrites (default: cryoray's)"
    )
    parser.add_argument("--json", action="store_true", help="end with one line: the rows as a JSON list")
    args = parse_args(parser, {"entries": [200, 1000], "s3": True, "json": True})

    import boto3

    from cryoray.store import INDEX_EVERY

    index_every = args.index_every or INDEX_EVERY
    rows = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_store_scale_")))
        backends = [("local", args.entries)]
        if args.s3:
            os.environ.update(s3_env(stack.enter_context(moto_s3())))
            boto3.client("s3").create_bucket(Bucket=BUCKET)
            backends.append(("s3", args.s3_entries if args.s3_entries is not None else args.entries))
        for backend, sizes in backends:
            for n in sizes:
                url = str(tmp / f"n{n}.zarr") if backend == "local" else f"s3://{BUCKET}/n{n}.zarr"
                row = {"entries": n, "backend": backend, **_fill_and_commit(url, n, index_every)}
                rows.append(row)
                extra = f", {row['requests_per_commit']} requests/commit" if "requests_per_commit" in row else ""
                print(
                    f"{backend:5} {n:>6} entries: commit {row['commit_ms']:.2f} ms "
                    f"(median {row['commit_p50_ms']:.2f}), index rewrite {row['index_ms']:.0f} ms, "
                    f"open {row['open_s']:.3f} s, plan {row['plan_s']:.3f} s{extra}",
                    flush=True,
                )
    for backend in dict.fromkeys(r["backend"] for r in rows):
        mine = sorted((r for r in rows if r["backend"] == backend), key=lambda r: r["entries"])
        if len(mine) > 1:
            growth = mine[-1]["commit_ms"] / mine[0]["commit_ms"]
            print(
                f"{backend}: commit at {mine[-1]['entries']} entries = {growth:.2f}x the commit at "
                f"{mine[0]['entries']} (goal <= {GOAL}): {'met' if growth <= GOAL else 'NOT met'}"
            )
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
