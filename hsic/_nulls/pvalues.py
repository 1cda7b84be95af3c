"""The p-value of a resampled null, and its tie rule.

``p = (1 + #{b : T_b ≥ T − tol}) / (1 + B)`` with ``tol = 1000·eps·|T|``: a randomised p-value
is never 0 (Phipson & Smyth 2010), and null statistics within floating-point rounding of the
observed one count as at least as extreme. Every resampling test of the package (permutation,
wild bootstrap, feature nulls, dHSIC, HSICAgg, pairwise, the conditional tests' simulated
nulls) uses this one rule.

**Non-finite values.** A NaN or infinite statistic or null value never becomes a p-value
(``NaN ≥ t`` is False, so it would count as the most extreme outcome, or as none): every
p-value of the package, resampled or approximate, and every ``Outcome``, goes through
``check_finite``, which raises a ``ValueError`` that says why such a value arises and what to do.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import scipy.special

__all__ = [
    "TIE_RTOL_EPS",
    "Outcome",
    "check_finite",
    "fitted_tail_pvalues",
    "normal_pvalue",
    "permutation_pvalue",
    "pvalues_against",
    "tie_threshold",
]

#: Ties within this many machine epsilons (relative) count as extreme.
TIE_RTOL_EPS = 1000


#: Why a statistic or null value is not finite, and what to do: the end of ``check_finite``'s
#: message.
NON_FINITE_CAUSES = (
    "the kernel computations overflowed or underflowed the floating-point range (float32 holds "
    "magnitudes from about 1e-38 to 3e38), or the data hold such extreme values: for example a "
    "fixed kernel bandwidth tiny or huge beside the data's distances (compare it with "
    "hsic.kernels.median_distance), or a linear or polynomial kernel on values too large for "
    "the dtype. Rescale the data, choose a bandwidth on the data's scale, or pass "
    "dtype='float64'."
)


def check_finite(statistic: Any, null: Any = None, *, what: str = "statistic") -> None:
    """Raise a ``ValueError`` if the observed ``statistic`` (a number or an array of them) or
    any value of ``null`` is NaN or infinite: such a value never becomes a p-value.

    The one rule, and the one message, for every test of the package.

    Args:
      statistic: the observed statistic (or statistics).
      null: the resampled or simulated null values, or ``None``.
      what: what ``statistic`` is, for the message (e.g. "statistic of the pair ('a', 'b')").

    Example:
      >>> import numpy as np
      >>> from hsic._nulls.pvalues import check_finite
      >>> check_finite(0.5, np.array([0.1, 0.2]))
      >>> check_finite(float("nan"))
      Traceback (most recent call last):
      ...
      ValueError: The statistic is nan, so it has no p-value: the kernel computations ...
    """
    observed = np.asarray(statistic, dtype=np.float64)
    if not np.all(np.isfinite(observed)):
        bad = observed[~np.isfinite(observed)].flat[0]
        raise ValueError(f"The {what} is {bad}, so it has no p-value: {NON_FINITE_CAUSES}")
    if null is None:
        return
    values = np.asarray(null, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        count = int(values.size - np.count_nonzero(finite))
        bad = values[~finite].flat[0]
        raise ValueError(
            f"{count} of the {values.size} null values behind the {what} are not finite (the "
            f"first is {bad}), so there is no p-value: {NON_FINITE_CAUSES}"
        )


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
    check_finite(observed, null)
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
    check_finite(stats, null)
    out = np.empty(stats.shape, dtype=np.float64)
    b = null.shape[0]
    for j in range(null.shape[1]):
        column = np.sort(null[:, j])
        count = b - np.searchsorted(column, tie_threshold(stats[:, j], null.dtype), side="left")
        out[:, j] = (1.0 + count) / (1.0 + b)
    return out


#: Below this absolute skewness the Pearson type III tail is the normal one (as in scipy).
NORMAL_SKEW = 1.6e-5


def fitted_tail_pvalues(null: np.ndarray, stats: np.ndarray) -> np.ndarray:
    """Per-column upper tails of the Pearson type III law matched to each column's first three
    moments: a continuous stand-in for ``pvalues_against``, with no floor at ``1/(1 + B)``.

    Column j of ``null`` has mean ``μ``, standard deviation ``σ`` and skewness ``γ``. For
    ``γ > 0`` the law is the gamma law of shape ``k = 4/γ²`` and scale ``θ = σγ/2`` shifted to
    start at ``μ − 2σ/γ``, so ``p(s) = Q(k, (s − μ + 2σ/γ)/θ)`` (``Q`` the regularised upper
    incomplete gamma function, 1 left of the start); for ``γ < 0`` it is the mirror image,
    ``p(s) = P(k, (μ + 2σ/|γ| − s)/θ)`` (0 right of its end); for ``|γ|`` below ``1.6e-5``, the
    normal ``Φ((μ − s)/σ)``. A column whose spread is within rounding, ``σ ≤ 1000·eps·|μ|``
    (``eps`` of the null's dtype), keeps its permutation p-value with the tie rule: there the
    observed statistic, summed in another order than the resampled ones, may differ from them
    by rounding alone, which a fitted tail would read as evidence. The gamma
    approximation of HSIC's null (Gretton et al. 2008) is the case ``μ − 2σ/γ = 0``; letting the
    start float also fits nulls that take negative values (U-statistics, wild bootstrap).

    Args:
      null: ``(B, J)`` resampled statistics of J statistics (columns).
      stats: ``(m, J)`` statistics to evaluate.

    Returns:
      ``(m, J)`` tail probabilities in ``[0, 1]``.

    Example:
      >>> import numpy as np
      >>> from hsic._nulls.pvalues import fitted_tail_pvalues
      >>> null = np.random.default_rng(0).gamma(2.0, size=(100_000, 1))
      >>> round(float(fitted_tail_pvalues(null, np.array([[12.0]]))[0, 0]), 5)  # Q(2, 12)
      8e-05
    """
    check_finite(stats, null)
    null = np.asarray(null)
    eps = np.finfo(null.dtype).eps if null.dtype.kind == "f" else 0.0
    values = null.astype(np.float64)
    stats = np.asarray(stats, dtype=np.float64)
    mean = values.mean(axis=0)
    centred = values - mean
    std = np.sqrt(np.mean(centred**2, axis=0))
    flat = std <= TIE_RTOL_EPS * eps * np.abs(mean) + np.finfo(np.float64).tiny
    safe_std = np.where(flat, 1.0, std)
    skew = np.mean(centred**3, axis=0) / safe_std**3
    z = (stats - mean) / safe_std  # standardised: the law has mean 0, sd 1, skewness γ
    normal = np.abs(skew) < NORMAL_SKEW
    g = np.where(normal, 1.0, np.abs(skew))
    shape, scale = 4.0 / g**2, g / 2.0
    # distance from the law's finite end (the start for γ > 0, the end for γ < 0), in units θ
    upper = np.maximum(z + 2.0 / g, 0.0) / scale
    lower = np.maximum(2.0 / g - z, 0.0) / scale
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.where(
            normal, scipy.special.ndtr(-z),
            np.where(skew > 0, scipy.special.gammaincc(shape, upper),
                     scipy.special.gammainc(shape, lower)),
        )
    if np.any(flat):
        out[:, flat] = pvalues_against(null[:, flat], stats[:, flat])
    return np.clip(out, 0.0, 1.0)


def normal_pvalue(statistic: float, null_std: float) -> float:
    """``P(N(0, null_std²) ≥ statistic)``: the upper tail of a centred normal null.

    Example:
      >>> from hsic._nulls.pvalues import normal_pvalue
      >>> normal_pvalue(0.0, 1.0)
      0.5
    """
    check_finite(statistic)
    return float(scipy.special.ndtr(-statistic / null_std))


class _OutcomeFields(NamedTuple):
    statistic: float
    pvalue: float
    null_distribution: np.ndarray | None
    info: dict[str, Any]
    kernel_x: Any = None
    kernel_y: Any = None


class Outcome(_OutcomeFields):
    """What a test method computes from prepared data: the common fields of every result.

    Building one checks that the statistic and the null are finite (``check_finite``): no
    method can hand a p-value of a NaN statistic up to a result.

    Attributes:
      statistic: the observed statistic.
      pvalue: its p-value.
      null_distribution: the resampled or simulated null statistics, or ``None``.
      info: method-specific details (plain JSON-serialisable values).
      kernel_x: the kernel of x behind ``statistic`` where the method chose it (HSICAgg's
        most significant bandwidth pair), else ``None``: the fitted kernel.
      kernel_y: the same for y.
    """

    __slots__ = ()

    def __new__(
        cls,
        statistic: float,
        pvalue: float,
        null_distribution: np.ndarray | None,
        info: dict[str, Any],
        kernel_x: Any = None,
        kernel_y: Any = None,
    ) -> Outcome:
        check_finite(statistic, null_distribution)
        return super().__new__(
            cls, statistic, pvalue, null_distribution, info, kernel_x, kernel_y
        )
