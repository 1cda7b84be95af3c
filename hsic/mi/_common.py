"""Shared plumbing of the MI estimators: input checks and the unit of the result.

Every estimator in [`hsic.mi`][hsic.mi] takes its samples through
[`check_pair`][hsic.mi._common.check_pair] (which reuses the core's checks in
``hsic._base.validation``) and reports its value through [`to_base`][hsic.mi._common.to_base], so
that all of them accept the same inputs, fail with the same messages and speak the same unit
(nats by default, ``base=2`` for bits).
"""

from __future__ import annotations

import math
from typing import Any

from hsic._base.validation import as_numpy_samples, check_number, check_same_n

__all__ = ["check_base", "check_pair", "to_base"]


def check_pair(x: Any, y: Any, *, min_n: int = 2, reason: str = "MI estimation"):
    """Check two samples and return them as float64 NumPy arrays of shape ``(n, d)``.

    Args:
      x: samples of the first variable, ``(n,)`` or ``(n, d_x)``.
      y: samples of the second variable, ``(n,)`` or ``(n, d_y)``, with the same ``n``.
      min_n: the least number of samples the caller can work with.
      reason: what needs ``min_n`` samples, for the error message.

    Returns:
      ``(x, y)`` as float64 NumPy arrays of shapes ``(n, d_x)`` and ``(n, d_y)``.

    Raises:
      ValueError: if either input is empty, ragged, non-numeric, not 1-D or 2-D or not finite,
        if the numbers of rows differ, or if there are fewer than ``min_n`` rows.
    """
    xa = as_numpy_samples(x, "x")  # on the host: no round trip through a JAX device
    ya = as_numpy_samples(y, "y")
    check_same_n(xa, ya, min_n=min_n, reason=reason)
    return xa, ya


def check_base(base: Any) -> float | None:
    """Check the ``base`` of the logarithm: ``None`` (nats) or a real number > 0 other than 1."""
    if base is None:
        return None
    requirement = "None (nats) or a positive number other than 1, e.g. 2 for bits"
    value = check_number(base, "base", requirement, low=0, low_open=True)
    if value == 1:
        raise ValueError(f"`base` must be {requirement}; got {base!r}.")
    return value


def to_base(value_nats: float, base: Any) -> float:
    """Convert a value in nats to the logarithm ``base`` (``None`` keeps nats).

    Example:
      >>> from hsic.mi._common import to_base
      >>> round(to_base(0.6931471805599453, 2), 12)
      1.0
    """
    base = check_base(base)
    value = float(value_nats)
    return value if base is None else value / math.log(base)
