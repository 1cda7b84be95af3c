"""The wild bootstrap HSIC test for time series (Chwialkowski, Sejdinovic, Gretton 2014).

This module owns ``hsic.test(x, y, method="wild_bootstrap")``: the dependent multiplier
process and the bootstrapped null. ``hsic.test`` validates the data and fits the kernels, then
calls [`wild_bootstrap_null`][hsic._wild_bootstrap.wild_bootstrap_null].

When the samples ``(x_t, y_t)`` are a stationary, weakly dependent time series, permuting y
breaks its serial dependence as well as its dependence on x, so the permutation null is too
narrow and the permutation test rejects too often under independence. The wild bootstrap keeps
the time order. With ``M = K̄ ∘ L̄`` (``K̄ = HKH``, ``L̄ = HLH``), the statistic is
``HSIC_b = Σ_ij M_ij / n²`` and each bootstrap replicate is

``HSIC_b^{(b)} = Σ_ij W̃_i W̃_j M_ij / n²``, with ``W̃ = W − mean(W)``,

the centred multipliers of the paper's second bootstrap (``V_{b2}``). ``W`` is a stationary
Gaussian AR(1) (an Ornstein–Uhlenbeck process sampled at unit steps) with unit variance and
correlation ``e^{−|s−t|/ℓ}``:

``W_1 ~ N(0, 1)``, ``W_t = e^{−1/ℓ} W_{t−1} + sqrt(1 − e^{−2/ℓ}) ε_t``, ``ε_t ~ N(0, 1)``.

ℓ (``wild_bootstrap_length``) should grow with n but stay ``o(n)``; the default ℓ = 20 is
that of the authors' code. Larger ℓ suits more strongly autocorrelated series. The p-value is
``(1 + #{b : HSIC_b^{(b)} ≥ HSIC_b − tol}) / (1 + B)``, as for permutations.

**Measured level** (α = 0.05, two independent Gaussian AR(1) series, Gaussian kernels with
the median heuristic): with φ = 0.5 and n = 300 the wild bootstrap rejected 7 % of 150 pairs;
with φ = 0.8 it rejected 9–13 % for n = 150–400 and ℓ = 5–20, where the permutation test
rejected about 50 %. Under strong autocorrelation and moderate n it is thus much better than
permutations but still somewhat liberal: treat p-values near α with care.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.signal

from hsic import kernels as _kernels
from hsic._nulls import centred_grams, permutation_pvalue
from hsic._validation import check_fits_in_memory, check_positive_int

__all__ = ["DEFAULT_LENGTH", "multiplier_process", "wild_bootstrap_null"]

#: Default ℓ of the multiplier process (the authors' code uses 20).
DEFAULT_LENGTH = 20.0


def _check_length(length: Any) -> float:
    if (
        isinstance(length, bool)
        or not isinstance(length, (int, float))
        or not math.isfinite(length)
        or length <= 0
    ):
        raise ValueError(
            f"`wild_bootstrap_length` must be a positive finite number; got {length!r}."
        )
    return float(length)


def multiplier_process(
    rng: np.random.Generator, count: int, n: int, length: float
) -> np.ndarray:
    """``count`` independent paths of the stationary AR(1) multiplier process, ``(count, n)``.

    ``W_1 = ε_1`` and ``W_t = a W_{t−1} + sqrt(1 − a²) ε_t`` with ``a = e^{−1/ℓ}``, so each
    ``W_t`` is N(0, 1) and ``corr(W_s, W_t) = a^{|s−t|}``. The ``ε`` are drawn row by row from
    ``rng``.
    """
    a = math.exp(-1.0 / length)
    eps = rng.standard_normal((count, n))
    if n == 1:
        return eps
    # y_t = sqrt(1 − a²) ε_t + a y_{t−1}, started from y_0 = ε_0.
    zi = a * eps[:, :1]
    rest = scipy.signal.lfilter([math.sqrt(1.0 - a * a)], [1.0, -a], eps[:, 1:], axis=1, zi=zi)[0]
    return np.concatenate([eps[:, :1], rest], axis=1)


@jax.jit
def _bootstrap_sums(M: jax.Array, W: jax.Array) -> jax.Array:
    """``W̃_bᵀ M W̃_b`` for each row of ``W`` (rows centred first)."""
    Wc = W - jnp.mean(W, axis=1, keepdims=True)
    return jnp.sum((Wc @ M) * Wc, axis=1)


def wild_bootstrap_null(
    x: jax.Array,
    y: jax.Array,
    kx: _kernels.Kernel,
    ky: _kernels.Kernel,
    rng: np.random.Generator,
    *,
    n_bootstrap: int,
    length: float,
    batch_size: int,
) -> dict[str, Any]:
    """The wild bootstrap test on validated data with fitted kernels (see the module notes).

    Returns:
      The fields of [`HSICTestResult`][hsic.HSICTestResult] that differ from the permutation
      test's: ``statistic``, ``pvalue``, ``null_distribution`` (the B bootstrap replicates of
      ``HSIC_b``), ``n_permutations`` (B) and ``info``.
    """
    check_positive_int(n_bootstrap, "n_permutations")
    check_positive_int(batch_size, "batch_size")
    length = _check_length(length)
    n = x.shape[0]
    check_fits_in_memory(
        n, 4, x.dtype, what="method='wild_bootstrap'",
        instead="Test a shorter stretch of the series.",
    )
    Kc, Lc, statistic = centred_grams(kx, ky, x, y)
    M = Kc * Lc
    chunks = []
    for start in range(0, n_bootstrap, batch_size):
        count = min(batch_size, n_bootstrap - start)
        W = multiplier_process(rng, count, n, length)
        chunks.append(_bootstrap_sums(M, jnp.asarray(W, dtype=M.dtype)))
    null = np.concatenate(jax.device_get(chunks)) / float(n * n)
    statistic = float(statistic)
    return dict(
        statistic=statistic,
        pvalue=permutation_pvalue(null, statistic),
        null_distribution=null,
        n_permutations=n_bootstrap,
        info={"wild_bootstrap_length": length, "multipliers": "centred AR(1)"},
    )
