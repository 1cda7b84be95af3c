"""hsic: kernel dependence statistics and independence tests, in JAX.

The main entry points:

* [`hsic.hsic`][hsic.hsic] and [`hsic.nhsic`][hsic.nhsic]: the HSIC statistic (biased or
  unbiased) and its normalised form (CKA), jit-compiled, differentiable and vmap-able;
* [`hsic.test`][hsic.test]: an independence test returning an
  [`HSICTestResult`][hsic.HSICTestResult]: permutation, gamma, aggregated over bandwidths,
  wild bootstrap for time series, and the large-n methods RFF, Nyström and block;
* [`hsic.joint_test`][hsic.joint_test] (dHSIC, d >= 2 variables) and
  [`hsic.conditional_test`][hsic.conditional_test] (KCI, RCIT, RCoT);
* [`hsic.pairwise`][hsic.pairwise]: every pair of columns at once, with BH/Bonferroni;
* [`hsic.plot`][hsic.plot]: figures of null distributions and pairwise heatmaps;
* [`hsic.similarity`][hsic.similarity]: centred kernel alignment (CKA) between the layers of
  networks, from features or accumulated over minibatches;
* [`hsic.losses`][hsic.losses]: HSIC, CKA, NOCCO and the HBaR regulariser as differentiable
  losses of a minibatch, for training any JAX model;
* [`hsic.kernels`][hsic.kernels]: Gaussian, Laplace, linear, polynomial, delta and precomputed
  kernels;
* `hsic.mi`: mutual-information estimators, tasks with known MI, and their comparison with
  HSIC; `hsic.bottleneck`: networks trained layer by layer with the HSIC bottleneck. Both are
  imported on first use (`hsic.mi.ksg(...)` works after `import hsic`).

Example:
    >>> import numpy as np, hsic
    >>> x = np.linspace(-1, 1, 100)
    >>> res = hsic.test(x, x**2)
    >>> res.pvalue < 0.01
    True
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from hsic import (
    kernels,
    losses,
    plot,  # matplotlib itself is imported lazily, by the plot functions
    similarity,
)
from hsic._api.conditional import conditional_test
from hsic._api.estimators import hsic, nhsic
from hsic._api.joint import dhsic, joint_test
from hsic._api.methods import (
    KCI,
    RCIT,
    RFF,
    Aggregated,
    AggregatedIncomplete,
    Block,
    Bootstrap,
    Gamma,
    Method,
    Nystrom,
    Permutation,
    RCoT,
    WildBootstrap,
)
from hsic._api.pairwise import pairwise
from hsic._api.results import (
    ConditionalTestResult,
    HSICTestResult,
    JointTestResult,
    PairwiseResult,
    TestResult,
)
from hsic._api.test import test
from hsic._base.devices import make_mesh
from hsic._stats.gram import centre, cka_from_gram, hsic_from_gram
from hsic._stats.nocco import nocco_from_gram, nocco_projection
from hsic.datasets import load_example

if TYPE_CHECKING:  # for type checkers; at run time they are imported lazily (__getattr__)
    from hsic import bottleneck as bottleneck
    from hsic import mi as mi

#: The application packages, imported on first access (``hsic.mi.ksg``) by ``__getattr__``:
#: ``import hsic`` stays fast, and needs neither optax nor the trainers.
_LAZY = ("mi", "bottleneck")


def __getattr__(name: str) -> Any:
    """``hsic.mi`` and ``hsic.bottleneck``, imported when first used (PEP 562)."""
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"hsic.{name}")
    raise AttributeError(f"module 'hsic' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


try:
    __version__ = version("hsic")  # one source: the package metadata (pyproject.toml)
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Aggregated",
    "AggregatedIncomplete",
    "Block",
    "Bootstrap",
    "Gamma",
    "HSICTestResult",
    "KCI",
    "Method",
    "Nystrom",
    "Permutation",
    "RCIT",
    "RCoT",
    "RFF",
    "TestResult",
    "WildBootstrap",
    "__version__",
    "centre",
    "cka_from_gram",
    "hsic",
    "hsic_from_gram",
    "kernels",
    "load_example",
    "losses",
    "make_mesh",
    "nhsic",
    "nocco_from_gram",
    "nocco_projection",
    "test",
    "JointTestResult",
    "dhsic",
    "joint_test",
    "ConditionalTestResult",
    "conditional_test",
    "PairwiseResult",
    "pairwise",
    "plot",
    "similarity",
]
