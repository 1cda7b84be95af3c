"""Mutual-information estimators, and tasks whose true MI is known.

Estimators (all return a Python float, in nats by default and in bits with ``base=2``):

* [`ksg`][hsic.mi.ksg]: the Kraskov-Stögbauer-Grassberger k-nearest-neighbour estimators
  (both variants), exact, with a tiled neighbour search in JAX;
* [`gaussian`][hsic.mi.gaussian]: the closed form under joint Gaussianity, through canonical
  correlations;
* [`histogram`][hsic.mi.histogram] and [`kde`][hsic.mi.kde]: plug-in estimators.

[`hsic.mi.tasks`][hsic.mi.tasks] holds distributions with known MI (Gaussian, Student-t,
additive uniform noise, their invertible transforms, independence) to check estimators
against.

Example:
    >>> import numpy as np, hsic.mi
    >>> x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(2000, rng=0)
    >>> abs(hsic.mi.ksg(x, y) - 0.5108) < 0.05
    True
"""

from hsic.mi import tasks
from hsic.mi._classical import gaussian, histogram, kde
from hsic.mi._ksg import ksg

__all__ = ["gaussian", "histogram", "kde", "ksg", "tasks"]

# Neural variational bounds (hsic/mi/_neural.py).
from hsic.mi._neural import infonce, mine, nwj, smile  # noqa: E402

__all__ += ["infonce", "mine", "nwj", "smile"]

# The comparison harness (hsic/mi/_compare.py).
from hsic.mi._compare import CompareResult, compare  # noqa: E402

__all__ += ["CompareResult", "compare"]
