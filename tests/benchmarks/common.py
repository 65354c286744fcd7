"""What the benchmark scripts share: the ``--smoke`` option and a store of real entries."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from pathlib import Path

from tests.support.data import ENTRIES, local_rows, write_manifest


def parse_args(parser: argparse.ArgumentParser, smoke: dict[str, object]) -> argparse.Namespace:
    """Parse the command line, with ``--smoke`` added: it makes ``smoke`` the defaults (options given still win)."""
    unknown = set(smoke) - set(vars(parser.parse_known_args([])[0]))
    assert not unknown, f"smoke settings for options the parser lacks: {unknown}"
    settings = " ".join(_option(k, v) for k, v in smoke.items())
    parser.add_argument("--smoke", action="store_true", help=f"a short run of the same code paths: {settings}")
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(**smoke)
    return parser.parse_args()


def _option(name: str, value: object) -> str:
    """The option roughly as typed on a command line (a list as its values one after another)."""
    flag = "--" + name.replace("_", "-")
    if value is True:
        return flag
    values = value if isinstance(value, list) else [value]
    return " ".join([flag, *(repr(v) if " " in str(v) else str(v) for v in values)])


def build_store(path: Path, cpus: int, entries: Iterable[str] = tuple(ENTRIES)) -> None:
    """Ingest the named real entries (all with models, as bench_ingest does) into a new store at ``path``."""
    from cryoray.pipelines.ingest import run_ingest
    from cryoray.pipelines.ingest_config import IngestConfig

    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = write_manifest(path.parent / f"{path.name}.manifest.csv", local_rows(entries))
    t0 = time.perf_counter()
    report = run_ingest(str(manifest), str(path), IngestConfig(), num_cpus=cpus)
    print(
        f"built {path}: {report['n_subgrids']} sub-grids of {len(report['ingested'])} entries in "
        f"{time.perf_counter() - t0:.0f} s",
        flush=True,
    )
