"""Pictures of training: loss/metric curves and mid-slices of input, prediction and target."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

__all__ = ["save_curves", "save_sample"]


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
