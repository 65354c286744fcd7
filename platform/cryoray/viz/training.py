"""Pictures of training: loss/metric curves and mid-slices of input, prediction and target."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

__all__ = ["save_curves", "save_lr_range", "save_sample"]


def save_curves(path: str | os.PathLike, curves: Mapping[str, Sequence[tuple[int, float]]], *, title: str = "") -> None:
    """One panel per metric, value against optimiser step."""
    names = [name for name, points in curves.items() if points]
    if not names:
        raise ValueError("no curve has any points")
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=False):
        steps, values = zip(*sorted(curves[name]), strict=True)
        ax.plot(steps, values, marker="." if len(steps) < 50 else None)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_lr_range(
    path: str | os.PathLike, lrs: np.ndarray, losses: np.ndarray, smoothed: np.ndarray, marks: Mapping[str, float]
) -> None:
    """A learning-rate range test: loss and smoothed loss against the rate (log axis), rates marked."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(lrs, losses, color="0.75", lw=0.8, label="loss")
    ax.plot(lrs, smoothed, color="C0", label="smoothed")
    for i, (name, lr) in enumerate(marks.items()):
        ax.axvline(lr, color=f"C{i + 1}", ls="--", label=f"{name} {lr:.2g}")
    finite = smoothed[np.isfinite(smoothed)]
    if len(finite) and finite.min() > 0:  # cut the blow-up, which would flatten everything before it
        lo, hi = finite.min(), min(finite.max(), max(1.1 * finite[0], 4 * finite.min()))
        ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_sample(path: str | os.PathLike, panels: Mapping[str, np.ndarray], *, title: str = "") -> None:
    """The middle z-section of each ``(D, H, W)`` volume side by side (voxel axes, y up)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.5), squeeze=False)
    for ax, (name, volume) in zip(axes[0], panels.items(), strict=False):
        section = np.asarray(volume)[volume.shape[0] // 2]
        ax.imshow(section, origin="lower", cmap="gray", interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
