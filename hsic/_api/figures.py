"""Figures for test results (the ``plot`` extra: ``pip install ".[plot]"``); the public
module [`hsic.plot`][hsic.plot] re-exports them.

This module owns the package's matplotlib figures: the null distribution of a test with its
observed statistic, the heatmap of a [`PairwiseResult`][hsic.PairwiseResult], and the
layer-by-layer CKA matrix of [`hsic.similarity.cka_matrix`][hsic.similarity.cka_matrix].

matplotlib is imported only when a function here is called. Each function draws on the ``ax``
it is given; without one, on a new pyplot figure when ``matplotlib.pyplot`` has been imported
(pyplot is in use: the figure shows in Jupyter and with ``plt.show()``), else on a new
``matplotlib.figure.Figure`` with an Agg canvas, without pyplot, leaving the user's backend and
pyplot state as they are. Save the figure with ``ax.figure.savefig(path)``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["cka_matrix", "null_distribution", "pairwise"]


def _axes(ax: Any, figsize: tuple[float, float]) -> Any:
    """``ax``; else the axes of a new pyplot figure when pyplot is in use (imported), so that
    it shows in notebooks and with ``plt.show()``; else of a new Figure on an Agg canvas (no
    pyplot, no global state)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # deferred: optional extra
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            'hsic.plot needs matplotlib: pip install ".[plot]" in the hsic checkout'
        ) from err
    if ax is not None:
        return ax
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        return pyplot.figure(figsize=figsize).add_subplot()
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def _null_law(result: Any) -> tuple[Any, str] | None:
    """The frozen scipy law of the null of ``result`` and its label, for the methods whose
    null is a formula rather than draws: gamma, the block test's normal, and HBE's shifted and
    scaled chi-square (``T = s₁ + √(s₂/ν)(χ²_ν − ν)``, with ``null_variance = 2s₂``)."""
    import scipy.stats  # deferred: it slows down `import hsic`

    info = result.info
    if "gamma_shape" in info:
        return scipy.stats.gamma(info["gamma_shape"], scale=info["gamma_scale"]), "gamma null"
    if info.get("null") == "normal" and "null_std" in info:
        return scipy.stats.norm(0.0, info["null_std"]), "normal null"
    if "hbe_dof" in info:
        dof, s2 = info["hbe_dof"], info["null_variance"] / 2.0
        c = (s2 / dof) ** 0.5
        law = scipy.stats.chi2(dof, loc=info["null_mean"] - dof * c, scale=c)
        return law, "HBE null"
    return None


def null_distribution(
    result: Any, *, ax: Any = None, bins: int = 40, color: str = "C0"
) -> Any:
    """Plot a test's null distribution with the observed statistic and the p-value marked.

    A histogram of ``result.null_distribution`` (permutation, bootstrap, aggregated, wild
    bootstrap, simulated and spectral nulls), or the density of an approximate null: gamma
    (``method="gamma"``: ``HSIC_b ~ Gamma(shape, scale)``; the conditional tests'
    ``null="gamma"``), the block test's normal ``N(0, null_std²)``, or the conditional
    tests' Hall–Buckley–Eagleson chi-square (``null="hbe"``); with a vertical line at
    ``result.statistic`` and the p-value in the legend.

    Args:
      result: a test result ([`HSICTestResult`][hsic.HSICTestResult],
        [`JointTestResult`][hsic.JointTestResult] or
        [`ConditionalTestResult`][hsic.ConditionalTestResult]); ``result.plot()`` calls this.
      ax: a matplotlib ``Axes`` to draw on; by default a new figure's (a pyplot figure when
        pyplot is imported).
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
    law = None if result.null_distribution is not None else _null_law(result)
    if result.null_distribution is None and law is None:
        raise ValueError(
            f"`result` has no null distribution to plot (method={result.method!r})."
        )
    ax = _axes(ax, (6.0, 4.0))
    observed = float(result.statistic)
    if law is None:
        null = np.asarray(result.null_distribution, dtype=np.float64)
        ax.hist(null, bins=bins, density=True, color=color, alpha=0.6, label="null")
    else:
        law, label = law
        low = min(float(law.ppf(0.001)), observed)
        high = max(float(law.ppf(0.999)), observed)
        pad = 0.05 * (high - low)
        grid = np.linspace(low - pad, high + pad, 400)
        ax.plot(grid, law.pdf(grid), color=color, label=label)
    ax.axvline(observed, color="C3", linestyle="--", label=f"observed, p = {result.pvalue:.3g}")
    name = getattr(result, "statistic_name", "biased HSIC")
    ax.set_xlabel("HSIC_b" if name == "biased HSIC" else name)
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


def cka_matrix(
    result: Any,
    *,
    ax: Any = None,
    cmap: str = "magma",
    vmin: float | None = 0.0,
    vmax: float | None = 1.0,
    annotate: bool | None = None,
    max_labels: int = 60,
) -> Any:
    """Heatmap of a layer-by-layer CKA matrix, with the layer names on both axes.

    Rows are the layers of ``layers_a`` (bottom to top, the first at the bottom, as in
    Kornblith et al. 2019), columns those of ``layers_b`` (left to right).

    Args:
      result: a [`CKAMatrixResult`][hsic.similarity.CKAMatrixResult]; ``result.plot()`` calls
        this.
      ax: a matplotlib ``Axes``; by default a new figure's.
      cmap: a matplotlib colormap name.
      vmin: the bottom of the colour scale (default 0; ``None``: the data's minimum).
      vmax: the top of the colour scale (default 1).
      annotate: write each value in its cell; by default when there are at most 12 × 12.
      max_labels: label the axes with the layer names when there are at most this many.

    Returns:
      The matplotlib ``Axes``.

    Example:
      >>> import numpy as np, hsic
      >>> x = np.random.default_rng(0).normal(size=(64, 5))
      >>> res = hsic.similarity.cka_matrix({"x": x, "2x": 2 * x, "x^2": x**2})
      >>> ax = hsic.plot.cka_matrix(res)
      >>> tuple(t.get_text() for t in ax.get_xticklabels())
      ('x', '2x', 'x^2')
    """
    data = np.asarray(result.matrix, dtype=np.float64)
    p, q = data.shape
    ax = _axes(ax, (max(4.0, 1.0 + 0.35 * q), max(3.5, 0.8 + 0.35 * p)))
    image = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax, origin="lower", aspect="auto")
    ax.figure.colorbar(image, ax=ax, label="CKA")
    if annotate is None:
        annotate = p <= 12 and q <= 12
    if annotate:
        middle = 0.5 * ((vmin if vmin is not None else data.min())
                        + (vmax if vmax is not None else data.max()))
        for i in range(p):
            for j in range(q):
                colour = "black" if data[i, j] > middle else "white"
                ax.text(j, i, f"{data[i, j]:.2f}", ha="center", va="center", color=colour,
                        fontsize=8)
    if p <= max_labels:
        ax.set_yticks(range(p), result.names_a)
    if q <= max_labels:
        ax.set_xticks(range(q), result.names_b, rotation=90 if q > 8 else 0)
    ax.set_title(f"CKA ({result.kernel} kernel, n = {result.n}, {result.n_batches} batches)")
    return ax
