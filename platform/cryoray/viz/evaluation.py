"""Pictures of an evaluation: FSC curves with their thresholds, and a score along each chain."""

from __future__ import annotations

import os
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

__all__ = ["save_fsc_curves", "save_paired_scatter", "save_residue_scores"]


def save_fsc_curves(
    path: str | os.PathLike, curves: Mapping[str, tuple[np.ndarray, np.ndarray]], *, title: str = ""
) -> None:
    """FSC against spatial frequency (1/Å), one line per curve, with the 0.143 and 0.5 thresholds.

    Args:
        curves: name -> ``(frequency in 1/Å, FSC)``; NaN points are left out.
    """
    if not curves:
        raise ValueError("no FSC curve to draw")
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (frequency, values) in curves.items():
        ax.plot(frequency, values, label=name)
    for level in (0.143, 0.5):
        ax.axhline(level, color="grey", linestyle=":", linewidth=1)
        ax.text(ax.get_xlim()[1], level, f" {level}", va="center", fontsize=8, color="grey")
    top = max(float(np.nanmax(f)) for f, _ in curves.values())
    ticks = np.linspace(0, top, 6)[1:]
    secondary = ax.secondary_xaxis("top", functions=(lambda f: f, lambda f: f))
    secondary.set_xticks(ticks, [f"{1 / t:.1f}" for t in ticks])
    secondary.set_xlabel("resolution (Å)")
    ax.set_xlabel("spatial frequency (1/Å)")
    ax.set_ylabel("FSC")
    ax.set_ylim(-0.1, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_residue_scores(
    path: str | os.PathLike,
    chains: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    expected: float | None = None,
    ylabel: str = "Q-score",
    max_panels: int = 12,
) -> None:
    """A score along each chain (residue number on x), one panel per chain, with an expected level.

    Args:
        chains: chain name -> ``(residue numbers, scores)``; only the first ``max_panels`` are drawn.
        expected: drawn as a dashed line (e.g. the expected Q at the map's resolution).
    """
    names = list(chains)[:max_panels]
    if not names:
        raise ValueError("no chain to draw")
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 1.8 * len(names) + 0.6), squeeze=False, sharey=True)
    for ax, name in zip(axes[:, 0], names, strict=True):
        numbers, scores = (np.asarray(a, dtype=float) for a in chains[name])
        breaks = np.flatnonzero(np.diff(numbers) > 1) + 1  # no line across a numbering gap
        numbers, scores = np.insert(numbers, breaks, np.nan), np.insert(scores, breaks, np.nan)
        ax.plot(numbers, scores, linewidth=0.8, marker="." if len(numbers) < 200 else None, markersize=3)
        if expected is not None:
            ax.axhline(expected, color="tab:red", linestyle="--", linewidth=1, label=f"expected {expected:.2f}")
            ax.legend(fontsize=7, loc="lower right")
        ax.set_ylabel(f"{ylabel}\nchain {name}", fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("residue number")
    more = len(chains) - len(names)
    if more > 0:
        fig.suptitle(f"first {len(names)} of {len(chains)} chains", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_paired_scatter(
    path: str | os.PathLike, panels: Mapping[str, tuple[np.ndarray, np.ndarray]], *, xlabel: str, ylabel: str
) -> None:
    """One panel per metric: each entry's value for ``ylabel`` against its value for ``xlabel``, with y = x.

    Points above the line are entries where the y kind scores higher (lower is better for FSC
    resolutions in Å: the panel title says which way is better when the name ends in "(Å)").
    """
    names = [n for n, (x, y) in panels.items() if len(x)]
    if not names:
        raise ValueError("no metric has any pair of values")
    fig, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        x, y = (np.asarray(v, dtype=float) for v in panels[name])
        ax.scatter(x, y, s=14)
        lo, hi = float(np.nanmin([x.min(), y.min()])), float(np.nanmax([x.max(), y.max()]))
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", linestyle=":", linewidth=1)
        better = "lower is better" if name.endswith("(Å)") else "higher is better"
        ax.set_title(f"{name}\n{better}", fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
