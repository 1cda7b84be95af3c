"""The aggregated HSIC test over a grid of bandwidths (HSICAgg, Schrab et al. 2022).

This module owns the null of ``hsic.test(x, y, method=hsic.Aggregated(...))``: the bandwidth
grid and its weights, the batched Gram matrices and permutations over all bandwidth pairs,
HSICAgg's level correction ``u_α`` by bisection, and the aggregated p-value. ``hsic.test``
validates the data and fits the kernels, then calls ``aggregated_null``.

**The test.** For bandwidths ``λ_a = f_a σ_x`` and ``μ_b = f_b σ_y`` (``σ`` the fitted
bandwidth of each kernel, the median heuristic by default; ``f`` the ``bandwidth_factors``,
by default ``2^{-2}, …, 2^{2}``) and weights ``w_ab`` (uniform by default, normalised to sum
1), let ``H_ab = HSIC_b`` with kernels ``k_{λ_a}`` and ``l_{μ_b}``. One set of B₁
permutations, shared by all pairs, gives each pair's permutation p-value
``p̂_ab(H) = (1 + #{b₁ : H_ab^{(b₁)} ≥ H}) / (1 + B₁)``, and
``H_ab > q̂^{ab}_{1−u w_ab} ⟺ p̂_ab(H_ab) ≤ u w_ab`` defines HSICAgg's quantiles. The
aggregated test rejects when some pair exceeds its corrected quantile, i.e. when
``T = min_ab p̂_ab(H_ab) / w_ab ≤ u_α``. HSICAgg's level correction ``u_α`` is the largest
``u`` at which a second, independent set of B₂ permuted samples (counted with the observed one,
the ``+1`` convention) rejects at rate ``≤ α``; it is found by bisection on ``u`` (50 steps, as
in HSICAgg).

**The p-value** is the permutation p-value of the statistic ``T`` over the second set:
``p = (1 + #{b₂ : T^{(b₂)} ≤ T}) / (1 + B₂)``, ties within ``1000·eps`` (relative) counting as
extreme. It is valid: under independence, the observed sample, the B₂ and the B₁ permuted
samples are i.i.d. uniform draws from the orbit of the data under permutations, so ``T`` and
the ``T^{(b₂)}`` (all computed against the same B₁ set) are exchangeable. It is also the
smallest α at which the aggregated test rejects: the bisection converges to the
``⌊α(1 + B₂)⌋``-th smallest ``T^{(b₂)}``, so ``p ≤ α`` exactly when ``T ≤ u_α`` (up to the
bisection's resolution, ``2⁻⁵⁰`` of the search interval).

**Choosing B₁.** The per-pair p-values lie on the grid ``k/(1 + B₁)``, so ``T`` cannot go
below ``J/(1 + B₁)`` with J uniformly weighted pairs, and permuted samples that reach that floor
tie with the observed one (ties count as extreme). Take B₁ well above ``J/α`` (≥ 500 for the
default 25 pairs at α = 0.05); with fewer, the test is conservative and loses power.

HSICAgg uses the unbiased (U-statistic) HSIC; this module uses the biased ``HSIC_b`` of the rest
of the package. Both give valid permutation tests, and the aggregation only uses each pair's
p-value, never the scale of its statistic.
"""

from __future__ import annotations

from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np

from hsic._base.validation import check_fits_in_memory
from hsic._nulls.permutation import pad_rows, permuted_stack_sums, run_permutation_batches
from hsic._nulls.pvalues import Outcome, pvalues_against
from hsic._stats import kernels as _kernels
from hsic._stats.gram import centre

__all__ = ["DEFAULT_FACTORS", "N_BISECTIONS", "aggregated_null", "check_factors", "check_weights"]

#: The default bandwidth grid: these multiples of each variable's fitted bandwidth.
DEFAULT_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)
#: Bisection steps for ``u_α`` (HSICAgg's default B₃).
N_BISECTIONS = 50


