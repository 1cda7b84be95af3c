"""The independence test of one pair, ``hsic.test``: one front door, one runner per method.

``test`` resolves the method object, the device mesh, ``rng`` and the dtype; checks and sends
the data once (``prepare_pair``); calls the method's runner; and builds one
[`HSICTestResult`][hsic.HSICTestResult]. Every runner has the same contract:
``runner(method, x, y, kx, ky, rng, mesh, progress) -> Outcome``, on checked device arrays and
fitted kernels. A new method is a method object (``hsic._api.methods``) and a runner here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import jax
import numpy as np
from jax.typing import ArrayLike

from hsic._api.methods import (
    DEFAULT_BATCH_SIZE,
    RFF,
    Aggregated,
    AggregatedIncomplete,
    Block,
    Gamma,
    Method,
    Nystrom,
    Permutation,
    WildBootstrap,
    as_method,
)
from hsic._api.results import HSICTestResult
from hsic._base.devices import resolve_mesh
from hsic._base.progress import resolve_progress
from hsic._base.rng import RNGLike, as_generator, seed_of
from hsic._base.validation import (
    check_fits_in_memory,
    float_dtype,
    precision,
    warn_if_beyond_permutations,
)
from hsic._nulls.aggregated import aggregated_null, bandwidth_kernels
from hsic._nulls.gamma import gamma_null
from hsic._nulls.incomplete import incomplete_null
from hsic._nulls.mixtures import spectral_null
from hsic._nulls.permutation import (
    feature_permutation_null,
    gram_permutation_null,
)
from hsic._nulls.pvalues import Outcome, check_finite, normal_pvalue, permutation_pvalue
from hsic._nulls.wild_bootstrap import wild_bootstrap_null
from hsic._stats import kernels as _kernels
from hsic._stats.block import block_values
from hsic._stats.features import (
    cross_kernel,
    feature_pair,
    feature_statistic,
    feature_sums,
    features_rng,
    gaussian_kernel,
)
from hsic._stats.gram import centred_sums
from hsic._stats.inputs import prepare_pair

__all__ = ["METHODS", "test"]

#: The methods of ``hsic.test``, by name.
METHODS: dict[str, type[Method]] = {
    cls.name: cls
    for cls in (
        Permutation, Gamma, Aggregated, AggregatedIncomplete, WildBootstrap, RFF, Nystrom, Block
    )
}
#: Smallest n each method accepts.
MIN_N = {
    "permutation": 5, "gamma": 6, "aggregated": 5, "aggregated_incomplete": 8,
    "wild_bootstrap": 5, "rff": 5,
    "nystrom": 5, "block": 8,
}
#: The methods that can split their work over several devices.
SHARDED = ("permutation", "gamma", "rff", "nystrom", "block")
#: Permutations per device call when the method object leaves ``batch_size`` to the test.
DEFAULT_BATCH = DEFAULT_BATCH_SIZE  # one default for every test


def _batch(method: Any) -> int:
    return DEFAULT_BATCH if method.batch_size is None else method.batch_size


def _permutation(method: Permutation, x, y, kx, ky, rng, mesh, progress) -> Outcome:
    check_fits_in_memory(
        x.shape[0], 6, x.dtype, what="method='permutation'",
        instead="Use method='gamma' (exact statistic, O(n) memory), or one of the "
        "large-scale methods 'rff', 'nystrom' or 'block'.",
    )
    B = method.n_resamples
    # compiled once per padded size of n, not once per n (see gram_permutation_null)
    statistic, null = gram_permutation_null(
        kx, ky, x, y, rng, B, batch_size=_batch(method), progress=progress, mesh=mesh
    )
    return Outcome(statistic, permutation_pvalue(null, statistic), null, {"n_resamples": B})


def _gamma(method: Gamma, x, y, kx, ky, rng, mesh, progress) -> Outcome:
    sums = centred_sums(x, y, kx, ky, estimator="biased", algorithm="auto", mesh=mesh)
    statistic, pvalue, shape, scale = gamma_null(sums, x.shape[0])
    return Outcome(statistic, pvalue, None, {"gamma_shape": shape, "gamma_scale": scale})


def _collection(method: Aggregated | AggregatedIncomplete, x, y, kx, ky):
    kx, ky, scales_x, scales_y, info = bandwidth_kernels(
        x, y, kx, ky, bandwidths=method.bandwidths, n_bandwidths=method.n_bandwidths,
        bandwidth_factors=method.bandwidth_factors,
    )
    options = dict(
        n_resamples=method.n_resamples, n_resamples_level=method.level_resamples(),
        scales_x=scales_x, scales_y=scales_y, weights=method.weight_matrix(),
        alpha=method.alpha, pair_pvalues=method.pair_pvalues, batch_size=_batch(method),
    )
    return kx, ky, options, {**info, "weight_scheme": _scheme(method)}


def _scheme(method: Aggregated | AggregatedIncomplete) -> str:
    return method.weights if isinstance(method.weights, str) else "array"


def _aggregated(method: Aggregated, x, y, kx, ky, rng, mesh, progress) -> Outcome:
    kx, ky, options, info = _collection(method, x, y, kx, ky)
    out = aggregated_null(x, y, kx, ky, rng, progress=progress, **options)
    return out._replace(info={**info, **out.info})


def _aggregated_incomplete(
    method: AggregatedIncomplete, x, y, kx, ky, rng, mesh, progress
) -> Outcome:
    kx, ky, options, info = _collection(method, x, y, kx, ky)
    out = incomplete_null(
        x, y, kx, ky, rng, progress=progress, n_diagonals=method.n_diagonals, **options
    )
    return out._replace(info={**info, **out.info})


def _wild_bootstrap(method: WildBootstrap, x, y, kx, ky, rng, mesh, progress) -> Outcome:
    return wild_bootstrap_null(
        x, y, kx, ky, rng, n_resamples=method.n_resamples, length=method.length,
        batch_size=_batch(method), progress=progress,
    )


def _features(method: RFF | Nystrom, x, y, kx, ky, rng, mesh, progress) -> Outcome:
    n = x.shape[0]
    count = method.landmarks(n) if isinstance(method, Nystrom) else method.n_features
    if method.name == "nystrom" and count > n:
        raise ValueError(
            f"`n_features` must be at most n = {n} (the number of samples); got "
            f"{count}. Use fewer landmarks."
        )
    gx, gy, gnull = features_rng(rng)
    phi, psi = feature_pair(x, y, kx, ky, method.name, count, gx, gy)
    B = method.n_resamples
    if method.null == "spectral":
        statistic, cxx, cyy = feature_sums(phi, psi, covariances=True, mesh=mesh)
        eps = float(np.finfo(x.dtype).eps)
        null = spectral_null(np.asarray(cxx), np.asarray(cyy), n, gnull, B, eps)
    else:
        statistic = feature_statistic(phi, psi, mesh)
        null = feature_permutation_null(phi, psi, gnull, B, mesh)
    statistic = float(statistic)
    info = {"null": method.null, "n_features": count, "n_resamples": B}
    return Outcome(statistic, permutation_pvalue(null, statistic), null, info)


def _block(method: Block, x, y, kx, ky, rng, mesh, progress) -> Outcome:
    (h, hkk, hll), block_size, n_blocks = block_values(
        x, y, kx, ky, method.size, min_blocks=2, reason="method='block'", mesh=mesh, name="size"
    )
    h, hkk, hll = (np.asarray(v, dtype=np.float64) for v in (h, hkk, hll))
    statistic = float(h.mean())
    check_finite(statistic)
    variance = float(np.sum(2.0 * hkk * hll / (block_size * (block_size - 3.0))))
    if not variance > 0:
        raise ValueError(
            "The null variance of block HSIC is 0 (a variable is constant within every "
            "block); use a larger block `size`, or shuffle the rows first."
        )
    null_std = math.sqrt(variance) / n_blocks
    info = {"null": "normal", "block_size": block_size, "n_blocks": n_blocks,
            "null_std": null_std}
    return Outcome(statistic, normal_pvalue(statistic, null_std), None, info)


#: The runner of each method: ``runner(method, x, y, kx, ky, rng, mesh, progress)``.
RUNNERS: dict[str, Callable[..., Outcome]] = {
    "permutation": _permutation, "gamma": _gamma, "aggregated": _aggregated,
    "aggregated_incomplete": _aggregated_incomplete,
    "wild_bootstrap": _wild_bootstrap, "rff": _features, "nystrom": _features, "block": _block,
}


def _work(method: Method, n: int) -> float:
    """The entries a method's null reads (``B·n²`` per Gram pair), for ``progress=None``."""
    if isinstance(method, Aggregated):
        j = method.shape()[0] + method.shape()[1]
        return float(method.n_resamples + method.level_resamples()) * j * n * n
    if isinstance(method, AggregatedIncomplete):
        jx, jy = method.shape()
        draws = method.n_resamples + method.level_resamples()
        return float(draws) * jx * jy * method.n_diagonals * n / 2
    if isinstance(method, Permutation | WildBootstrap):
        return float(method.n_resamples) * n * n
    return 0.0


