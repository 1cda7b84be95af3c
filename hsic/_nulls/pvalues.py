"""The p-value of a resampled null, and its tie rule.

``p = (1 + #{b : T_b ≥ T − tol}) / (1 + B)`` with ``tol = 1000·eps·|T|``: a randomised p-value
is never 0 (Phipson & Smyth 2010), and null statistics within floating-point rounding of the
observed one count as at least as extreme. Every resampling test of the package (permutation,
wild bootstrap, feature nulls, dHSIC, HSICAgg, pairwise, the conditional tests' simulated
nulls) uses this one rule.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["TIE_RTOL_EPS", "Outcome", "permutation_pvalue", "pvalues_against", "tie_threshold"]

#: Ties within this many machine epsilons (relative) count as extreme.
TIE_RTOL_EPS = 1000


def tie_threshold(observed, dtype) -> np.ndarray:
    """``observed − 1000·eps·|observed|``: null values at or above it count as extreme.

    ``eps`` is that of ``dtype`` (the null's floating dtype; 0 for integers).

    Example:
      >>> import numpy as np
      >>> from hsic._nulls.pvalues import tie_threshold
      >>> float(tie_threshold(1.0, np.float32)) < 1.0
      True
    """
    dtype = np.dtype(dtype)
    eps = np.finfo(dtype).eps if dtype.kind == "f" else 0.0
    observed = np.asarray(observed)
    return observed - TIE_RTOL_EPS * eps * np.abs(observed)


def permutation_pvalue(null: np.ndarray, observed: float) -> float:
    """``(1 + #{null ≥ observed − tol}) / (1 + B)``, ``tol = 1000·eps·|observed|``.

    Example:
      >>> import numpy as np
      >>> from hsic._nulls.pvalues import permutation_pvalue
      >>> permutation_pvalue(np.array([0.1, 0.5, 0.9]), 0.5)
      0.75
    """
    null = np.asarray(null)
    count = int(np.sum(null >= tie_threshold(observed, null.dtype)))
    return (1.0 + count) / (1.0 + len(null))


def pvalues_against(null: np.ndarray, stats: np.ndarray) -> np.ndarray:
    """Per-column permutation p-values ``(1 + #{null_j ≥ s_j − tol}) / (1 + B)``.

    Args:
      null: ``(B, J)`` resampled statistics of J statistics (columns).
      stats: ``(m, J)`` statistics to evaluate (the observed one, or a second set).

    Returns:
      ``(m, J)`` p-values, with the tie rule of ``permutation_pvalue``.
    """
    out = np.empty(stats.shape, dtype=np.float64)
    b = null.shape[0]
    for j in range(null.shape[1]):
        column = np.sort(null[:, j])
        count = b - np.searchsorted(column, tie_threshold(stats[:, j], null.dtype), side="left")
        out[:, j] = (1.0 + count) / (1.0 + b)
    return out


class Outcome(NamedTuple):
    """What a test method computes from prepared data: the common fields of every result.

    Attributes:
      statistic: the observed statistic.
      pvalue: its p-value.
      null_distribution: the resampled or simulated null statistics, or ``None``.
      info: method-specific details (plain JSON-serialisable values).
      kernel_x: the kernel of x behind ``statistic`` where the method chose it (HSICAgg's
        most significant bandwidth pair), else ``None``: the fitted kernel.
      kernel_y: the same for y.
    """

    statistic: float
    pvalue: float
    null_distribution: np.ndarray | None
    info: dict[str, Any]
    kernel_x: Any = None
    kernel_y: Any = None
