"""Figures of the comparison harness (the ``plot`` extra: matplotlib, imported here only).

Figures are built as ``matplotlib.figure.Figure`` objects on Agg canvases, never through
pyplot, so drawing them neither needs a display nor changes the user's matplotlib backend.
"""

from __future__ import annotations

import math
import pathlib
from typing import Any


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(
            'The figures need matplotlib: pip install ".[plot]" in the hsic checkout'
        ) from err
    return Figure, FigureCanvasAgg


def _grid(count: int) -> tuple[int, int]:
    cols = min(4, count)
    return math.ceil(count / cols), cols


def draw(result: Any, directory: pathlib.Path) -> list[pathlib.Path]:
    """Write ``estimate_vs_true_mi.png`` and, with tests, ``power_vs_n.png``; return the paths."""
    Figure, FigureCanvasAgg = _matplotlib()
    directory.mkdir(parents=True, exist_ok=True)
    records = list(result.records)
    estimators = list(dict.fromkeys(r["estimator"] for r in records))
    tasks = list(dict.fromkeys(r["task"] for r in records))
    sizes = sorted({r["n"] for r in records})
    colours = {n: f"C{i}" for i, n in enumerate(sizes)}
    paths = []

    rows, cols = _grid(len(estimators))
    fig = Figure(figsize=(3.2 * cols, 2.9 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    top = max(r["true_mi"] for r in records)
    for i, name in enumerate(estimators):
        ax = fig.add_subplot(rows, cols, i + 1)
        rs = [r for r in records if r["estimator"] == name]
        is_mi = not all(math.isnan(r["bias"]) for r in rs)
        # MI panels share a fixed window; estimates outside it (neural bounds that overfit
        # can be far below zero) are drawn on its edge as triangles.
        lo, hi = -0.5, 1.6 * top + 0.1
        for size in sizes:
            sel = [r for r in rs if r["n"] == size]
            inside = [r for r in sel if not is_mi or lo <= r["estimate_mean"] <= hi]
            ax.errorbar(
                [r["true_mi"] for r in inside], [r["estimate_mean"] for r in inside],
                yerr=[0.0 if math.isnan(r["estimate_sd"]) else r["estimate_sd"] for r in inside],
                fmt="o", ms=3.5, capsize=2, color=colours[size], label=f"n = {size}",
            )
            below = [r for r in sel if is_mi and not r["estimate_mean"] >= lo]
            above = [r for r in sel if is_mi and r["estimate_mean"] > hi]
            for group, edge, marker in ((below, lo, "v"), (above, hi, "^")):
                if group:
                    ax.plot([r["true_mi"] for r in group], [edge] * len(group), marker,
                            ms=6, color=colours[size])
        if is_mi:
            ax.plot([0, top], [0, top], color="0.5", lw=0.8, ls="--")
            ax.set_ylim(lo - 0.05, hi + 0.05)
        ax.set_title(name)
        ax.set_xlabel("true MI (nats)")
        ax.set_ylabel("estimate (nats)" if is_mi else f"{name} statistic")
        if i == 0:
            ax.legend(fontsize="small")
    path = directory / "estimate_vs_true_mi.png"
    fig.savefig(path, dpi=110)
    paths.append(path)

    if result.n_resamples:
        rows, cols = _grid(len(tasks))
        fig = Figure(figsize=(3.2 * cols, 2.7 * rows), layout="constrained")
        FigureCanvasAgg(fig)
        tested = [
            name for name in estimators
            if any(r["estimator"] == name and not math.isnan(r["power"]) for r in records)
        ]
        for i, task in enumerate(tasks):
            ax = fig.add_subplot(rows, cols, i + 1)
            for j, name in enumerate(tested):
                sel = sorted(
                    (r for r in records if r["task"] == task and r["estimator"] == name),
                    key=lambda r: r["n"],
                )
                ax.plot(
                    [r["n"] for r in sel], [r["power"] for r in sel], marker="o", ms=3,
                    color=f"C{j}", label=name,
                )
            ax.axhline(result.alpha, color="0.5", lw=0.8, ls=":")
            ax.set_xscale("log")
            ax.set_xticks(sizes, [str(n) for n in sizes])
            ax.minorticks_off()
            ax.set_ylim(-0.05, 1.05)
            true_mi = next(r["true_mi"] for r in records if r["task"] == task)
            ax.set_title(f"{task}\n(MI {true_mi:.2f})", fontsize="small")
            ax.set_xlabel("n")
            ax.set_ylabel(f"power at α = {result.alpha:g}")
        handles, labels = fig.axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(6, len(labels)))
        path = directory / "power_vs_n.png"
        fig.savefig(path, dpi=110)
        paths.append(path)
    return paths