def _warn_if_beyond_permutations(method: Method, n: int) -> None:
    """Warn if a method's permutations outnumber the n! distinct ones."""
    permuted = getattr(method, "null", "permutation") == "permutation"
    if method.name in ("permutation", "aggregated", "rff", "nystrom") and permuted:
        resampled = cast(Permutation | Aggregated | RFF | Nystrom, method)
        warn_if_beyond_permutations(resampled.n_resamples, n, stacklevel=4)
    level = getattr(method, "n_resamples_level", None)
    if level is not None:
        warn_if_beyond_permutations(level, n, name="n_resamples_level", stacklevel=4)


def _kernels_for(method: Method, kernel_x: Any, kernel_y: Any) -> tuple[Any, Any]:
    """The kernels a method can use: RFF needs Gaussian ones (a number is a Gaussian
    bandwidth), Nyström and block HSIC ones that evaluate new pairs of points, HSICAgg ones with
    a bandwidth. Checked before the data are, so that a kernel a method cannot use is refused
    first."""
    if method.name in ("aggregated", "aggregated_incomplete"):
        kernels = []
        for spec, name in ((kernel_x, "kernel_x"), (kernel_y, "kernel_y")):
            kernel = _kernels.get_kernel(spec, name)
            if not isinstance(kernel, (_kernels.Gaussian, _kernels.Laplace)):
                raise ValueError(
                    f"`{name}` must be a Gaussian or Laplace kernel for "
                    f"method={method.name!r}, which aggregates over bandwidths; got "
                    f"{type(kernel).__name__}."
                )
            kernels.append(kernel)
        return kernels[0], kernels[1]
    if method.name == "rff":
        return gaussian_kernel(kernel_x, "kernel_x"), gaussian_kernel(kernel_y, "kernel_y")
    if method.name in ("nystrom", "block"):
        what = "Nyström features" if method.name == "nystrom" else "block HSIC"
        return cross_kernel(kernel_x, "kernel_x", what), cross_kernel(kernel_y, "kernel_y", what)
    return kernel_x, kernel_y