def check_factors(factors: Any) -> np.ndarray:
    """Check a bandwidth grid: distinct positive finite numbers."""
    try:
        arr = np.asarray(factors, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr) & (arr > 0)):
        raise ValueError(
            "`bandwidth_factors` must be a non-empty sequence of positive finite numbers; "
            f"got {factors!r}."
        )
    if len(np.unique(arr)) != arr.size:
        raise ValueError(f"`bandwidth_factors` must not repeat a value; got {factors!r}.")
    return arr


def check_weights(weights: Any, shape: tuple[int, int]) -> np.ndarray:
    """Check the ``shape`` weights of the bandwidth pairs (``None``: uniform); normalised."""
    if weights is None:
        return np.full(shape, 1.0 / (shape[0] * shape[1]))
    try:
        arr = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape != shape:
        got = "an array of shape " + str(arr.shape) if arr is not None else repr(weights)
        raise ValueError(
            f"`weights` must be an array of shape {shape} (one weight per pair of bandwidth "
            f"factors of x and y); got {got}."
        )
    if not np.all(np.isfinite(arr) & (arr > 0)):
        raise ValueError("`weights` must be positive and finite.")
    return arr / arr.sum()


@jax.jit
def _centred_gram_stack(kernel, x, factors):
    """``H K_f H`` for each bandwidth factor ``f``: one vmapped pass, ``(F, n, n)``."""

    def one(f):
        return centre(jax.tree_util.tree_map(lambda b: b * f, kernel).gram(x))

    return jax.vmap(one)(factors)


@jax.jit
def _grid_sums(Kcs, Lcs):
    """``Σ_ij K̄^a_ij L̄^b_ij`` for every pair ``(a, b)``: an ``(A, B)`` matrix."""
    return jnp.einsum("aij,bij->ab", Kcs, Lcs)


def level_correction(
    level_pvalues: np.ndarray, weights: np.ndarray, alpha: float, *, steps: int = N_BISECTIONS
) -> float:
    """HSICAgg's ``u_α`` by bisection on ``u``.

    ``u_α`` is the largest ``u`` in ``[0, 1/min w]`` with
    ``(1 + #{b₂ : ∃ j, p̂_j^{(b₂)} ≤ u w_j}) / (1 + B₂) ≤ α`` (the rejection rate of the second
    permutation set, counted with the observed sample), found by ``steps`` bisection steps
    (the lower end is returned, so the condition holds at ``u_α``).
    """
    b2 = level_pvalues.shape[0]

    def rate(u):
        rejected = np.any(level_pvalues <= u * weights[None, :], axis=1)
        return (1.0 + np.count_nonzero(rejected)) / (1.0 + b2)

    low, high = 0.0, 1.0 / float(weights.min())
    if rate(low) > alpha:
        return 0.0
    for _ in range(steps):
        middle = 0.5 * (low + high)
        if rate(middle) <= alpha:
            low = middle
        else:
            high = middle
    return low


