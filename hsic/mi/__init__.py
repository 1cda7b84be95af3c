"""Mutual-information estimators, and tasks whose true MI is known.

Estimators (all return a Python float, in nats by default and in bits with ``base=2``):

* [`ksg`][hsic.mi.ksg]: the Kraskov-Stögbauer-Grassberger k-nearest-neighbour estimators
  (both variants), exact, with a tiled neighbour search in JAX;
* [`gaussian`][hsic.mi.gaussian]: the closed form under joint Gaussianity, through canonical
  correlations;
* [`histogram`][hsic.mi.histogram] and [`kde`][hsic.mi.kde]: plug-in estimators;
* [`infonce`][hsic.mi.infonce], [`nwj`][hsic.mi.nwj], [`mine`][hsic.mi.mine] and
  [`smile`][hsic.mi.smile]: neural variational lower bounds, whose critic network and training
  are set by [`Critic`][hsic.mi.Critic] and [`Training`][hsic.mi.Training].

[`hsic.mi.tasks`][hsic.mi.tasks] holds distributions with known MI (Gaussian, Student-t,
additive uniform noise, their invertible transforms, independence) to check estimators
against, and [`compare`][hsic.mi.compare] runs estimators, HSIC and nHSIC side by side on them.

Example:
    >>> import numpy as np, hsic.mi
    >>> x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(2000, rng=0)
    >>> abs(hsic.mi.ksg(x, y) - 0.5108) < 0.05
    True
"""

from hsic.mi import tasks
from hsic.mi._classical import gaussian, histogram, kde
from hsic.mi._compare import CompareResult, compare
from hsic.mi._critics import Critic
from hsic.mi._ksg import ksg
from hsic.mi._neural import infonce, mine, nwj, smile
from hsic.mi._training import Training

__all__ = [
    "CompareResult",
    "Critic",
    "Training",
    "compare",
    "gaussian",
    "histogram",
    "infonce",
    "kde",
    "ksg",
    "mine",
    "nwj",
    "smile",
    "tasks",
]
