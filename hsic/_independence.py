"""The independence test ``hsic.test``: it checks the input and dispatches to a method."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import jax
import numpy as np
from jax.typing import ArrayLike

from hsic import _large_scale
from hsic._aggregated import aggregated_null
from hsic._base.devices import resolve_mesh
from hsic._base.rng import as_generator
from hsic._base.validation import (
    check_choice,
    check_fits_in_memory,
    check_options_apply,
    check_positive_int,
    float_dtype,
    precision,
)
from hsic._estimators import centred_sums, prepare_pair
from hsic._nulls import (
    centred_grams,
    gamma_null,
    permutation_null,
    permutation_pvalue,
)
from hsic._result import HSICTestResult
from hsic._sharding import sharded_permutation_null
from hsic._stats import kernels as _kernels
from hsic._wild_bootstrap import wild_bootstrap_null

__all__ = ["HSICTestResult", "test", "METHODS"]

METHODS = ("permutation", "gamma", "aggregated", "wild_bootstrap", "rff", "nystrom", "block")
#: Smallest n each exact method accepts (the large-scale ones check their own).
MIN_N = {"permutation": 5, "gamma": 6, "aggregated": 5, "wild_bootstrap": 5}
#: Keyword arguments that only some methods take, with the methods that take them.
METHOD_OPTIONS = {
    "n_features": ("rff", "nystrom"),
    "null": ("rff", "nystrom"),
    "block_size": ("block",),
    "alpha": ("aggregated",),
    "bandwidth_factors": ("aggregated",),
    "weights": ("aggregated",),
    "n_permutations_level": ("aggregated",),
    "wild_bootstrap_length": ("wild_bootstrap",),
}


def test(
    x: ArrayLike,
    y: ArrayLike,
    *,
    method: Literal[
        "permutation", "gamma", "aggregated", "wild_bootstrap", "rff", "nystrom", "block"
    ] = "permutation",
    n_permutations: int = 1000,
    kernel_x: str | _kernels.Kernel = "gaussian",
    kernel_y: str | _kernels.Kernel = "gaussian",
    seed: int | Any = 0,
    batch_size: int = 250,
    progress: bool = False,
    dtype: str | np.dtype | None = None,
    devices: int | jax.Device | Sequence[jax.Device] | None = None,
    mesh: jax.sharding.Mesh | None = None,
    n_features: int | None = None,
    null: Literal["spectral", "permutation"] | None = None,
    block_size: int | None = None,
    alpha: float | None = None,
    bandwidth_factors: Sequence[float] | None = None,
    weights: ArrayLike | None = None,
    n_permutations_level: int | None = None,
    wild_bootstrap_length: float | None = None,
) -> HSICTestResult:
    """Test whether x and y are independent, with the HSIC statistic.

    The statistic is ``HSIC_b = tr(K H L H)/n²``. The Gram matrices are computed once.

    * ``method="permutation"`` (default): the exact permutation null. Each of the B permuted
      statistics reuses the centred Gram matrices; the p-value is
      ``(1 + #{null ≥ observed}) / (1 + B)``, ties within ``1000·eps`` (relative) counting as
      extreme. It is valid at any n, and does not depend on ``batch_size``.
    * ``method="gamma"``: Gretton et al. (2008)'s gamma approximation to the null of
      ``n·HSIC_b``, matched to its null mean and variance. O(n²) time and O(n) memory (it
      streams over tiles of the Gram matrices), with no resampling, so it is much faster and
      scales to large n, but it is approximate.
    * ``method="aggregated"``: HSICAgg (Schrab et al. 2022): permutation tests over a grid of
      bandwidth pairs, one shared set of B = ``n_permutations`` permutations, the level
      corrected by bisection on a second set of ``n_permutations_level`` permutations. The
      p-value is the permutation p-value of the smallest weighted per-pair p-value; it is
      valid and ``pvalue <= alpha`` exactly when the aggregated test rejects at ``alpha``.
      ``statistic``, ``null_distribution`` and the kernels are those of the most significant
      pair; ``info`` holds the grid, every pair's statistic and p-value, ``u_alpha`` and the
      decision. See the module ``hsic._aggregated``.
    * ``method="wild_bootstrap"``: for a stationary time series (rows in time order), the wild
      bootstrap of Chwialkowski, Sejdinovic, Gretton (2014) with B = ``n_permutations``
      replicates ``c_ℓ Σ W̃_i W̃_j K̄_ij L̄_ij / n²``: ``W̃`` a centred AR(1) multiplier process
      of correlation ``e^{−|s−t|/ℓ}``, ``c_ℓ = 1/(1 − 1ᵀC1/n²)`` restoring its unit average
      variance. Permutations would break the serial dependence and over-reject. By default
      ``ℓ = min(max(2ρ/(0.05(1 − ρ²)), √n), n^{2/3})``, with ``ρ`` the product of the lag-1
      autocorrelations of the leading kernel principal components of x and of y, which keeps
      the bootstrap's bias on the long-run variance near 5 %; ``res.info`` records ℓ, ``ρ``'s
      factors and ``c_ℓ``. See the module ``hsic._wild_bootstrap``.

    For large n (10⁵ and beyond), three approximate methods of Zhang et al. (2018) avoid the
    O(n²) cost; each statistic's error against the exact one is documented in the
    [scaling guide](scaling.md):

    * ``method="rff"``: random Fourier features of the Gaussian kernels (``n_features`` = D
      per variable, default 100); the statistic ``‖Φ̃ᵀΨ̃‖²_F/n²`` costs O(n·D²). Its null is
      ``null="spectral"`` (default: ``n_permutations`` draws of the asymptotic weighted
      chi-square law, costing nothing in n) or ``null="permutation"`` (permuting rows of the
      features, O(n·D²) each).
    * ``method="nystrom"``: Nyström features of any kernel but precomputed, from
      ``n_features`` = m landmarks per variable, chosen uniformly from ``seed``; the same nulls.
    * ``method="block"``: the average of unbiased HSICs over blocks of ``block_size``
      consecutive rows (default ``⌊√n⌋``), with its normal null, whose variance is computed
      exactly; no randomness. Shuffle the rows first if their order is not random.

    Nothing switches method on its own: you choose.

    Args:
      x: samples of x, ``(n,)`` or ``(n, d_x)``; a list, NumPy, pandas or JAX array.
      y: samples of y, with the same n.
      method: ``"permutation"``, ``"gamma"``, ``"aggregated"``, ``"wild_bootstrap"``,
        ``"rff"``, ``"nystrom"`` or ``"block"``.
      n_permutations: B, for the permutation method; B₁ (the shared permutations) for
        ``"aggregated"``, which should be well above ``(number of bandwidth pairs)/alpha``
        (500 for the default grid); the number of bootstrap replicates for
        ``"wild_bootstrap"``; the number of permutations or simulated null draws for
        ``"rff"``/``"nystrom"`` (see ``null``).
      kernel_x: a kernel name or [`Kernel`][hsic.kernels.Kernel]; default Gaussian with the
        median heuristic computed on x alone.
      kernel_y: the same for y.
      seed: a non-negative int or a JAX key. The same seed gives the same result.
      batch_size: permutations per device call (memory and progress granularity only).
      progress: show a progress bar over permutations.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.
      devices: run on several devices: an int (the first k of ``jax.devices()``), one
        ``jax.Device`` (run there) or a list of them. The gamma test splits its tiles over
        them, the permutation test its permutations, the feature tests their rows and
        permutations, the block test its blocks; the result is the same as on one device.
        ``None``: JAX's default device.
      mesh: alternatively, a 1-D ``jax.sharding.Mesh``.
      n_features: ``"rff"``: D features per variable (even; default 100); ``"nystrom"``: m
        landmarks per variable (default 100).
      null: ``"rff"``/``"nystrom"`` only: ``"spectral"`` (default) or ``"permutation"``.
      block_size: ``"block"`` only: rows per block, 4 to n/2 (default ``⌊√n⌋``).
      alpha: ``method="aggregated"`` only: the level of the reported decision (default 0.05)
        (``info["reject"]``, ``info["u_alpha"]``); the p-value does not depend on it.
      bandwidth_factors: ``method="aggregated"`` only: the grid of multiples of each kernel's
        fitted bandwidth (the median heuristic by default), used for x and for y;
        default ``(0.25, 0.5, 1, 2, 4)``, i.e. ``2^{-2..2}``.
      weights: ``method="aggregated"`` only: an ``(F, F)`` array of positive weights of the
        bandwidth pairs (normalised to sum 1); default uniform.
      n_permutations_level: ``method="aggregated"`` only: B₂, the size of the second,
        independent permutation set that corrects the level and gives the p-value; default
        ``n_permutations``.
      wild_bootstrap_length: ``method="wild_bootstrap"`` only: ℓ, the correlation length of
        the AR(1) multiplier process ``corr(W_s, W_t) = e^{−|s−t|/ℓ}``; default ``None``:
        chosen from the data by the rule above (recorded in ``res.info``).

    Returns:
      The test result, an [`HSICTestResult`][hsic.HSICTestResult].

    Raises:
      ValueError: on mismatched n, too few samples, NaN or inf, a constant variable, bad
        shapes or names, ``n_permutations < 1``, an option given to a method that does not
        take it, or n too large for memory (the message names the methods that fit).

    Example:
      >>> import numpy as np, hsic
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=200)
      >>> y = x**2 + 0.1 * rng.normal(size=200)   # uncorrelated, but dependent
      >>> res = hsic.test(x, y, n_permutations=200, seed=1)
      >>> res.pvalue                                  # 1/(1 + 200): no permutation beat it
      0.004975124378109453
      >>> hsic.test(x, y, method="gamma").pvalue < 1e-6
      True
      >>> hsic.test(x, y, method="rff", n_features=50).pvalue   # spectral null, 1000 draws
      0.000999000999000999

    References:
      Gretton, Fukumizu, Teo, Song, Schölkopf, Smola (2008), "A kernel statistical test of
      independence", NIPS 20. Phipson & Smyth (2010), "Permutation p-values should never be
      zero", SAGMB 9. Schrab, Kim, Guedj, Gretton (2022), "Efficient aggregated kernel
      tests using incomplete U-statistics", NeurIPS 35 (HSICAgg). Chwialkowski, Sejdinovic,
      Gretton (2014), "A wild bootstrap for degenerate kernel tests", NIPS 27.
    """
    check_choice(method, "method", METHODS)
    check_options_apply(
        "method", method, METHOD_OPTIONS, n_features=n_features, null=null,
        block_size=block_size, alpha=alpha, bandwidth_factors=bandwidth_factors, weights=weights,
        n_permutations_level=n_permutations_level, wild_bootstrap_length=wild_bootstrap_length,
    )
    if method in _large_scale.FEATURES:
        return _large_scale.feature_test(
            x, y, features=method, null=null or "spectral",
            n_features=100 if n_features is None else n_features,
            n_resamples=n_permutations, kernel_x=kernel_x, kernel_y=kernel_y, seed=seed,
            dtype=dtype, mesh=resolve_mesh(devices=devices, mesh=mesh),
        )
    if method == "block":
        return _large_scale.block_test(
            x, y, block_size=block_size, kernel_x=kernel_x, kernel_y=kernel_y, dtype=dtype,
            mesh=resolve_mesh(devices=devices, mesh=mesh),
        )
    if method in ("aggregated", "wild_bootstrap") and (devices is not None or mesh is not None):
        raise ValueError(f"`devices`/`mesh` are not supported by method={method!r}; drop them.")
    if method == "permutation":
        check_positive_int(n_permutations, "n_permutations")
        check_positive_int(batch_size, "batch_size")
    rng = as_generator(seed, "seed")
    device_mesh = resolve_mesh(devices=devices, mesh=mesh)
    dtype = float_dtype(dtype)
    with precision(dtype):
        x, y, kx, ky = prepare_pair(
            x, y, kernel_x, kernel_y, dtype=dtype, min_n=MIN_N[method],
            reason=f"hsic.test with method={method!r}", constant="raise",
        )
        n = x.shape[0]
        common = dict(
            method=method, n=n,
            kernel_x=_kernels.as_python_floats(kx), kernel_y=_kernels.as_python_floats(ky),
        )
        if method == "aggregated":
            return HSICTestResult(**{**common, **aggregated_null(
                x, y, kx, ky, rng, n_permutations=n_permutations,
                n_permutations_level=n_permutations_level, bandwidth_factors=bandwidth_factors,
                weights=weights, alpha=0.05 if alpha is None else alpha, batch_size=batch_size,
                progress=progress,
            )})
        if method == "wild_bootstrap":
            return HSICTestResult(**common, **wild_bootstrap_null(
                x, y, kx, ky, rng, n_bootstrap=n_permutations, batch_size=batch_size,
                length=wild_bootstrap_length,
            ))
        if method == "gamma":
            sums = centred_sums(
                x, y, kx, ky, estimator="biased", algorithm="auto", mesh=device_mesh
            )
            statistic, pvalue, shape, scale = gamma_null(sums, n)
            return HSICTestResult(
                statistic=statistic, pvalue=pvalue, null_distribution=None,
                gamma_shape=shape, gamma_scale=scale, **common,
            )
        check_fits_in_memory(
            n, 6, dtype, what="method='permutation'",
            instead="Use method='gamma' (exact statistic, O(n) memory), or one of the "
            "large-scale methods 'rff', 'nystrom' or 'block'.",
        )
        Kc, Lc, statistic = centred_grams(kx, ky, x, y)
        if device_mesh is None:
            null = permutation_null(
                Kc, Lc, rng, n_permutations, batch_size=batch_size, progress=progress
            )
        else:
            null = sharded_permutation_null(
                Kc, Lc, rng, n_permutations, batch_size=batch_size, progress=progress,
                mesh=device_mesh,
            )
        statistic = float(statistic)
        return HSICTestResult(
            statistic=statistic,
            pvalue=permutation_pvalue(null, statistic),
            null_distribution=null,
            n_permutations=n_permutations,
            **common,
        )


