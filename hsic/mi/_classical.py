"""Classical MI estimators: the Gaussian closed form, and histogram and KDE plug-ins.

This module owns [`gaussian`][hsic.mi.gaussian], [`histogram`][hsic.mi.histogram] and
[`kde`][hsic.mi.kde]. They run in NumPy in float64: their cost is a few passes over the data
(``kde``: O(n²) kernel sums in row blocks), not a neighbour search.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy.special import logsumexp

from hsic._base.validation import check_number
from hsic.mi._common import check_base, check_pair, to_base

__all__ = ["gaussian", "histogram", "kde"]


def _canonical_correlations(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample canonical correlations of ``x`` (n, p) and ``y`` (n, q), via QR and an SVD."""

    def orthonormal(a: np.ndarray, name: str) -> np.ndarray:
        a = a - a.mean(axis=0)
        q, r = np.linalg.qr(a)
        diag = np.abs(np.diag(r))
        scale = np.linalg.norm(a, axis=0).max()
        if scale == 0 or diag.min() <= 1e-12 * scale:
            raise ValueError(
                f"`{name}` has a constant column or linearly dependent columns; "
                "the Gaussian MI is infinite or undefined. Drop the redundant columns."
            )
        return q

    qx = orthonormal(x, "x")
    qy = orthonormal(y, "y")
    return np.clip(np.linalg.svd(qx.T @ qy, compute_uv=False), 0.0, 1.0)


def gaussian(x: Any, y: Any, *, base: float | None = None) -> float:
    r"""MI of X and Y if they were jointly Gaussian with the sample covariance.

    With ρ_1, …, ρ_r the sample canonical correlations of x and y (r = min(d_x, d_y)),

        I = −½ Σᵢ log(1 − ρᵢ²) = ½ (log det Σ_xx + log det Σ_yy − log det Σ),

    where Σ is the joint sample covariance. It is exact for Gaussian data up to the sampling
    error of Σ, and for any data it is the MI of the Gaussian with the same covariance (a lower
    bound on the MI of that covariance's distributions). The canonical correlations come from
    QR decompositions of the centred data and an SVD, which is stabler than log-determinants.

    Args:
      x: samples of X, ``(n,)`` or ``(n, d_x)``.
      y: samples of Y, ``(n,)`` or ``(n, d_y)``.
      base: the logarithm's base of the result: None for nats, 2 for bits.

    Returns:
      The estimate, a Python float ≥ 0 (``inf`` when some canonical correlation is 1).

    Raises:
      ValueError: on bad input, n ≤ d_x + d_y, or constant or collinear columns.

    Example:
      >>> import numpy as np, hsic.mi
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=5000)
      >>> y = 0.8 * x + 0.6 * rng.normal(size=5000)   # true MI 0.5108 nats
      >>> round(hsic.mi.gaussian(x, y), 2)
      0.51

    References:
      H. Hotelling (1936). Relations between two sets of variates. Biometrika 28, 321-377.
      T. M. Cover, J. A. Thomas (2006). Elements of Information Theory, 2nd ed., ch. 8.
    """
    check_base(base)
    x, y = check_pair(x, y, min_n=2, reason="gaussian")
    n, dims = x.shape[0], x.shape[1] + y.shape[1]
    if n <= dims:
        raise ValueError(
            f"gaussian needs more samples than dimensions (d_x + d_y = {dims}); got n={n}."
        )
    rho = _canonical_correlations(x, y)
    with np.errstate(divide="ignore"):
        value = -0.5 * np.sum(np.log1p(-(rho**2)))
    return to_base(value, base)


def _check_bins(bins: Any) -> int | None:
    if isinstance(bins, str) and bins == "auto":
        return None
    return check_number(bins, "bins", "an integer >= 2 or 'auto'", integer=True, low=2)


