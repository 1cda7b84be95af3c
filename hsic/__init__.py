"""hsic: kernel dependence statistics and independence tests, in JAX.

The main entry points:

* [`hsic.hsic`][hsic.hsic] and [`hsic.nhsic`][hsic.nhsic]: the HSIC statistic (biased or
  unbiased) and its normalised form (CKA), jit-compiled, differentiable and vmap-able;
* [`hsic.test`][hsic.test]: an independence test (permutation or gamma null) returning an
  [`HSICTestResult`][hsic.HSICTestResult];
* [`hsic.pairwise`][hsic.pairwise]: every pair of columns at once, with BH/Bonferroni;
* [`hsic.plot`][hsic.plot]: figures of null distributions and pairwise heatmaps;
* [`hsic.kernels`][hsic.kernels]: Gaussian, Laplace, linear, polynomial, delta and precomputed
  kernels.

Example:
    >>> import numpy as np, hsic
    >>> x = np.linspace(-1, 1, 100)
    >>> res = hsic.test(x, x**2, seed=0)
    >>> res.pvalue < 0.01
    True
"""

from hsic import (
    kernels,
    plot,  # matplotlib itself is imported lazily, by the plot functions
)
from hsic._estimators import centre, cka_from_gram, hsic, hsic_from_gram, nhsic
from hsic._independence import HSICTestResult, test
from hsic._pairwise import PairwiseResult, pairwise
from hsic._sharding import make_mesh
from hsic.datasets import load_example

__version__ = "0.1.0"

__all__ = [
    "HSICTestResult",
    "__version__",
    "centre",
    "cka_from_gram",
    "hsic",
    "hsic_from_gram",
    "kernels",
    "load_example",
    "make_mesh",
    "nhsic",
    "test",
    "PairwiseResult",
    "pairwise",
    "plot",
]
