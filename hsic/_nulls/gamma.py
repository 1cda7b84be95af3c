"""The gamma approximation to the null of ``n·HSIC_b`` (Gretton et al. 2008).

``n·HSIC_b`` is approximated under the null by a gamma law matched to its null mean and
variance, computed from the centred sums of the tiled pass (nothing ``n × n`` is stored).
"""

from __future__ import annotations

import numpy as np
import scipy.special

from hsic._nulls.pvalues import check_finite
from hsic._stats.gram import CentredSums

__all__ = ["gamma_law", "gamma_null"]

def gamma_law(kl, kl_sq_off, k_total, l_total, k_trace, l_trace, n: int):
    """The gamma approximation of ``gamma_null``, on arrays of sums.

    Each argument but ``n`` is a float or an array of the sums of one or many pairs (as in
    ``hsic._stats.gram.CentredSums``); they broadcast together.

    Returns:
      ``(shape, scale, pvalue)`` arrays (float64): the gamma law of ``HSIC_b`` (scale ``v/μ``)
      and the upper tail probability of the observed ``HSIC_b = kl/n²``; NaN where the null mean
      or variance is not positive (the approximation is undefined there).
    """
    kl, kl_sq_off, k_total, l_total, k_trace, l_trace = (
        np.asarray(v, dtype=np.float64)
        for v in (kl, kl_sq_off, k_total, l_total, k_trace, l_trace)
    )
    pairs = n * (n - 1.0)
    var = kl_sq_off / 36.0 / pairs * 72.0 * (n - 4) * (n - 5) / (pairs * (n - 2) * (n - 3))
    mu_x, mu_y = (k_total - k_trace) / pairs, (l_total - l_trace) / pairs
    mean = (k_trace / n - mu_x) * (l_trace / n - mu_y) / n
    valid = (mean > 0) & (var > 0)
    mean, var = np.where(valid, mean, np.nan), np.where(valid, var, np.nan)
    shape = mean * mean / var
    scale = n * var / mean
    pvalue = scipy.special.gammaincc(shape, (kl / n) / scale)  # the gamma upper tail
    return shape, scale / n, pvalue


def gamma_null(sums: CentredSums, n: int) -> tuple[float, float, float, float]:
    """Gamma approximation to the null law of ``HSIC_b`` (Gretton et al. 2008).

    With double-centred ``K̄, L̄`` (the sums come from the tiled pass, so nothing ``n × n`` is
    stored), the null mean and variance of ``HSIC_b`` are, as in Gretton's hsicTestGamma:

    * ``v = 72(n−4)(n−5) / (n(n−1)(n−2)(n−3)) · Σ_{i≠j} (K̄_ij L̄_ij / 6)² / (n(n−1))``;
    * ``μ = (tr K/n − μ_x)(tr L/n − μ_y) / n``, with ``μ_x`` the mean off-diagonal entry of K.
      For kernels with a unit diagonal (Gaussian, Laplace) this is Gretton's
      ``(1 + μ_x μ_y − μ_x − μ_y)/n``.

    Then ``n·HSIC_b ≈ Gamma(shape = μ²/v, scale = n·v/μ)``.

    Returns:
      ``(statistic, pvalue, shape, scale)``: ``HSIC_b``, the upper tail probability, and the
      gamma law of ``HSIC_b`` itself (its scale is ``v/μ``, i.e. the ``n·HSIC_b`` scale / n).
    """
    kl = float(sums.kl)
    check_finite(kl / n / n)
    shape, scale, pvalue = gamma_law(
        kl, sums.kl_sq_off, sums.k_total, sums.l_total, sums.k_trace, sums.l_trace, n
    )
    if not np.isfinite(shape):
        raise ValueError(
            "The gamma approximation is undefined here (its null mean or variance is 0); "
            "use method='permutation'."
        )
    return kl / n / n, float(pvalue), float(shape), float(scale)
