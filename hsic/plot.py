"""Figures for test results (the ``plot`` extra: ``pip install ".[plot]"``).

This module owns the package's matplotlib figures: the null distribution of a test with its
observed statistic, and the heatmap of a [`PairwiseResult`][hsic.PairwiseResult].

matplotlib is imported only when a function here is called. Each function draws on the ``ax``
it is given, or on a new ``matplotlib.figure.Figure`` with an Agg canvas, without pyplot: the
user's global backend and pyplot state are never changed. Save the figure with
``ax.figure.savefig(path)``.

Example:
    >>> import numpy as np, hsic
    >>> x = np.linspace(-1, 1, 60)
    >>> res = hsic.test(x, x**2, method=hsic.Permutation(n_resamples=99))
    >>> ax = hsic.plot.null_distribution(res)
    >>> ax.get_xlabel()
    'HSIC_b'
"""

from hsic._api.figures import null_distribution, pairwise

__all__ = ["null_distribution", "pairwise"]
