"""Kernels, bandwidth rules and Gram matrices: the public face of ``hsic._stats.kernels`` and
``hsic._stats.distances``.

A kernel is a small frozen dataclass. ``kernel.fit(x)`` resolves data-dependent settings (the
median heuristic) and returns a kernel whose parameters are plain numbers; ``kernel.gram(x, z)``
evaluates the Gram matrix ``k(x_i, z_j)``. Fitted kernels are JAX pytrees whose numeric
parameters are leaves, so passing a new bandwidth to a jitted function does not recompile it.

Kernels can be named by string wherever the API takes one: ``"gaussian"``, ``"laplace"``,
``"linear"``, ``"polynomial"``, ``"delta"`` and ``"precomputed"``.

Example:
    >>> import numpy as np
    >>> from hsic import kernels
    >>> x = np.arange(5.0)
    >>> k = kernels.Gaussian().fit(x)          # median heuristic, per variable
    >>> k.bandwidth
    2.0
    >>> kernels.Gaussian(bandwidth=2.0).gram(x).shape
    (5, 5)
"""

from hsic._stats.distances import MEDIAN_SUBSAMPLE, median_distance
from hsic._stats.kernels import (
    KERNEL_NAMES,
    Delta,
    Gaussian,
    Kernel,
    Laplace,
    Linear,
    Polynomial,
    Precomputed,
    get_kernel,
)

__all__ = [
    "Kernel",
    "Gaussian",
    "Laplace",
    "Linear",
    "Polynomial",
    "Delta",
    "Precomputed",
    "KERNEL_NAMES",
    "MEDIAN_SUBSAMPLE",
    "get_kernel",
    "median_distance",
]
