"""What a person looks at after a sweep: trials sorted by the metric, and the metric against each setting."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

__all__ = ["save_sweep_plot", "trial_table"]


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return str(value.get("name", json.dumps(value, sort_keys=True)))  # a model section: its family
    return str(value)


def trial_table(rows: Sequence[Mapping[str, object]], keys: Sequence[str], metric: str) -> str:
    """A plain-text table, one trial per row (already sorted), with the searched settings."""
    header = ["trial", "status", metric, "reports", *keys]
    lines = [[_short(r.get(h, "")) for h in header] for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(
        [fmt.format(*header), fmt.format(*("-" * w for w in widths)), *(fmt.format(*line) for line in lines)]
    )


def save_sweep_plot(
    path: str | os.PathLike, rows: Sequence[Mapping[str, object]], keys: Sequence[str], metric: str
) -> None:
    """One panel per searched setting: each trial's metric against its value (categories as labels)."""
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.4), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=False):
        points = [(r[key], r[metric]) for r in rows if r.get(metric) is not None]
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x, _ in points)
        if numeric:
            ax.scatter([x for x, _ in points], [y for _, y in points])
            if points and min(x for x, _ in points) > 0 and max(x for x, _ in points) / min(x for x, _ in points) > 20:
                ax.set_xscale("log")
        else:
            labels = sorted({_short(x) for x, _ in points})
            ax.scatter([labels.index(_short(x)) for x, _ in points], [y for _, y in points])
            ax.set_xticks(range(len(labels)), labels, rotation=20, fontsize=8)
        stopped = [
            (r[key], r[metric]) for r in rows if r.get("status") == "stopped early" and r.get(metric) is not None
        ]
        if stopped and numeric:
            ax.scatter([x for x, _ in stopped], [y for _, y in stopped], marker="x", c="tab:red", label="stopped early")
            ax.legend(fontsize=7)
        ax.set_xlabel(key, fontsize=9)
        ax.set_ylabel(metric, fontsize=9)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
