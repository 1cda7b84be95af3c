"""The null-distribution layer: the permutation engine (one device or sharded), the tie rule
and p-values, the gamma approximation, weighted chi-square mixtures, the wild bootstrap and
HSICAgg's aggregation.

Everything here turns statistics (or the Gram matrices and features behind them) into a null
law and a p-value. It imports ``hsic._base`` and ``hsic._stats`` only.
"""
