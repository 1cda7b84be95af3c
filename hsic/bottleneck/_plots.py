"""Figures of an HSIC-bottleneck training run, drawn from its metrics log.

This module owns the run plots: the *HSIC plane* (per layer, nHSIC(Z, X) against
nHSIC(Z, Y) over training, the picture of the information-bottleneck trade-off in Ma, Lewis
and Kleijn 2020) and the accuracy curves. It reads ``metrics.jsonl`` (see
`hsic.bottleneck._checkpoint.read_jsonl`) and writes PNG files.

matplotlib is an optional extra (``pip install ".[plot]"``), imported only when a figure is
drawn. Figures are drawn with ``matplotlib.figure.Figure`` on an Agg canvas, so neither
``matplotlib.pyplot`` nor the user's global backend is touched.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hsic._base.io import DataFileError
from hsic.bottleneck._checkpoint import read_jsonl

__all__ = ["plot_run"]

METRICS_FILE = "metrics.jsonl"
SATURATION_WARNING = 0.99  # as train's warning: above it in both ratios, a block is saturated
_ACCURACIES = (
    ("train_acc", "train (format layer)", "-", "o"),
    ("test_acc", "test (format layer)", "-", "s"),
    ("train_acc_unformatted", "train (unformatted)", "--", "o"),
    ("test_acc_unformatted", "test (unformatted)", "--", "s"),
)


def _matplotlib() -> tuple[Any, Any]:
    """``(Figure, FigureCanvasAgg)``, or an ImportError saying how to install matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(
            'Plotting needs matplotlib (the plot extra): pip install ".[plot]" in the hsic checkout'
        ) from err
    return Figure, FigureCanvasAgg


def _layer_values(path: Path, records: list[dict], key: str) -> list[list[float]]:
    """``values[layer][record]`` of a per-layer metric, checked for a constant layer count."""
    rows: list[list[float]] = []
    for number, record in enumerate(records, 1):
        row = record.get(key)
        if not isinstance(row, list) or not row:
            raise DataFileError(
                path,
                f"record {number} has no per-layer list {key!r}; expected one value per layer.",
            )
        if len(row) != len(rows[0] if rows else row):
            raise DataFileError(
                path,
                f"record {number} has {len(row)} layers in {key!r}; record 1 has {len(rows[0])}.",
            )
        rows.append([float("nan") if v is None else float(v) for v in row])
    return [list(layer) for layer in zip(*rows, strict=True)]


def _plane_pair(path: Path, records: list[dict], x_key: str, y_key: str):
    xs = _layer_values(path, records, x_key)
    ys = _layer_values(path, records, y_key)
    if len(xs) != len(ys):
        raise DataFileError(path, f"{x_key!r} has {len(xs)} layers but {y_key!r} {len(ys)}.")
    return xs, ys


def _trajectories(ax, xs, ys) -> None:
    """One line per layer over the records, its start ``o`` and its end ``*``."""
    from matplotlib import colormaps  # imported by _matplotlib() already

    colours = colormaps["viridis"]
    layers = len(xs)
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        colour = colours(i / max(layers - 1, 1))
        ax.plot(x, y, "-", color=colour, linewidth=1.5, label=f"layer {i + 1}")
        ax.plot(x[0], y[0], "o", color=colour, markerfacecolor="white", markersize=7)
        ax.plot(x[-1], y[-1], "*", color=colour, markersize=11)
    ax.plot([], [], "o", color="grey", markerfacecolor="white", label="start")
    ax.plot([], [], "*", color="grey", markersize=11, label="end")
    ax.grid(True, alpha=0.3)


