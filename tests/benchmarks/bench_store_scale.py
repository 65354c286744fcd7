"""Benchmark: a store's commit, open and block-planning times against its number of entries (schema v2).

    .venv/bin/python -m tests.benchmarks.bench_store_scale [--entries 1000 10000 50000] [--s3] [--json] [--smoke]

(from the repository root; ``--smoke``: 200 and 1000 entries, local and S3, with the JSON line).

For each size N a new store is filled with N tiny entries: copies of one real entry of 4 c2s
sub-grids (group attributes and the metadata of its origins, input and atom arrays; chunks are
left out, so they read as zeros), written in bulk and not timed, and every entry is committed
through ``StoreWriter.commit`` as ingest does. Once the stores of every size exist, each gets
``--rounds`` x ``--per-round`` more commits, timed one by one, the stores taking turns so that
whatever else the (shared) machine does falls on all sizes alike. Reported per size and backend:

  commit_ms       amortised cost of a commit at N entries: the median timed commit (lease check,
                  entry attributes read, record written) plus one index rewrite shared by
                  ``--index-every`` commits. A median, because other processes' bursts land on
                  some commits and swamp a mean
  commit_p50_ms   that median alone
  index_ms        one rewrite of the index at N entries (close, splits, every --index-every records), best of 3
  open_s          SubgridStore.open of the closed store: root attributes, index, records listing; best of 3
  plan_s          data.selection.plan_blocks(store, "train", holdout="subgrids"): what training's
                  driver does with an opened store before anything starts; best of 3
  commit_mean_ms  the mean of the N commits that built the store (index rewrites and bursts included)
  fill_s          writing the entries' files in bulk (not part of a commit)
  requests_per_commit  (S3) requests the writer sent per commit while building, index rewrites included

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
from collections.abc import Callable
from pathlib import Path

from tests.benchmarks.common import parse_args
from tests.support.servers import moto_s3, s3_env

BUCKET = "bench-store-scale"
GOAL = 1.3
BATCH = 2000  # entries written per bulk put


def _best(run: Callable[[], object], times: int = 3) -> float:
    """Seconds of the fastest of ``times`` runs."""
    best = float("inf")
    for _ in range(times):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def _layout():
    from cryoray.preprocessing.tiling import PRESETS
    from cryoray.store import StoreLayout

    return StoreLayout(tiling=PRESETS["c2s"], label_kinds=("atom",), prepare={"voxel_size": 1.0})


def _build(url: str, n: int, extra: list[str], index_every: int) -> dict[str, object]:
    """A store of ``n`` committed entries (commits timed) plus the ``extra`` ones written but not committed."""
    import fsspec

    from cryoray.store import StoreWriter
    from cryoray.store.catalog import store_fs
    from tests.store.helpers import entry_files, put_entries

    requests: Counter = Counter()

    def count(model, **_) -> None:
        requests[model.name] += 1

    writer = StoreWriter(url, _layout(), index_every=index_every)
    files = {rel: raw for rel, raw in entry_files(url, _layout()).items() if rel.endswith("zarr.json")}
    ids = [f"EMD-{i:06d}" for i in range(n)]
    t0 = time.perf_counter()
    for start in range(0, n + len(extra), BATCH):
        put_entries(url, files, (ids + extra)[start : start + BATCH])
    fill_s = time.perf_counter() - t0

    clients = []
    if url.startswith("s3://"):
        clients = list({id(fs.s3): fs.s3 for fs in (store_fs(url)[0], fsspec.core.url_to_fs(url)[0])}.values())
    for client in clients:
        client.meta.events.register("before-parameter-build.s3", count)
    t0 = time.perf_counter()
    for entry_id in ids:
        writer.commit(entry_id)
    commit_s = time.perf_counter() - t0
    for client in clients:
        client.meta.events.unregister("before-parameter-build.s3", count)
    index_s = _best(writer.write_index)
    writer.close()
    built = {"index_s": index_s, "commit_mean_ms": round(1000 * commit_s / n, 3), "fill_s": round(fill_s, 1)}
    if requests:
        built["requests_per_commit"] = round(sum(requests.values()) / n, 2)
    return built


def _interleaved_commits(extra: dict[str, list[str]], rounds: int, index_every: int) -> dict[str, list[float]]:
    """Seconds of each commit of the extra entries, the stores taking turns (``rounds`` turns each).

    Taking turns spreads whatever else the machine does over all sizes alike.
    """
    from cryoray.store import StoreWriter

    writers = {url: StoreWriter(url, _layout(), index_every=index_every) for url in extra}
    times: dict[str, list[float]] = {url: [] for url in extra}
    try:
        for turn in range(rounds):
            for url, writer in writers.items():
                ids = extra[url]
                per_turn = len(ids) // rounds
                for entry_id in ids[turn * per_turn : (turn + 1) * per_turn]:
                    t0 = time.perf_counter()
                    writer.commit(entry_id)
                    times[url].append(time.perf_counter() - t0)
    finally:
        for writer in writers.values():
            writer.close()
    return times


def _measure(backend: str, sizes: list[int], root: str, index_every: int, rounds: int, per_round: int) -> list[dict]:
    from cryoray.data.selection import plan_blocks
    from cryoray.store import SubgridStore

    urls = {n: f"{root}/n{n}.zarr" for n in sizes}
    extra = {urls[n]: [f"NEW-{i:04d}" for i in range(rounds * per_round)] for n in sizes}
    built = {}
    for n, url in urls.items():
        t0 = time.perf_counter()
        built[n] = _build(url, n, extra[url], index_every)
        print(f"{backend} store of {n} entries built in {time.perf_counter() - t0:.0f} s", flush=True)
    times = _interleaved_commits(extra, rounds, index_every)
    rows = []
    for n, url in urls.items():
        store = SubgridStore.open(url)
        assert len(store.entries) == n + rounds * per_round, (url, len(store.entries))
        p50 = statistics.median(times[url])
        index_s = built[n].pop("index_s")
        rows.append(
            {
                "entries": n,
                "backend": backend,
                "commit_ms": round(1000 * (p50 + index_s / index_every), 3),
                "commit_p50_ms": round(1000 * p50, 3),
                "index_ms": round(1000 * index_s, 1),
                "open_s": round(_best(lambda url=url: SubgridStore.open(url)), 3),
                "plan_s": round(_best(lambda store=store: plan_blocks(store, "train", holdout="subgrids")), 3),
                **built[n],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[1000, 10000], help="store sizes to measure")
    parser.add_argument("--s3", action="store_true", help="also measure on a moto_server S3 bucket")
    parser.add_argument("--s3-entries", type=int, nargs="*", help="sizes for S3 (default: --entries)")
    parser.add_argument(
        "--index-every", type=int, default=None, help="records between index rewrites (default: cryoray's)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="turns the stores take at the timed commits")
    parser.add_argument("--per-round", type=int, default=100, help="timed commits per store and turn")
    parser.add_argument("--json", action="store_true", help="end with one line: the rows as a JSON list")
    args = parse_args(parser, {"entries": [200, 1000], "s3": True, "json": True, "rounds": 3, "per_round": 50})

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
            root = str(tmp / "local") if backend == "local" else f"s3://{BUCKET}"
            for row in _measure(backend, sizes, root, index_every, args.rounds, args.per_round):
                rows.append(row)
                n = row["entries"]
                extra = f", {row['requests_per_commit']} requests/commit" if "requests_per_commit" in row else ""
                print(
                    f"{backend:5} {n:>6} entries: commit {row['commit_ms']:.2f} ms "
                    f"(median {row['commit_p50_ms']:.2f}, mean {row['commit_mean_ms']:.2f}), "
                    f"index rewrite {row['index_ms']:.0f} ms, "
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