def test(
    x: ArrayLike,
    y: ArrayLike,
    *,
    method: str | Method = "permutation",
    kernel_x: str | _kernels.Kernel = "gaussian",
    kernel_y: str | _kernels.Kernel = "gaussian",
    rng: RNGLike = None,
    dtype: str | np.dtype | None = None,
    devices: int | jax.Device | Sequence[jax.Device] | None = None,
    mesh: jax.sharding.Mesh | None = None,
    progress: bool | None = None,
) -> HSICTestResult:
    """Test whether x and y are independent, with the HSIC statistic.

    The statistic is ``HSIC_b = tr(K H L H)/n²``. The Gram matrices are computed once. The
    method is a method object, or its name for its defaults:

    * [`hsic.Permutation`][hsic.Permutation] (``"permutation"``, the default): the exact
      permutation null. Each of the B permuted statistics reuses the centred Gram matrices;
      the p-value is ``(1 + #{null ≥ observed}) / (1 + B)``, ties within ``1000·eps``
      (relative) counting as extreme. It is valid at any n, and does not depend on
      ``batch_size``.
    * [`hsic.Gamma`][hsic.Gamma] (``"gamma"``): Gretton et al. (2008)'s gamma approximation to
      the null of ``n·HSIC_b``, matched to its null mean and variance. O(n²) time and O(n)
      memory (it streams over tiles of the Gram matrices), with no resampling, so it is much
      faster and scales to large n, but it is approximate.
    * [`hsic.Aggregated`][hsic.Aggregated] (``"aggregated"``): HSICAgg (Schrab et al. 2022):
      permutation tests over a grid of bandwidth pairs, one shared set of B₁ permutations,
      the level corrected by bisection on a second set of B₂. The p-value is the permutation
      p-value of the smallest weighted per-pair p-value; it is valid and ``pvalue <= alpha``
      exactly when the aggregated test rejects at ``alpha``. ``statistic``,
      ``null_distribution`` and the kernels are those of the most significant pair; ``info``
      holds the grid, every pair's statistic and p-value, ``u_alpha`` and the decision. See
      the module ``hsic._nulls.aggregated``.
    * [`hsic.WildBootstrap`][hsic.WildBootstrap] (``"wild_bootstrap"``): for a stationary
      time series (rows in time order), the wild bootstrap of Chwialkowski, Sejdinovic,
      Gretton (2014) with B replicates ``c_ℓ Σ W̃_i W̃_j K̄_ij L̄_ij / n²``: ``W̃`` a centred
      AR(1) multiplier process of correlation ``e^{−|s−t|/ℓ}``, ``c_ℓ = 1/(1 − 1ᵀC1/n²)``
      restoring its unit average variance. Permutations would break the serial dependence
      and over-reject. By default ``ℓ = min(max(2ρ/(0.05(1 − ρ²)), √n), n^{2/3})``, with
      ``ρ`` the product of the lag-1 autocorrelations of the leading kernel principal
      components of x and of y, which keeps the bootstrap's bias on the long-run variance
      near 5 %; ``res.info`` records ℓ, ``ρ``'s factors and ``c_ℓ``. See the module
      ``hsic._nulls.wild_bootstrap``.

    For large n (10⁵ and beyond), three approximate methods of Zhang et al. (2018) avoid the
    O(n²) cost; each statistic's error against the exact one is documented in the
    [scaling guide](scaling.md):

    * [`hsic.RFF`][hsic.RFF] (``"rff"``): random Fourier features of the Gaussian kernels
      (D features per variable, default 100); the statistic ``‖Φ̃ᵀΨ̃‖²_F/n²`` costs
      O(n·D²). Its null is ``"spectral"`` (draws of the asymptotic weighted chi-square law,
      costing nothing in n) or ``"permutation"`` (permuting rows of the features).
    * [`hsic.Nystrom`][hsic.Nystrom] (``"nystrom"``): Nyström features of any kernel but
      precomputed, from m landmarks per variable chosen uniformly from ``rng``; the same
      nulls.
    * [`hsic.Block`][hsic.Block] (``"block"``): the average of unbiased HSICs over blocks of
      consecutive rows (default ``⌊√n⌋``), with its normal null, whose variance is computed
      exactly; no randomness. Shuffle the rows first if their order is not random.

    Nothing switches method on its own: you choose.

    Args:
      x: samples of x, ``(n,)`` or ``(n, d_x)``; a list, NumPy, pandas or JAX array.
      y: samples of y, with the same n.
      method: a method object (above), or its name for its defaults.
      kernel_x: a kernel name or [`Kernel`][hsic.kernels.Kernel]; default Gaussian with the
        median heuristic computed on x alone. With ``"rff"``, a number is a Gaussian bandwidth.
      kernel_y: the same for y.
      rng: the source of every random choice (permutations, features, landmarks,
        multipliers): None (default: fresh entropy), an int seed, a
        ``numpy.random.Generator`` (a seed is drawn from it) or a JAX key; see the guide's
        *Randomness*. The seed used is recorded in ``res.info["rng"]``, and passing it back
        repeats the run exactly.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.
      devices: run on several devices: an int (the first k of ``jax.devices()``), one
        ``jax.Device`` (run there) or a list of them. The gamma test splits its tiles over
        them, the permutation test its permutations, the feature tests their rows and
        permutations, the block test its blocks; the result is the same as on one device.
        ``None``: JAX's default device. Not taken by ``"aggregated"`` and
        ``"wild_bootstrap"``.
      mesh: alternatively, a 1-D ``jax.sharding.Mesh``.
      progress: show a progress bar over the resamples (``"permutation"``,
        ``"wild_bootstrap"``; ``"aggregated"`` labels its two stages); ``None`` (default):
        only when stderr is a terminal and the work is long (``hsic._base.progress``).

    Returns:
      The test result, an [`HSICTestResult`][hsic.HSICTestResult].

    Raises:
      ValueError: on mismatched n, too few samples, NaN or inf, a constant variable, bad
        shapes or names, a method (or method option) that is not valid, n too large for
        memory (the message names the methods that fit), values beyond the dtype's range, or
        a statistic or null value that is NaN or infinite (a fixed bandwidth far from the
        data's scale, a linear kernel on huge values): never a p-value of a NaN.

    Warns:
      UserWarning: when ``n_resamples`` exceeds the n! distinct permutations.
      RuntimeWarning: for a delta kernel on data whose values are mostly distinct.

    Example:
      >>> import numpy as np, hsic
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=200)
      >>> y = x**2 + 0.1 * rng.normal(size=200)   # uncorrelated, but dependent
      >>> res = hsic.test(x, y, method=hsic.Permutation(n_resamples=200), rng=1)
      >>> res.pvalue                                  # 1/(1 + 200): no permutation beat it
      0.004975124378109453
      >>> hsic.test(x, y, method="gamma").pvalue < 1e-6
      True
      >>> hsic.test(x, y, method=hsic.RFF(n_features=50)).pvalue   # spectral null, 1000 draws
      0.000999000999000999

    References:
      Gretton, Fukumizu, Teo, Song, Schölkopf, Smola (2008), "A kernel statistical test of
      independence", NIPS 20. Phipson & Smyth (2010), "Permutation p-values should never be
      zero", SAGMB 9. Schrab, Kim, Guedj, Gretton (2022), "Efficient aggregated kernel
      tests using incomplete U-statistics", NeurIPS 35 (HSICAgg). Chwialkowski, Sejdinovic,
      Gretton (2014), "A wild bootstrap for degenerate kernel tests", NIPS 27. Zhang,
      Filippi, Gretton, Sejdinovic (2018), "Large-scale kernel methods for independence
      testing", Statistics and Computing 28.
    """
    method = as_method(method, METHODS, test="hsic.test")
    if (devices is not None or mesh is not None) and method.name not in SHARDED:
        raise ValueError(
            f"`devices`/`mesh` are not supported by method={method.name!r}; drop them."
        )
    device_mesh = resolve_mesh(devices=devices, mesh=mesh)
    seed = seed_of(rng)
    generator = as_generator(seed)
    dtype = float_dtype(dtype)
    kernel_x, kernel_y = _kernels_for(method, kernel_x, kernel_y)
    with precision(dtype):
        x, y, kx, ky = prepare_pair(
            x, y, kernel_x, kernel_y, dtype=dtype, min_n=MIN_N[method.name],
            reason=f"hsic.test with method={method.name!r}", constant="raise",
        )
        _warn_if_beyond_permutations(method, x.shape[0])
        progress = resolve_progress(progress, _work(method, x.shape[0]))
        out = RUNNERS[method.name](method, x, y, kx, ky, generator, device_mesh, progress)
        return HSICTestResult(
            statistic=out.statistic,
            pvalue=out.pvalue,
            null_distribution=out.null_distribution,
            method=method.name,
            n=x.shape[0],
            kernel_x=_kernels.as_python_floats(out.kernel_x or kx),
            kernel_y=_kernels.as_python_floats(out.kernel_y or ky),
            info={**out.info, "rng": seed},
        )


# Not a test for pytest: a test module that imports ``hsic.test`` (or pytest given this file)
# would otherwise collect it as a test function and fail to find fixtures ``x`` and ``y``.
test.__test__ = False  # type: ignore[attr-defined]