def _hsic_plane_figure(path: Path, records: list[dict]) -> Any:
    Figure, FigureCanvasAgg = _matplotlib()
    zx, zy = _plane_pair(path, records, "nhsic_zx", "nhsic_zy")
    # The ratios to the ceilings, where the log has them (runs of this version on).
    ratios = all(isinstance(r.get("saturation_zx"), list) for r in records)
    fig = Figure(figsize=(12.0 if ratios else 6.4, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 2 if ratios else 1, 1)
    _trajectories(ax, zx, zy)
    ax.set_xlabel("nHSIC(Z, X)")
    ax.set_ylabel("nHSIC(Z, Y)")
    ax.set_title("HSIC plane over training")
    ax.legend(fontsize="small", ncols=2 if len(zx) > 6 else 1)
    if ratios:
        sx, sy = _plane_pair(path, records, "saturation_zx", "saturation_zy")
        ax = fig.add_subplot(1, 2, 2)
        # Both terms at their ceilings: a saturated block, whose gradients vanish.
        ax.axvspan(SATURATION_WARNING, 1.0, ymin=SATURATION_WARNING / 1.05,
                   ymax=1.0 / 1.05, color="tab:red", alpha=0.15,
                   label=f"saturated (> {SATURATION_WARNING} of both)")
        ax.axvline(1.0, color="tab:red", linestyle="--", linewidth=1, label="ceiling")
        ax.axhline(1.0, color="tab:red", linestyle="--", linewidth=1)
        _trajectories(ax, sx, sy)
        ax.set_xlim(0, 1.05)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("nHSIC(Z, X) / ceiling (tr(R_X) for NOCCO)")
        ax.set_ylabel("nHSIC(Z, Y) / ceiling (tr(R_Y) for NOCCO)")
        ax.set_title("HSIC plane relative to the ceilings")
        ax.legend(fontsize="small", loc="lower left")
    return fig


def _accuracy_figure(records: list[dict]) -> Any:
    Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    drawn = False
    for key, label, style, marker in _ACCURACIES:
        points = [(r.get("epoch"), r.get(key)) for r in records]
        points = [(e, a) for e, a in points if e is not None and a is not None]
        if points:
            epochs, accuracies = zip(*points, strict=True)
            ax.plot(epochs, accuracies, linestyle=style, marker=marker, label=label)
            drawn = True
    if drawn:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no accuracy recorded", ha="center", va="center",
                transform=ax.transAxes)  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy over training")
    ax.grid(True, alpha=0.3)
    return fig


def plot_run(run_dir: str | os.PathLike, *, out_dir: str | os.PathLike | None = None) -> list[str]:
    """Draw a training run's HSIC plane and accuracy curves as PNG files.

    Reads ``run_dir/metrics.jsonl``, one record per epoch (or per N steps) with per-layer
    lists ``nhsic_zx`` and ``nhsic_zy`` and, optionally, ``epoch`` and the accuracies
    ``train_acc``, ``test_acc``, ``train_acc_unformatted``, ``test_acc_unformatted``
    (missing or ``null`` accuracies are skipped). Writes:

    * ``hsic_plane.png``: for each layer i, the trajectory of (nHSIC(Z_i, X), nHSIC(Z_i, Y))
      over the records, one colour per layer, the start marked ``o`` and the end ``*``. The
      HSIC-bottleneck objective nHSIC(Z, X) − β·nHSIC(Z, Y) pushes each trajectory left
      (compression) and up (relevance). When the records hold the ratios to the ceilings
      (``saturation_zx``, ``saturation_zy``, logged by ``train``), a second panel draws the
      same trajectories relative to the ceilings, with the ceilings (1) and the saturated
      corner (above 0.99 of both) marked.
    * ``accuracy.png``: train and test accuracy, with the format layer and unformatted, per
      epoch.

    Args:
      run_dir: the run directory holding ``metrics.jsonl``.
      out_dir: where to write the figures (created if missing); default ``run_dir``.

    Returns:
      The paths of the written files, ``[hsic_plane.png, accuracy.png]``.

    Raises:
      ImportError: if matplotlib is not installed (``pip install ".[plot]"``).
      ValueError: (a ``hsic._base.io.DataFileError``) naming the file, if the log is missing,
        empty, or a record lacks the per-layer values or changes the number of layers.

    Example:
      >>> import pathlib, tempfile
      >>> from hsic.bottleneck._checkpoint import append_jsonl
      >>> from hsic.bottleneck._plots import plot_run
      >>> with tempfile.TemporaryDirectory() as run:
      ...     for epoch in (1, 2):
      ...         append_jsonl(pathlib.Path(run, "metrics.jsonl"), {
      ...             "epoch": epoch, "nhsic_zx": [0.9 / epoch, 0.8 / epoch],
      ...             "nhsic_zy": [0.3 * epoch, 0.4 * epoch], "test_acc": 0.5 + 0.2 * epoch})
      ...     print(*(pathlib.Path(p).name for p in plot_run(run)))
      hsic_plane.png accuracy.png
    """
    run = Path(run_dir)
    path = run / METRICS_FILE
    if not path.is_file():
        raise DataFileError(
            path, f"no metrics log in {run}; pass the `--out` directory of a training run."
        )
    records = read_jsonl(path)
    if not records:
        raise DataFileError(path, "holds no records; train for at least one epoch first.")
    out = run if out_dir is None else Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in (
        ("hsic_plane.png", _hsic_plane_figure(path, records)),
        ("accuracy.png", _accuracy_figure(records)),
    ):
        target = out / name
        fig.savefig(target, dpi=120)
        written.append(str(target))
    return written
