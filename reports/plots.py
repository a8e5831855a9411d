"""Matplotlib figures of the report, returned as PNG bytes (the HTML embeds them as base64)."""

from __future__ import annotations

import io
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _png(fig: "plt.Figure") -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def stacked_bars(labels: Sequence[str], parts: dict[str, Sequence[float]], ylabel: str, title: str,
                 log: bool = False) -> bytes:
    """Stacked bar chart: one bar per label, one segment per key of `parts` (same unit)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    bottom = [0.0] * len(labels)
    cmap = plt.get_cmap("tab20")
    for i, (name, vals) in enumerate(parts.items()):
        ax.bar(labels, vals, bottom=bottom, label=name, color=cmap(i % 20))
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _png(fig)


def versus_context(context: Sequence[int], series: dict[str, tuple[Sequence[float], Sequence[float]]],
                   ylabels: tuple[str, str], title: str) -> bytes:
    """Two panels (latency, energy) against context length, one line per series, log-log."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, (lat, en) in series.items():
        style = "-" if name.lower().startswith("analog") else "--"
        axes[0].plot(context, lat, style, label=name)
        axes[1].plot(context, en, style, label=name)
    for ax, yl in zip(axes, ylabels):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("context length (tokens)")
        ax.set_ylabel(yl)
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.suptitle(title)
    return _png(fig)


def pareto(points: Sequence[tuple[float, float]], front: Sequence[tuple[float, float]], xlabel: str,
           ylabel: str, title: str, labels: Sequence[str] | None = None) -> bytes:
    """Scatter of design points with the Pareto front (both axes minimized)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.scatter([p[0] for p in points], [p[1] for p in points], s=14, alpha=0.5, label="design points")
    f = sorted(front)
    ax.plot([p[0] for p in f], [p[1] for p in f], "r.-", label="Pareto front")
    if labels:
        for (x, y), lab in zip(points, labels):
            ax.annotate(lab, (x, y), fontsize=6)
    ax.set_xscale("log")
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)
