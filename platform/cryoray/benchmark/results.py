"""A benchmark's results: ``results.csv`` (a row per entry × kind), ``summary.md`` (means per kind, in the
CryoTEN paper's layout), and paired plots of each predicted map against the deposited one."""

from __future__ import annotations

import csv
import io
import math
import os
import tempfile
from collections.abc import Sequence

import numpy as np

from cryoray.benchmark.entry import BUILT, DEPOSITED, MODEL_COLUMNS
from cryoray.infer.batch.locations import join
from cryoray.io.sources import write_bytes
from cryoray.viz import save_paired_scatter

__all__ = ["MAP_METRICS", "means_by_kind", "write_results"]

#: map metrics in the CryoTEN paper's order: column -> how summary.md names it
MAP_METRICS = {
    "map_model_fsc_0_143": "Map–model FSC 0.143 (Å)",
    "map_model_fsc_0_5": "Map–model FSC 0.5 (Å)",
    "cc_box": "CC_box",
    "cc_mask": "CC_mask",
    "cc_volume": "CC_volume",
    "cc_peaks": "CC_peaks",
    "q_score": "Q-score",
    "q_expected": "Expected Q at the resolution",
    "fsc_0_143": "Half-map FSC 0.143 (Å)",
    "fsc_0_5": "Half-map FSC 0.5 (Å)",
}
MODEL_NAMES = {
    "ca_recall": "Cα recall",
    "ca_precision": "Cα precision",
    "ca_f1": "Cα F1",
    "residue_coverage": "Residue coverage",
    "sequence_match": "Sequence match",
    "sequence_recall": "Sequence recall",
    "tm_score": "TM-score",
}
_FIRST = ("entry_id", "kind", "resolution")


def _columns(rows: Sequence[dict]) -> list[str]:
    seen = dict.fromkeys(_FIRST)
    for known in (MAP_METRICS, MODEL_COLUMNS):
        seen |= dict.fromkeys(k for k in known if any(k in r for r in rows))
    for row in rows:
        seen |= dict.fromkeys(row)
    return list(seen)


def _mean(values: list[float | None]) -> tuple[float, int]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return (float(np.mean(finite)) if finite else float("nan")), len(finite)


def means_by_kind(rows: Sequence[dict]) -> dict[str, dict[str, float]]:
    """kind -> metric -> mean over the entries of that kind that have a value for it (metrics none has are left out)."""
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    columns = [c for c in _columns(rows) if c not in ("entry_id", "kind")]
    means: dict[str, dict[str, float]] = {}
    for kind in kinds:
        of_kind = [r for r in rows if r["kind"] == kind]
        means[kind] = {c: m for c in columns for m, n in [_mean([r.get(c) for r in of_kind])] if n}
    return means


def _cell(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.3f}"


def _summary_md(rows: Sequence[dict], failures: Sequence[dict], title: str) -> str:
    means = means_by_kind(rows)
    map_kinds = [k for k in means if k != BUILT]
    entries = sorted({r["entry_id"] for r in rows})
    lines = [f"# {title}", "", f"{len(entries)} entries evaluated, {len(failures)} failed.", ""]
    metrics = [m for m in MAP_METRICS if any(math.isfinite(means[k].get(m, math.nan)) for k in map_kinds)]
    if map_kinds and metrics:
        counts = {k: len({r["entry_id"] for r in rows if r["kind"] == k}) for k in map_kinds}
        lines += [
            "## Maps (means over entries)",
            "",
            "| metric | " + " | ".join(f"{k} (n={counts[k]})" for k in map_kinds) + " |",
            "|---|" + "---|" * len(map_kinds),
        ]
        lines += [
            f"| {MAP_METRICS[m]} | " + " | ".join(_cell(means[k].get(m, math.nan)) for k in map_kinds) + " |"
            for m in metrics
        ]
        lines.append("")
    if BUILT in means:
        n = sum(r["kind"] == BUILT for r in rows)
        lines += [f"## Built models (means over {n} entries)", "", "| " + " | ".join(MODEL_NAMES.values()) + " |"]
        lines += [
            "|" + "---|" * len(MODEL_NAMES),
            "| " + " | ".join(_cell(means[BUILT][m]) for m in MODEL_NAMES) + " |",
            "",
        ]
    if failures:
        lines += ["## Failures", "", "| entry | error | reason |", "|---|---|---|"]
        lines += [f"| {f['entry_id']} | {f['error']} | {f['reason']} |" for f in failures]
        lines.append("")
    return "\n".join(lines)


def _paired_plot(rows: Sequence[dict], kind: str, path: str) -> bool:
    """Each metric of ``kind`` against the deposited map's, entry by entry; False when nothing pairs."""
    by_entry = {(r["entry_id"], r["kind"]): r for r in rows}
    panels = {}
    for metric in ("cc_mask", "cc_box", "q_score", "map_model_fsc_0_5"):
        pairs = [
            (by_entry[(e, DEPOSITED)].get(metric), r.get(metric))
            for (e, k), r in by_entry.items()
            if k == kind and (e, DEPOSITED) in by_entry
        ]
        pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
        if pairs:
            panels[MAP_METRICS[metric]] = tuple(np.array(v) for v in zip(*pairs, strict=True))
    if not panels:
        return False
    save_paired_scatter(path, panels, xlabel=DEPOSITED, ylabel=kind)
    return True


def write_results(output: str, rows: Sequence[dict], failures: Sequence[dict], *, title: str) -> list[str]:
    """Write ``results.csv``, ``summary.md`` and ``paired_<kind>.png`` under ``output``; returns their names."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=_columns(rows), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: (r["entry_id"], r["kind"])):
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    write_bytes(join(output, "results.csv"), text.getvalue().encode(), make_dirs=True)
    write_bytes(join(output, "summary.md"), _summary_md(rows, failures, title).encode(), make_dirs=True)
    written = ["results.csv", "summary.md"]
    kinds = [k for k in dict.fromkeys(r["kind"] for r in rows) if k not in (DEPOSITED, BUILT)]
    with tempfile.TemporaryDirectory() as scratch:
        for kind in kinds:
            name = "paired_" + "".join(c if c.isalnum() else "_" for c in kind) + ".png"
            local = os.path.join(scratch, name)
            if _paired_plot(rows, kind, local):
                with open(local, "rb") as handle:
                    write_bytes(join(output, name), handle.read(), make_dirs=True)
                written.append(name)
    return written