def histogram(
    x: Any, y: Any, *, bins: int | Literal["auto"] = "auto", base: float | None = None
) -> float:
    r"""Plug-in MI of the empirical distribution on a grid of equal-width bins.

    Each coordinate is cut into ``bins`` equal-width bins over its sample range; with p̂ the
    cell frequencies of the joint grid and p̂_x, p̂_y those of the x and y grids,

        I = Σ p̂(a, b) log( p̂(a, b) / (p̂_x(a) p̂_y(b)) ).

    Only occupied cells are stored, so many dimensions cost memory O(n), not bins^d. The
    plug-in is biased upwards by about (cells − 1)/(2n) nats (Miller-Madow); under
    independence it is ≥ 0, not 0.

    Args:
      x: samples of X, ``(n,)`` or ``(n, d_x)``.
      y: samples of Y, ``(n,)`` or ``(n, d_y)``.
      bins: bins per coordinate, ≥ 2; ``"auto"`` uses max(2, ⌊n^(1/(d_x + d_y + 2))⌋).
      base: the logarithm's base of the result: None for nats, 2 for bits.

    Returns:
      The estimate, a Python float ≥ 0.

    Raises:
      ValueError: on bad input or ``bins`` < 2.

    Example:
      >>> import numpy as np, hsic.mi
      >>> x = np.array([0.0, 0.0, 1.0, 1.0])
      >>> round(hsic.mi.histogram(x, x, bins=2, base=2), 6)   # one fair bit
      1.0

    References:
      L. Paninski (2003). Estimation of entropy and mutual information. Neural Computation
      15, 1191-1253.
    """
    nbins = _check_bins(bins)
    check_base(base)
    x, y = check_pair(x, y, min_n=2, reason="histogram")
    n = x.shape[0]
    if nbins is None:
        nbins = max(2, int(np.floor(n ** (1.0 / (x.shape[1] + y.shape[1] + 2)))))

    def cells(a: np.ndarray) -> np.ndarray:
        lo, hi = a.min(axis=0), a.max(axis=0)
        width = np.where(hi > lo, hi - lo, 1.0)
        idx = np.floor((a - lo) / width * nbins).astype(np.int64)
        return np.clip(idx, 0, nbins - 1)  # the maximum falls in the last bin

    def labels(idx: np.ndarray) -> np.ndarray:
        return np.unique(idx, axis=0, return_inverse=True)[1].reshape(-1)

    lx, ly = labels(cells(x)), labels(cells(y))
    joint = lx * (ly.max() + 1) + ly
    _, joint_label, counts = np.unique(joint, return_inverse=True, return_counts=True)
    px = np.bincount(lx) / n
    py = np.bincount(ly) / n
    pxy = counts / n
    first = np.unique(joint_label.reshape(-1), return_index=True)[1]
    value = np.sum(pxy * (np.log(pxy) - np.log(px[lx[first]]) - np.log(py[ly[first]])))
    return to_base(max(float(value), 0.0), base)


def _loo_log_density(a: np.ndarray, h: float, block: int = 512) -> np.ndarray:
    """Leave-one-out Gaussian-KDE log-density at each row of ``a``, bandwidth ``h``."""
    n, d = a.shape
    sq = np.sum(a * a, axis=1)
    out = np.empty(n)
    for start in range(0, n, block):
        stop = min(n, start + block)
        d2 = sq[start:stop, None] + sq[None, :] - 2.0 * a[start:stop] @ a.T
        d2 = np.maximum(d2, 0.0)
        logk = -d2 / (2.0 * h * h)
        logk[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # leave i out
        out[start:stop] = logsumexp(logk, axis=1)
    return out - np.log(n - 1) - 0.5 * d * np.log(2.0 * np.pi * h * h)


def kde(
    x: Any,
    y: Any,
    *,
    bandwidth: float | Literal["scott"] = "scott",
    base: float | None = None,
) -> float:
    r"""Resubstitution MI estimate from leave-one-out Gaussian kernel density estimates.

    Each column of x and y is standardised (zero mean, unit variance). With φ_h a Gaussian
    kernel of width h in every coordinate and f̂₋ᵢ the density estimate without point i,
    f̂₋ᵢ(u) = 1/(n − 1) Σ_{j≠i} φ_h(u − u_j),

        I = (1/n) Σᵢ [ log f̂₋ᵢ(x_i, y_i) − log f̂₋ᵢ(x_i) − log f̂₋ᵢ(y_i) ].

    ``bandwidth="scott"`` uses h = n^(−1/(d + 4)) for each density, d being its dimension
    (Scott's rule on standardised data); a number uses that h (in standard deviations) for
    all three. Cost O(n²(d_x + d_y)) time, O(512 n) memory.

    Args:
      x: samples of X, ``(n,)`` or ``(n, d_x)``.
      y: samples of Y, ``(n,)`` or ``(n, d_y)``.
      bandwidth: ``"scott"`` or a positive float.
      base: the logarithm's base of the result: None for nats, 2 for bits.

    Returns:
      The estimate, a Python float (it can be slightly negative under independence).

    Raises:
      ValueError: on bad input, n < 3, a constant column, or a bandwidth that is not
        ``"scott"`` or a positive number.

    Example:
      >>> import numpy as np, hsic.mi
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=2000)
      >>> y = 0.8 * x + 0.6 * rng.normal(size=2000)   # true MI 0.5108 nats
      >>> round(hsic.mi.kde(x, y), 1)
      0.5

    References:
      Y.-I. Moon, B. Rajagopalan, U. Lall (1995). Estimation of mutual information using
      kernel density estimators. Physical Review E 52, 2318-2321.
    """
    if not (isinstance(bandwidth, str) and bandwidth == "scott"):
        bandwidth = check_number(
            bandwidth, "bandwidth", "'scott' or a positive number", low=0, low_open=True
        )
    check_base(base)
    x, y = check_pair(x, y, min_n=3, reason="kde")
    n = x.shape[0]

    def standardise(a: np.ndarray, name: str) -> np.ndarray:
        sd = a.std(axis=0)
        if np.any(sd == 0):
            raise ValueError(f"`{name}` has a constant column; its density is degenerate.")
        return (a - a.mean(axis=0)) / sd

    x, y = standardise(x, "x"), standardise(y, "y")
    xy = np.concatenate([x, y], axis=1)

    def h(d: int) -> float:
        return n ** (-1.0 / (d + 4)) if isinstance(bandwidth, str) else float(bandwidth)

    value = np.mean(
        _loo_log_density(xy, h(xy.shape[1]))
        - _loo_log_density(x, h(x.shape[1]))
        - _loo_log_density(y, h(y.shape[1]))
    )
    return to_base(float(value), base)

