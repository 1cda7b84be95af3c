"""Figures for test results (the ``plot`` extra: ``pip install ".[plot]"``); the public
module [`hsic.plot`][hsic.plot] re-exports them.

This module owns the package's matplotlib figures: the null distribution of a test with its
observed statistic, and the heatmap of a [`PairwiseResult`][hsic.PairwiseResult].

matplotlib is imported only when a function here is called. Each function draws on the ``ax``
it is given, or on a new ``matplotlib.figure.Figure`` with an Agg canvas, without pyplot: the
user's global backend and pyplot state are never changed. Save the figure with
``ax.figure.savefig(path)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["null_distribution", "pairwise"]


def _axes(ax: Any, figsize: tuple[float, float]) -> Any:
    """``ax``, or the axes of a new Figure on an Agg canvas (no pyplot, no global state)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # deferred: optional extra
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            'hsic.plot needs matplotlib: pip install ".[plot]" in the hsic checkout'
        ) from err
    if ax is not None:
        return ax
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def null_distribution(
    result: Any, *, ax: Any = None, bins: int = 40, color: str = "C0"
) -> Any:
    """Plot a test's null distribution with the observed statistic and the p-value marked.

    A histogram of ``result.null_distribution`` (permutation, aggregated, wild bootstrap), or
    the gamma density (``method="gamma"``: ``HSIC_b ~ Gamma(shape, scale)``), with a vertical
    line at ``result.statistic`` and the p-value in the legend.

    Args:
      result: an [`HSICTestResult`][hsic.HSICTestResult].
      ax: a matplotlib ``Axes`` to draw on; by default a new figure's.
      bins: histogram bins.
      color: the colour of the null.

    Returns:
      The matplotlib ``Axes``.

    Example:
      >>> import numpy as np, hsic
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=100)
      >>> res = hsic.test(x, rng.normal(size=100), method="gamma")
      >>> ax = hsic.plot.null_distribution(res)
      >>> len(ax.lines)    # the density and the observed statistic
      2
    """
    ax = _axes(ax, (6.0, 4.0))
    observed = float(result.statistic)
    if result.null_distribution is not None:
        null = np.asarray(result.null_distribution, dtype=np.float64)
        ax.hist(null, bins=bins, density=True, color=color, alpha=0.6, label="null")
        high = max(float(null.max()), observed)
    elif "gamma_shape" in result.info:
        import scipy.stats  # deferred: it slows down `import hsic`

        law = scipy.stats.gamma(result.info["gamma_shape"], scale=result.info["gamma_scale"])
        high = max(float(law.ppf(0.999)), observed)
        grid = np.linspace(0.0, high * 1.05, 400)
        ax.plot(grid, law.pdf(grid), color=color, label="gamma null")
    else:
        raise ValueError(
            f"`result` has no null distribution to plot (method={result.method!r})."
        )
    ax.axvline(observed, color="C3", linestyle="--", label=f"observed, p = {result.pvalue:.3g}")
    ax.set_xlabel("HSIC_b")
    ax.set_ylabel("density")
    title = f"{result.method} test, n = {result.n}"
    if result.method == "aggregated":
        title += " (most significant bandwidth pair)"
    ax.set_title(title)
    ax.legend(loc="best")
    return ax


def pairwise(
    result: Any,
    *,
    value: str = "pvalue",
    ax: Any = None,
    cmap: str = "viridis",
    max_labels: int = 40,
) -> Any:
    """Heatmap of a [`PairwiseResult`][hsic.PairwiseResult].

    Args:
      result: the result of [`hsic.pairwise`][hsic.pairwise].
      value: ``"pvalue"`` and ``"pvalue_adjusted"`` are drawn as ``−log10(p)`` (dark: not
        significant); ``"statistic"`` as HSIC itself.
      ax: a matplotlib ``Axes``; by default a new figure's.
      cmap: a matplotlib colormap name.
      max_labels: label the axes with the column names when there are at most this many.

    Returns:
      The matplotlib ``Axes``.

    Example:
      >>> import numpy as np, hsic
      >>> X = np.random.default_rng(0).normal(size=(50, 4))
      >>> ax = hsic.plot.pairwise(hsic.pairwise(X, method="gamma"))
      >>> ax.get_title()
      '-log10(pvalue)'
    """
    if value not in ("pvalue", "pvalue_adjusted", "statistic"):
        raise ValueError(
            "`value` must be one of 'pvalue', 'pvalue_adjusted', 'statistic'; "
            f"got {value!r}."
        )
    matrix = getattr(result, value)
    if matrix is None:
        raise ValueError("`value`='pvalue_adjusted' needs a result computed with `adjust`.")
    ax = _axes(ax, (6.5, 5.5))
    if value == "statistic":
        data, label = np.asarray(matrix, dtype=np.float64), "HSIC_b"
    else:
        data, label = -np.log10(np.asarray(matrix, dtype=np.float64)), f"-log10({value})"
    image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, aspect="auto")
    ax.figure.colorbar(image, ax=ax, label=label)
    p, q = data.shape
    if p <= max_labels:
        ax.set_yticks(range(p), result.names_x)
    if q <= max_labels:
        ax.set_xticks(range(q), result.names_y, rotation=90)
    ax.set_title(label)
    return ax
