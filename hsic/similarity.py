"""Representation similarity: centred kernel alignment (CKA) between the layers of networks.

[`cka`][hsic.similarity.cka] compares two representations of the same samples (linear CKA from
features, never an ``n × n`` Gram matrix; or any kernel of [`hsic.kernels`][hsic.kernels]).
[`cka_matrix`][hsic.similarity.cka_matrix] gives the CKA of every pair of layers of one or two
networks, accumulated over minibatches with the unbiased estimator of Nguyen, Raghu & Kornblith
(2021), so that a model's activations never need to be stored whole; its result draws itself
with ``.plot()`` ([`hsic.plot.cka_matrix`][hsic.plot.cka_matrix]).

Example:
    >>> import numpy as np
    >>> from hsic import similarity
    >>> a = np.random.default_rng(0).normal(size=(200, 16))
    >>> round(float(similarity.cka(a, 2.0 * a)), 4)
    1.0
"""

from hsic._api.similarity import CKAMatrixResult, cka, cka_matrix

__all__ = ["CKAMatrixResult", "cka", "cka_matrix"]
