"""Weighted chi-square mixtures: the asymptotic nulls of degenerate kernel statistics.

Under independence, ``n·T`` of a feature statistic converges to ``Σ_ij λ_i η_j z_ij²``,
``z_ij ~ N(0, 1)``, with ``λ``, ``η`` the eigenvalues of the feature covariances (Zhang et al.
2018); KCI and RCIT's statistics converge to mixtures of the same kind (Zhang et al. 2011,
Strobl et al. 2019). This module simulates such mixtures, or approximates their tail.
"""

from __future__ import annotations

import numpy as np

__all__ = ["positive_eigenvalues", "spectral_null"]

#: Normal draws per chunk of the spectral null.
SPECTRAL_ENTRIES = 2**22


def positive_eigenvalues(cov: np.ndarray, eps: float) -> np.ndarray:
    """Eigenvalues of a covariance matrix above ``D·eps·λ_max`` (the rest are rounding)."""
    values = np.linalg.eigvalsh(np.asarray(cov, dtype=np.float64))
    top = max(float(values.max()), 0.0) if values.size else 0.0
    return values[values > len(values) * eps * top]


def spectral_null(cxx, cyy, n: int, rng: np.random.Generator, draws: int, eps: float):
    """Draws of ``Σ_ij λ_i η_j z_ij² / n``, ``z_ij ~ N(0, 1)``: the null of the statistic.

    The normals are drawn in chunks of whole draws, one after another, so the result does not
    depend on the chunk size.
    """
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
