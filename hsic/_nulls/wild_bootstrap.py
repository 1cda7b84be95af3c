"""The wild bootstrap HSIC test for time series (Chwialkowski, Sejdinovic, Gretton 2014).

This module owns ``hsic.test(x, y, method="wild_bootstrap")``: the dependent multiplier
process, the rule that chooses its length, and the bootstrapped null. ``hsic.test`` validates
the data and fits the kernels, then calls
``wild_bootstrap_null``.

When the samples ``(x_t, y_t)`` are a stationary, weakly dependent time series, permuting y
breaks its serial dependence as well as its dependence on x, so the permutation null is too
narrow and the permutation test rejects too often under independence. The wild bootstrap keeps
the time order. With ``M = K̄ ∘ L̄`` (``K̄ = HKH``, ``L̄ = HLH``), the statistic is
``HSIC_b = Σ_ij M_ij / n²`` and each bootstrap replicate is

``HSIC_b^{(b)} = c_ℓ Σ_ij W̃_i W̃_j M_ij / n²``, with ``W̃ = W − mean(W)``,

the centred multipliers of the paper's second bootstrap (``V_{b2}``). ``W`` is a stationary
Gaussian AR(1) (an Ornstein–Uhlenbeck process sampled at unit steps) with unit variance and
correlation ``C_st = a^{|s−t|}``, ``a = e^{−1/ℓ}``:

``W_1 ~ N(0, 1)``, ``W_t = a W_{t−1} + sqrt(1 − a²) ε_t``, ``ε_t ~ N(0, 1)``.

**Variance correction** ``c_ℓ``. Centring removes the variance of ``mean(W)`` from every
``W̃_t``: the average of ``Var(W̃_t)`` is ``v_ℓ = tr(HCH)/n = 1 − 1ᵀC1/n² ≈ 1 − 2ℓ/n``. The
paper's bootstrap is valid as ``ℓ/n → 0``, but at moderate n this shrinks the null by the
factor ``v_ℓ`` and the test over-rejects, more so the larger ℓ. We rescale the replicates by
``c_ℓ = 1/v_ℓ`` (``1ᵀC1 = n + 2 Σ_{τ=1}^{n−1} (n − τ) a^τ``), so that the centred multipliers
have unit average variance, as the uncentred ones do. ``c_ℓ → 1`` when ``ℓ = o(n)``, so the
asymptotics are those of the paper.

**Multiplier length** ℓ (``length`` of ``hsic.WildBootstrap``; default: chosen from the
data). The bootstrap reproduces the autocovariances of the product features
``φ(x_t) ⊗ ψ(y_t)`` tapered by ``a^{|τ|} ≈ 1 − |τ|/ℓ``. For a product feature whose
autocorrelation decays like ``ρ^{|τ|}`` this underestimates its long-run variance by the
relative amount
``Σ_τ (1 − a^{|τ|}) ρ^{|τ|} / Σ_τ ρ^{|τ|} ≈ 2ρ / ((1 − ρ²) ℓ)`` (Andrews 1991's AR(1)
plug-in for a kernel of characteristic exponent 1). The default keeps this bias at
``ε = 5 %`` for the slowest feature:

* ``r_x``, ``r_y``: the lag-1 autocorrelations of the leading kernel principal component of
  ``K̄`` and of ``L̄`` (the top eigenvector ``u``, found by 50 power iterations;
  ``r = Σ_t u_t u_{t+1} / Σ_t u_t²``), clipped to ``[0, 0.99]``;
* ``ρ = r_x r_y`` (under independence the autocorrelation of a product feature is the product
  of the autocorrelations);
* ``ℓ = min(max(2ρ / (ε (1 − ρ²)), √n), n^{2/3})``.

The floor ``√n`` is the growth rate of testing-optimal bandwidths for such tapers (Sun,
Phillips & Jin 2008); the cap ``n^{2/3}`` keeps ℓ = o(n), as the paper's consistency needs,
and below n/4, past which centring shortens the effective length ``ℓ(1 − 2ℓ/n)``. ``res.info``
records ℓ, how it was chosen, ``r_x``, ``r_y`` and ``c_ℓ``. The p-value is
``(1 + #{b : HSIC_b^{(b)} ≥ HSIC_b − tol}) / (1 + B)``, as for permutations.

**Level.** Measured on independent Gaussian AR(1) series
(``benchmarks/bench_wild_bootstrap_level.py``; the rates are in ``benchmarks/README.md``), the
rejection rate at α = 0.05 is within sampling error of α for AR coefficients up to 0.5. Under
strong autocorrelation (0.8) the test is still slightly liberal at n = 200 to 500 (about 7 %):
centring caps the effective length ``ℓ(1 − 2ℓ/n)`` at about n/8, so part of the long-run
variance is missed.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hsic._base.progress import make_bar
from hsic._base.validation import check_fits_in_memory, check_number
from hsic._nulls.pvalues import Outcome, permutation_pvalue
from hsic._stats import kernels as _kernels
from hsic._stats.gram import centred_grams

__all__ = [
    "BIAS_TARGET",
    "check_length",
    "choose_length",
    "leading_component_autocorrelation",
    "multiplier_process",
    "variance_correction",
    "wild_bootstrap_null",
]

#: ε, the relative bias of the bootstrap's long-run variance that the default ℓ aims at.
BIAS_TARGET = 0.05
#: Power iterations for the leading kernel principal component.
POWER_ITERATIONS = 50
#: Largest autocorrelation the length rule uses (ρ → 1 would give an infinite ℓ).
MAX_AUTOCORRELATION = 0.99


def check_length(length: Any, name: str = "length") -> float | None:
    """Check ℓ: a positive finite number, or ``None`` to choose it from the data."""
    if length is None:
        return None
    return check_number(
        length, name, "a positive finite number, or None to choose it from the data",
        low=0, low_open=True,
    )


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
    from scipy.signal import lfilter  # deferred: scipy.signal is slow to import

    # y_t = sqrt(1 − a²) ε_t + a y_{t−1}, started from y_0 = ε_0.
    zi = a * eps[:, :1]
    rest = lfilter([math.sqrt(1.0 - a * a)], [1.0, -a], eps[:, 1:], axis=1, zi=zi)[0]
    return np.concatenate([eps[:, :1], rest], axis=1)


def variance_correction(n: int, length: float) -> float:
    """``c_ℓ = 1 / (1 − 1ᵀC1/n²)``, ``C_st = e^{−|s−t|/ℓ}``: the inverse of the average variance
    of the centred multipliers ``W − mean(W)``.

    Example:
      >>> from hsic._nulls.wild_bootstrap import variance_correction
      >>> round(variance_correction(300, 20.0), 3)    # about 1/(1 − 2ℓ/n) = 1.154
      1.142
    """
    a = math.exp(-1.0 / length)
    tau = np.arange(1, n, dtype=np.float64)
    total = n + 2.0 * float(np.sum((n - tau) * a**tau))  # 1ᵀC1
    return 1.0 / (1.0 - total / float(n) ** 2)


@jax.jit
def _leading_autocorrelations(Kc: jax.Array, Lc: jax.Array) -> jax.Array:
    """The lag-1 autocorrelation of the top eigenvector of ``K̄`` and of ``L̄`` (see
    ``leading_component_autocorrelation``)."""
    n = Kc.shape[0]
    t = jnp.arange(n, dtype=Kc.dtype)
    # A fixed start with a component along any eigenvector of a generic matrix.
    start = jnp.linspace(-1.0, 1.0, n, dtype=Kc.dtype) + jnp.cos(1.7 * t + 0.3)

    def one(A):
        def step(_, v):
            w = A @ v
            return w / jnp.maximum(jnp.linalg.norm(w), jnp.finfo(A.dtype).tiny)

        u = jax.lax.fori_loop(0, POWER_ITERATIONS, step, start / jnp.linalg.norm(start))
        return jnp.sum(u[1:] * u[:-1]) / jnp.maximum(jnp.sum(u * u), jnp.finfo(A.dtype).tiny)

    return jnp.stack([one(Kc), one(Lc)])


def leading_component_autocorrelation(Kc: jax.Array, Lc: jax.Array) -> tuple[float, float]:
    """``(r_x, r_y)``: lag-1 autocorrelations of the leading kernel principal components.

    ``u``, the top eigenvector of the centred Gram matrix ``K̄`` (50 power iterations from a
    fixed start), is the values at ``x_1, …, x_n`` of the feature of largest variance; its
    lag-1 autocorrelation ``Σ_t u_t u_{t+1} / Σ_t u_t²`` measures how slowly that feature
    varies along the series. Rows must be in time order.
    """
    r = jax.device_get(_leading_autocorrelations(Kc, Lc))
    return float(r[0]), float(r[1])


def choose_length(n: int, r_x: float, r_y: float, *, bias: float = BIAS_TARGET) -> float:
    """The default multiplier length ``ℓ = min(max(2ρ/(ε(1 − ρ²)), √n), n^{2/3})``.

    ``ρ = r_x r_y`` with each ``r`` clipped to ``[0, 0.99]``, and ``ε = bias`` (see the module
    notes for why).

    Example:
      >>> from hsic._nulls.wild_bootstrap import choose_length
      >>> choose_length(200, 0.0, 0.0) == 200 ** 0.5    # no autocorrelation: the floor √n
      True
      >>> round(choose_length(500, 0.75, 0.75), 1)     # ρ = 0.5625: 2ρ/(0.05 (1 − ρ²)) = 32.9
      32.9
    """
    rho = min(max(r_x, 0.0), MAX_AUTOCORRELATION) * min(max(r_y, 0.0), MAX_AUTOCORRELATION)
    wanted = 2.0 * rho / (bias * (1.0 - rho * rho))
    return float(min(max(wanted, math.sqrt(n)), n ** (2.0 / 3.0)))


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
    n_resamples: int,
    length: float | None,
    batch_size: int,
    progress: bool = False,
) -> Outcome:
    """The wild bootstrap test on validated data with fitted kernels (see the module notes).

    Args:
      x, y: validated samples in time order, ``(n, d)``.
      kx, ky: fitted kernels.
      rng: the source of the multipliers.
      n_resamples: B, the number of bootstrap replicates.
      length: ℓ, or ``None`` to choose it from the data.
      batch_size: replicates per device call (the result does not depend on it).
      progress: show a progress bar over the replicates.

    Returns:
      The ``statistic``, ``pvalue``, ``null_distribution`` (the B bootstrap replicates of
      ``HSIC_b``) and ``info`` (``n_resamples``, ``length``, ``length_rule``,
      ``autocorrelation_x``, ``autocorrelation_y``, ``variance_correction``).
    """
    n = x.shape[0]
    check_fits_in_memory(
        n, 4, x.dtype, what="method='wild_bootstrap'",
        instead="Test a shorter stretch of the series.",
    )
    Kc, Lc, statistic = centred_grams(kx, ky, x, y)
    r_x, r_y = leading_component_autocorrelation(Kc, Lc)
    rule = "given"
    if length is None:
        length, rule = choose_length(n, r_x, r_y), "data"
    correction = variance_correction(n, length)
    M = Kc * Lc
    chunks = []
    bar = make_bar(progress, n_resamples, "wild bootstrap", unit="replicate")
    for start in range(0, n_resamples, batch_size):
        count = min(batch_size, n_resamples - start)
        W = multiplier_process(rng, count, n, length)
        chunks.append(_bootstrap_sums(M, jnp.asarray(W, dtype=M.dtype)))
        if bar is not None:
            chunks[-1].block_until_ready()
            bar.update(count)
    if bar is not None:
        bar.close()
    null = np.concatenate(jax.device_get(chunks)) * (correction / float(n * n))
    statistic = float(statistic)
    return Outcome(
        statistic=statistic,
        pvalue=permutation_pvalue(null, statistic),
        null_distribution=null,
        info={
            "n_resamples": n_resamples,
            "length": length,
            "length_rule": rule,
            "autocorrelation_x": r_x,
            "autocorrelation_y": r_y,
            "variance_correction": correction,
            "multipliers": "centred AR(1), rescaled to unit mean variance",
        },
    )
