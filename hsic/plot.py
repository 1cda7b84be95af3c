"""Figures for test results (the ``plot`` extra: ``pip install ".[plot]"``).

This module owns the package's matplotlib figures: the null distribution of a test with its
observed statistic, the heatmap of a [`PairwiseResult`][hsic.PairwiseResult], and the
layer-by-layer CKA matrix of [`hsic.similarity.cka_matrix`][hsic.similarity.cka_matrix].

matplotlib is imported only when a function here is called. Each function draws on the ``ax``
it is given; without one, on a new pyplot figure when ``matplotlib.pyplot`` has been imported
(so it shows in Jupyter and with ``plt.show()``), else on a standalone
``matplotlib.figure.Figure`` with an Agg canvas, leaving the backend and pyplot alone. Every
result's ``res.plot()`` calls these. Save the figure with ``ax.figure.savefig(path)``.

Example:
    >>> import numpy as np, hsic
    >>> x = np.linspace(-1, 1, 60)
    >>> res = hsic.test(x, x**2, method=hsic.Permutation(n_resamples=99))
    >>> ax = hsic.plot.null_distribution(res)
    >>> ax.get_xlabel()
    'HSIC_b'
"""

from hsic._api.figures import cka_matrix, null_distribution, pairwise

__all__ = ["cka_matrix", "null_distribution", "pairwise"]
