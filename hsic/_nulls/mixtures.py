"""Weighted chi-square mixtures: the asymptotic nulls of degenerate kernel statistics.

Under independence, ``n·T`` of a feature statistic converges to ``Σ_ij λ_i η_j z_ij²``,
``z_ij ~ N(0, 1)``, with ``λ``, ``η`` the eigenvalues of the feature covariances (Zhang et al.
2018); KCI and RCIT's statistics converge to mixtures of the same kind (Zhang et al. 2011,
Strobl et al. 2019). This module simulates such mixtures, or approximates their tail.

For a mixture ``Σ_k λ_k ζ_k²`` known through the power sums ``s_r = Σ λ^r`` of its weights
(``mixture_null``):

* ``"gamma"``: a gamma law with the mean ``s₁`` and variance ``2s₂`` (Satterthwaite–Welch);
* ``"hbe"``: Hall–Buckley–Eagleson, a shifted and scaled χ²_ν matching the first three
  cumulants ``κ_r = 2^{r−1}(r−1)!·s_r`` (``ν = 8κ₂³/κ₃² = s₂³/s₃²``), more accurate in the tail;
* ``"simulated"``: draws of ``Σ λ_k ζ_k²`` with ``ζ ~ N(0, 1)``, and the p-value
  ``(1 + #{draws ≥ T})/(1 + B)`` with the package's tie rule.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.special

from hsic._nulls.pvalues import Outcome, check_finite, permutation_pvalue

__all__ = [
    "MIXTURE_NULLS",
    "gamma_tail",
    "hbe_tail",
    "mixture_null",
    "positive_eigenvalues",
    "spectral_null",
]

#: The approximations of ``mixture_null``.
MIXTURE_NULLS = ("gamma", "hbe", "simulated")

#: Normal draws per chunk of the spectral null.
SPECTRAL_ENTRIES = 2**22


def positive_eigenvalues(cov: np.ndarray, eps: float) -> np.ndarray:
    """Eigenvalues of a covariance matrix above ``D·eps·λ_max`` (the rest are rounding)."""
    values = np.linalg.eigvalsh(np.asarray(cov, dtype=np.float64))
    top = max(float(values.max()), 0.0) if values.size else 0.0
    return values[values > len(values) * eps * top]


def spectral_null(cxx, cyy, n: float, rng: np.random.Generator, draws: int, eps: float):
    """Draws of ``Σ_ij λ_i η_j z_ij² / n``, ``z_ij ~ N(0, 1)``: the null of the statistic.

    The normals are drawn in chunks of whole draws, one after another, so the result does not
    depend on the chunk size. Non-finite covariances (from non-finite features) give NaN
    draws, which the p-value refuses (``check_finite``) rather than an eigensolver error.
    """
    if not (np.all(np.isfinite(cxx)) and np.all(np.isfinite(cyy))):
        return np.full(draws, np.nan)
    lam = positive_eigenvalues(cxx, eps)
    eta = positive_eigenvalues(cyy, eps)
    weights = np.outer(lam, eta).ravel()
    if weights.size == 0:
        return np.zeros(draws)
    per_chunk = max(1, SPECTRAL_ENTRIES // weights.size)
    out = np.empty(draws)
    for start in range(0, draws, per_chunk):
        count = min(per_chunk, draws - start)
        z = rng.standard_normal((count, weights.size))
        out[start:start + count] = (z * z) @ weights
    return out / n


def gamma_tail(statistic: float, s1: float, s2: float) -> tuple[float, float, float]:
    """``P(G ≥ statistic)`` for the gamma law ``G`` with the mean ``s₁`` and variance ``2s₂``
    of ``Σ λ_k ζ_k²``: ``(pvalue, shape, scale)``, shape ``s₁²/(2s₂)``, scale ``2s₂/s₁``.

    Example:
      >>> from hsic._nulls.mixtures import gamma_tail
      >>> gamma_tail(2.0, 2.0, 2.0)[1:]        # two unit weights: exactly χ²₂ = Gamma(1, 2)
      (1.0, 2.0)
    """
    shape, scale = s1 * s1 / (2.0 * s2), 2.0 * s2 / s1
    return float(scipy.special.gammaincc(shape, statistic / scale)), shape, scale


def hbe_tail(statistic: float, s1: float, s2: float, s3: float) -> tuple[float, float]:
    """The Hall–Buckley–Eagleson tail of ``Σ λ_k ζ_k²``: ``(T − κ₁)/√κ₂ ≈ (χ²_ν − ν)/√(2ν)``
    with ``ν = s₂³/s₃²``. Returns ``(pvalue, ν)``.

    Example:
      >>> from hsic._nulls.mixtures import hbe_tail
      >>> hbe_tail(2.0, 2.0, 2.0, 2.0)[1]      # equal weights: exact, ν = their number
      2.0
    """
    dof = s2**3 / s3**2
    quantile = dof + (statistic - s1) * math.sqrt(dof / s2)
    return float(scipy.special.chdtrc(dof, max(quantile, 0.0))), dof


def mixture_null(
    statistic: float,
    sums: tuple[float, float, float],
    null: str,
    *,
    weights: Any,
    scale: float,
    rng: np.random.Generator,
    n_resamples: int,
) -> Outcome:
    """The p-value of ``statistic`` under ``Σ_k λ_k ζ_k²``, by the approximation ``null``.

    Args:
      statistic: the observed statistic.
      sums: the power sums ``(s₁, s₂, s₃)`` of the weights (``s₃`` is used by ``"hbe"`` only).
      null: ``"gamma"``, ``"hbe"`` or ``"simulated"``.
      weights: a symmetric matrix whose eigenvalues divided by ``scale`` are the weights λ
        (only decomposed by ``"simulated"``).
      scale: see ``weights``.
      rng: the source of the simulated draws.
      n_resamples: the number of simulated draws.

    Returns:
      An ``Outcome`` whose ``info`` holds ``null``; ``gamma_shape`` and ``gamma_scale``
      (``"gamma"``), ``hbe_dof`` (``"hbe"``) or ``n_resamples`` (``"simulated"``); and the
      null's ``null_mean`` ``s₁`` and ``null_variance`` ``2s₂``.

    Raises:
      ValueError: when the weights are all 0 (``"gamma"``, ``"hbe"``).
    """
    check_finite(statistic)
    s1, s2, s3 = sums
    info: dict[str, Any] = {"null": null}
    draws = None
    if null == "simulated":
        # spectral_null draws Σ_ij λ_i η_j ζ_ij² / scale over the eigenvalues of its two
        # matrices: with the 1×1 identity as the second, these are draws of Σ_k λ_k ζ_k².
        draws = spectral_null(
            np.asarray(weights, dtype=np.float64), np.ones((1, 1)), scale, rng, n_resamples,
            float(np.finfo(np.float64).eps),
        )
        pvalue = permutation_pvalue(draws, statistic)
        info["n_resamples"] = n_resamples
    elif not (s1 > 0 and s2 > 0):
        raise ValueError(
            "The null approximation is undefined here (the weights of its chi-square mixture "
            "are all 0): z explains x or y entirely. Check for duplicated variables."
        )
    elif null == "gamma":
        pvalue, info["gamma_shape"], info["gamma_scale"] = gamma_tail(statistic, s1, s2)
    else:
        pvalue, info["hbe_dof"] = hbe_tail(statistic, s1, s2, s3)
    info.update(null_mean=s1, null_variance=2.0 * s2)
    return Outcome(statistic, pvalue, draws, info)