def aggregated_null(
    x: jax.Array,
    y: jax.Array,
    kx: _kernels.Kernel,
    ky: _kernels.Kernel,
    rng: np.random.Generator,
    *,
    n_resamples: int,
    n_resamples_level: int,
    bandwidth_factors: np.ndarray,
    weights: np.ndarray,
    alpha: float,
    batch_size: int,
    progress: bool,
) -> Outcome:
    """The aggregated test on validated data with fitted kernels (see the module notes).

    Args:
      x, y: validated ``(n, d)`` samples.
      kx, ky: fitted Gaussian or Laplace kernels.
      rng: the source of the permutations.
      n_resamples: B₁, the shared permutations (the quantile set).
      n_resamples_level: B₂, the second, independent set.
      bandwidth_factors: the checked grid (``check_factors``), for x and for y.
      weights: the checked, normalised ``(F, F)`` weights (``check_weights``).
      alpha: the level of the reported decision.
      batch_size: permutations per device call (the result does not depend on it).
      progress: show a progress bar.

    Returns:
      The ``statistic``, ``null_distribution`` and kernels of the most significant bandwidth
      pair (smallest ``p̂_ab / w_ab``), the aggregated ``pvalue``, and ``info``.
    """
    b2 = n_resamples_level
    for kernel, name in ((kx, "kernel_x"), (ky, "kernel_y")):
        if not isinstance(kernel, (_kernels.Gaussian, _kernels.Laplace)):
            raise ValueError(
                f"`{name}` must be a Gaussian or Laplace kernel for method='aggregated', which "
                f"aggregates over bandwidths; got {type(kernel).__name__}."
            )
    # checked above: kernels with a bandwidth
    kx = cast(_kernels.Gaussian | _kernels.Laplace, kx)
    ky = cast(_kernels.Gaussian | _kernels.Laplace, ky)
    fx = fy = bandwidth_factors
    w = weights
    n = x.shape[0]
    check_fits_in_memory(
        n, len(fx) + len(fy) + 4, x.dtype, what="method='aggregated'",
        instead="Use fewer `bandwidth_factors`, or test a random subsample of the rows.",
    )
    dtype = x.dtype
    Kcs = _centred_gram_stack(kx, x, jnp.asarray(fx, dtype=dtype))
    Lcs = _centred_gram_stack(ky, y, jnp.asarray(fy, dtype=dtype))
    observed = np.asarray(_grid_sums(Kcs, Lcs)) / float(n * n)  # (A, B)

    Kp = pad_rows(Kcs)

    def run_batch(perms):
        return permuted_stack_sums(Kp, Lcs, jax.device_put(perms))

    def null_set(count, desc):
        size = min(batch_size, count)
        return run_permutation_batches(
            run_batch, rng, n, count, size, size, progress=progress, desc=desc
        )

    # (B1, A, B): the quantile set; then (B2, A, B): the second, independent set, for u_α and
    # the p-value. The progress bar names the stage.
    null = null_set(n_resamples, "aggregated, stage 1/2 (B1 null permutations)")
    level = null_set(b2, "aggregated, stage 2/2 (B2 level permutations)")
    shape = observed.shape
    flat_null = null.reshape(n_resamples, -1)
    p_obs = pvalues_against(flat_null, observed.reshape(1, -1))[0]
    p_level = pvalues_against(flat_null, level.reshape(b2, -1))
    wf = w.reshape(-1)
    t_obs = float(np.min(p_obs / wf))
    t_level = np.min(p_level / wf[None, :], axis=1)
    pvalue = (1.0 + np.count_nonzero(t_level <= t_obs * (1 + 1e-12))) / (1.0 + b2)
    u_alpha = level_correction(p_level, wf, alpha)
    best = int(np.argmin(p_obs / wf))
    a, b = np.unravel_index(best, shape)
    sx, sy = float(kx.bandwidth), float(ky.bandwidth)
    info = {
        "bandwidths_x": [sx * float(f) for f in fx],
        "bandwidths_y": [sy * float(f) for f in fy],
        "bandwidth_factors": [float(f) for f in fx],
        "weights": w.tolist(),
        "statistics": observed.astype(np.float64).tolist(),
        "pvalues": p_obs.reshape(shape).tolist(),
        "selected": [int(a), int(b)],
        "min_weighted_pvalue": t_obs,
        "alpha": alpha,
        "u_alpha": u_alpha,
        "reject": bool(t_obs <= u_alpha),
        "n_resamples": int(n_resamples),
        "n_resamples_level": int(b2),
        "n_bisections": N_BISECTIONS,
    }
    return Outcome(
        statistic=float(observed[a, b]),
        pvalue=float(pvalue),
        null_distribution=null[:, a, b],
        info=info,
        kernel_x=kx.__class__(bandwidth=sx * float(fx[a])),
        kernel_y=ky.__class__(bandwidth=sy * float(fy[b])),
    )

