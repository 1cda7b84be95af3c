"""Conditional independence tests: ``hsic.conditional_test`` with KCI, RCIT and RCoT.

This module owns the kernel conditional independence test (KCI, Zhang, Peters, Janzing and
Schölkopf 2011) and its random-Fourier-feature approximations (RCIT and RCoT, Strobl, Zhang
and Visweswaran 2019): their statistics and the power sums of their null weights.

Both statistics have, under conditional independence, the asymptotic law of a weighted sum of
χ²₁ variables, ``T ≈ Σ_k λ_k ζ_k²``; its gamma, Hall–Buckley–Eagleson and simulated
approximations are ``hsic._nulls.mixtures.mixture_null``.

The KCI computations always run in float64: the regression inverts ``K̃_z + εI``, whose
condition number is about ``n/ε`` (~10⁶ at n = 1000), beyond float32.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from hsic._api.methods import (
    KCI,
    RCIT,
    Z_FEATURES_MAX,
    Z_FEATURES_PER_ROOT_N,
    Method,
    RCoT,
    as_method,
)
from hsic._api.results import ConditionalTestResult
from hsic._base.progress import make_bar, resolve_progress
from hsic._base.rng import RNGLike, as_generator, seed_of
from hsic._base.validation import (
    as_numpy_samples,
    check_fits_in_memory,
    precision,
    transposed_hint,
)
from hsic._nulls.mixtures import mixture_null
from hsic._nulls.pvalues import Outcome
from hsic._stats import kernels as _kernels
from hsic._stats.features import rff_frequencies, rff_map
from hsic._stats.gram import centre
from hsic._stats.inputs import check_not_constant

__all__ = ["METHODS", "conditional_test", "kci_bandwidth"]

#: The methods of ``hsic.conditional_test``, by name.
METHODS: dict[str, type[Method]] = {cls.name: cls for cls in (KCI, RCIT, RCoT)}
#: Smallest n accepted.
MIN_N = 10


# --------------------------------------------------------------------------------------------
# KCI
# --------------------------------------------------------------------------------------------


def kci_bandwidth(n: int, dim_z: int) -> float:
    """The default KCI kernel width, for ẍ, y and z alike: ``w(n)·√dim_z`` (standardised data).

    ``w = 1.2`` for n < 200, ``0.7`` for n < 1200 and ``0.4`` beyond: the empirical rule of
    Zhang et al. (2011)'s code, and causal-learn's default (``est_width='empirical'``), which
    also scales all three widths with the dimension of z.

    Example:
      >>> from hsic._api.conditional import kci_bandwidth
      >>> kci_bandwidth(500, 4)
      1.4
    """
    width = 1.2 if n < 200 else 0.7 if n < 1200 else 0.4
    return width * math.sqrt(dim_z)


@functools.partial(jax.jit, static_argnames="third")
def _kci_core(kx, ky, kz, xx, y, z, epsilon, third: bool):
    """The statistic and the power sums of the null weights, from the three Gram matrices.

    ``R = ε(K̃_z + εI)⁻¹``, ``A = R K̃_ẍ R``, ``B = R K̃_y R``, ``W = A ∘ B``. With
    ``A = ΨΨᵀ`` and ``B = ΦΦᵀ`` (eigen-factorisations), ``W = w wᵀ`` where
    ``w_t = (ψ_i(t) φ_j(t))_ij``: so the null weights (the eigenvalues of ``wᵀw``, divided by
    n) are those of ``W/n``, and ``tr(W)``, ``‖W‖²_F``, ``tr(W³)`` give their power sums
    without any eigen-decomposition (the third, an extra n³ product, only when ``third``).
    """
    n = xx.shape[0]
    Kx, Ky, Kz = centre(kx.gram(xx)), centre(ky.gram(y)), centre(kz.gram(z))
    eye = jnp.eye(n, dtype=Kz.dtype)
    factor = jax.scipy.linalg.cho_factor(Kz + epsilon * eye, lower=True)
    R = epsilon * jax.scipy.linalg.cho_solve(factor, eye)
    R = 0.5 * (R + R.T)
    A = R @ Kx @ R
    B = R @ Ky @ R
    W = A * B
    s1 = jnp.trace(W) / n
    s2 = jnp.sum(W * W) / n**2
    s3 = jnp.sum((W @ W) * W) / n**3 if third else jnp.zeros((), W.dtype)
    return jnp.sum(W) / n, s1, s2, s3, W


def _standardise(a, xp=np):
    """Columns to mean 0 and standard deviation 1 (ddof = 1); constant columns to 0.

    ``xp`` is ``numpy`` for the data, ``jax.numpy`` for the features inside the jitted RCIT
    core: one rule for both.
    """
    a = a - xp.mean(a, axis=0)
    sd = xp.std(a, axis=0, ddof=1)
    return a / xp.where(sd > 0, sd, 1.0)


def _fit(spec, data: np.ndarray, name: str, default: float) -> _kernels.Kernel:
    """``None``: a Gaussian of bandwidth ``default``; otherwise the given kernel, fitted."""
    if spec is None:
        return _kernels.Gaussian(bandwidth=float(default))
    kernel = _kernels.get_kernel(spec, name)
    if isinstance(kernel, _kernels.Precomputed):
        raise ValueError(
            f"`{name}`='precomputed' cannot be used by hsic.conditional_test, which builds its "
            "Gram matrices from the standardised data; pass a kernel such as 'gaussian'."
        )
    return _kernels.as_python_floats(kernel.fit(data, name=name))


#: Dense n × n float64 arrays that KCI holds at its peak (three Gram matrices and their
#: centred forms, the regression's factor and residual operator, A, B and their product).
KCI_MATRICES = 12


def _kci(method: KCI, x, y, z, specs, rng) -> tuple[Outcome, tuple]:
    n = x.shape[0]
    check_fits_in_memory(
        n, KCI_MATRICES, np.float64, what="method='kci'",
        instead="Use method='rcit' or 'rcot' (random Fourier features: O(n) memory, O(n·D²) "
        "time), or test a random subsample of the rows.",
    )
    xx = np.concatenate([x, 0.5 * z], axis=1)
    width = kci_bandwidth(n, z.shape[1])
    kx = _fit(specs[0], xx, "kernel_x", width)
    ky = _fit(specs[1], y, "kernel_y", width)
    kz = _fit(specs[2], z, "kernel_z", width)
    with precision(np.float64):
        out = _kci_core(
            kx, ky, kz, jnp.asarray(xx), jnp.asarray(y), jnp.asarray(z), method.epsilon,
            third=method.null == "hbe",
        )
        statistic, s1, s2, s3 = (float(v) for v in out[:4])
        outcome = mixture_null(
            statistic, (s1, s2, s3), method.null, weights=out[4], scale=n, rng=rng,
            n_resamples=method.n_resamples,
        )
    outcome.info["epsilon"] = method.epsilon
    return outcome, (kx, ky, kz)


# --------------------------------------------------------------------------------------------
# RCIT
# --------------------------------------------------------------------------------------------


#: RCIT's median heuristics look at no more than this many evenly spaced rows (Strobl et al.'s
#: code and causal-learn use the first 500).
RCIT_MEDIAN_ROWS = 500


def _cholesky_solve(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a⁻¹ b`` for a symmetric positive definite ``a`` (small): a Cholesky factor, then
    forward and back substitution one row at a time, which is much faster on a CPU than XLA's
    triangular solve at these sizes (see ``benchmarks/README.md``). A factor that is not
    positive definite gives NaN.
    """
    lower = jax.lax.linalg.cholesky(a)
    m = a.shape[0]

    def forward(i, y):
        return y.at[i].set((b[i] - lower[i] @ y) / lower[i, i])

    y = jax.lax.fori_loop(0, m, forward, jnp.zeros_like(b))

    def backward(k, x):
        i = m - 1 - k
        return x.at[i].set((y[i] - lower[:, i] @ x) / lower[i, i])

    return jax.lax.fori_loop(0, m, backward, jnp.zeros_like(b))


def _rcit_features(x, y, z, omega_x, omega_y, omega_z) -> tuple:
    """RCIT's standardised random features of x, y and z, ``(n, D)`` each."""
    return tuple(
        _standardise(rff_map(a, w), jnp)
        for a, w in ((x, omega_x), (y, omega_y), (z, omega_z))
    )


def _rcit_moments(fx, fy, fz, czz, epsilon) -> tuple:
    """RCIT from its features and ``C_zz``: the statistic, the power sums ``s_r = Σλ^r`` of
    the null weights, and the weights' matrix (for the simulated null)."""
    n = fx.shape[0]
    dx = fx.shape[1]
    fxy = jnp.concatenate([fx, fy], axis=1)
    dot = functools.partial(jnp.matmul, precision=jax.lax.Precision.HIGHEST)
    # Ridge regression of each x- and y-feature on the z-features (covariance form, as in
    # Strobl et al.): residuals r = f − f_z (C_zz + εI)⁻¹ C_zf.
    ridge = czz + epsilon * jnp.eye(czz.shape[0], dtype=czz.dtype)
    beta = _cholesky_solve(ridge, dot(fz.T, fxy)) / (n - 1)
    residual = fxy - dot(fz, beta)
    rx, ry = residual[:, :dx], residual[:, dx:]
    # C_xy·z = C_xy − C_xz C_zz⁻¹ C_zy, and its null covariance from the residual products
    c_partial = dot(fx.T, fy) / (n - 1) - dot(dot(fx.T, fz) / (n - 1), beta[:, dx:])
    statistic = n * jnp.sum(c_partial**2)
    products = (rx[:, :, None] * ry[:, None, :]).reshape(n, -1)
    cov = dot(products.T, products) / n
    s1, s2, s3 = jnp.trace(cov), jnp.sum(cov * cov), jnp.sum(dot(cov, cov) * cov)
    return statistic, s1, s2, s3, cov


@jax.jit
def _rcit_compiled(x, y, z, omega_x, omega_y, omega_z, epsilon):
    """``_rcit_moments`` of ``_rcit_features``, with ``C_zz`` from XLA's dot, in one call."""
    fx, fy, fz = _rcit_features(x, y, z, omega_x, omega_y, omega_z)
    czz = jnp.matmul(fz.T, fz, precision=jax.lax.Precision.HIGHEST) / (fz.shape[0] - 1)
    return _rcit_moments(fx, fy, fz, czz, epsilon)


_features_compiled = jax.jit(_rcit_features)
_moments_compiled = jax.jit(_rcit_moments)


#: From this many z-features on, RCIT forms ``C_zz = F_zᵀF_z/(n − 1)`` in NumPy's BLAS (a
#: symmetric rank-k update) between two compiled calls, instead of in one compiled call.
BLAS_GRAM_FEATURES = 512


def _rcit_core(x, y, z, omega_x, omega_y, omega_z, epsilon):
    """RCIT from the data and the frequencies: the statistic, the power sums ``s_r = Σλ^r`` of
    the null weights, and the weights' matrix (for the simulated null); NaN when the ridge
    matrix is not numerically positive definite.

    ``C_zz`` costs O(n·D_z²), the rest O(n·D_z). From ``BLAS_GRAM_FEATURES`` features on
    (the default ``D_z = 4√n`` reaches it at n = 16 384) NumPy's symmetric rank-k update forms
    it 2–2.5× faster than XLA's CPU dot, which outweighs splitting the compiled call in
    two; below, the one compiled call is faster (``benchmarks/README.md``).
    """
    if 2 * omega_z.shape[1] < BLAS_GRAM_FEATURES:
        return jax.device_get(_rcit_compiled(x, y, z, omega_x, omega_y, omega_z, epsilon))
    fx, fy, fz = _features_compiled(x, y, z, omega_x, omega_y, omega_z)
    host = np.asarray(fz)
    czz = host.T @ host / (host.shape[0] - 1)
    return jax.device_get(_moments_compiled(fx, fy, fz, czz, epsilon))


def _rcit(method: RCIT | RCoT, x, y, z, specs, rng) -> tuple[Outcome, tuple]:
    n = x.shape[0]
    z_features = method.z_features(n)
    if method.n_features is None and Z_FEATURES_PER_ROOT_N * math.sqrt(n) > Z_FEATURES_MAX:
        warnings.warn(
            f"method={method.name!r} uses {Z_FEATURES_MAX} random features of z, the most of "
            f"its default rule 4·√n (= {Z_FEATURES_PER_ROOT_N * math.sqrt(n):.0f} for n = {n}): "
            "the bias of the regression on z grows with n/D², so the type-I error may exceed "
            "alpha here. Pass a larger `n_features` if memory allows (n·D·8 bytes), or test a "
            "random subsample of the rows.",
            stacklevel=3,
        )
    if method.name == "rcit":  # RCIT: y's features are of (y, z); RCoT: of y alone
        y = np.concatenate([y, z], axis=1)
    streams = rng.spawn(4)
    rows = np.linspace(0, n - 1, min(n, RCIT_MEDIAN_ROWS)).round().astype(np.int64)
    kernels, omegas = [], []
    for data, spec, name, count, stream in (
        (x, specs[0], "kernel_x", method.n_features_xy, streams[0]),
        (y, specs[1], "kernel_y", method.n_features_xy, streams[1]),
        (z, specs[2], "kernel_z", z_features, streams[2]),
    ):
        spec = "gaussian" if spec is None else spec
        kernel = _kernels.get_kernel(spec, name)
        if not isinstance(kernel, _kernels.Gaussian):
            raise ValueError(
                f"`{name}` must be a Gaussian kernel for methods 'rcit' and 'rcot' (random "
                f"Fourier features); got {kernel!r}. Use method='kci' for other kernels."
            )
        # fit and as_python_floats keep the class: a Gaussian
        kernel = cast(
            _kernels.Gaussian, _kernels.as_python_floats(kernel.fit(data[rows], name=name))
        )
        kernels.append(kernel)
        omegas.append(rff_frequencies(stream, data.shape[1], count, kernel.bandwidth))
    omega_x, omega_y, omega_z = omegas
    with precision(np.float64):
        out = _rcit_core(x, y, z, omega_x, omega_y, omega_z, method.epsilon)
    statistic, s1, s2, s3 = (float(v) for v in out[:4])
    if not np.isfinite(statistic):
        raise ValueError(
            f"The ridge regression on z's features failed (C_zz + εI is not numerically "
            f"positive definite with `epsilon`={method.epsilon!r}); use a larger `epsilon`."
        )
    outcome = mixture_null(
        statistic, (s1, s2, s3), method.null, weights=out[4], scale=1, rng=streams[3],
        n_resamples=method.n_resamples,
    )
    outcome.info.update(
        epsilon=method.epsilon, n_features=z_features,
        n_features_xy=method.n_features_xy,
    )
    return outcome, tuple(kernels)


#: The runner of each method: ``runner(method, x, y, z, kernel specs, rng)``.
RUNNERS: dict[str, Callable[..., tuple[Outcome, tuple]]] = {
    "kci": _kci, "rcit": _rcit, "rcot": _rcit
}


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _check_data(x, y, z) -> list[np.ndarray]:
    """The three variables as float64 ``(n, d)`` arrays, with the same n ≥ 10, none constant."""
    arrays = [as_numpy_samples(data, name) for data, name in ((x, "x"), (y, "y"), (z, "z"))]
    n = arrays[0].shape[0]
    for arr, name in zip(arrays[1:], ("y", "z"), strict=True):
        if arr.shape[0] != n:
            hint = transposed_hint({k: a.shape for k, a in zip("xyz", arrays, strict=True)})
            raise ValueError(
                f"`x`, `y` and `z` must have the same number of samples (rows); `x` has {n} and "
                f"`{name}` has {arr.shape[0]}.{hint}"
            )
    if n < MIN_N:
        raise ValueError(f"hsic.conditional_test needs at least {MIN_N} samples; got n={n}.")
    for arr, name in zip(arrays, "xyz", strict=True):
        check_not_constant(arr, name, constant="raise", hypothesis="conditional independence")
    return arrays


def conditional_test(
    x: ArrayLike,
    y: ArrayLike,
    z: ArrayLike,
    *,
    method: str | Method = "kci",
    kernel_x: str | _kernels.Kernel | None = None,
    kernel_y: str | _kernels.Kernel | None = None,
    kernel_z: str | _kernels.Kernel | None = None,
    rng: RNGLike = None,
    progress: bool | None = None,
) -> ConditionalTestResult:
    """Test whether x and y are independent given z, with KCI, RCIT or RCoT.

    Every column of x, y and z is first standardised (mean 0, standard deviation 1). The
    method is a method object, or its name for its defaults: [`hsic.KCI`][hsic.KCI]
    (``"kci"``, the default), [`hsic.RCIT`][hsic.RCIT] (``"rcit"``) or
    [`hsic.RCoT`][hsic.RCoT] (``"rcot"``).

    **KCI** (Zhang et al. 2011). With centred Gram matrices ``K̃_ẍ`` of ``ẍ = (x, z/2)``,
    ``K̃_y`` of y and ``K̃_z`` of z, and ``R = ε(K̃_z + εI)⁻¹`` (the residual operator of a
    kernel ridge regression on z), the statistic is

    ``T = tr(K̃_{ẍ|z} K̃_{y|z}) / n``, with ``K̃_{ẍ|z} = R K̃_ẍ R`` and ``K̃_{y|z} = R K̃_y R``.

    Under conditional independence ``T ≈ Σ_k λ_k ζ_k²`` where the λ_k are the eigenvalues of
    ``(K̃_{ẍ|z} ∘ K̃_{y|z})/n`` (the ``ŵŵᵀ`` of the paper, which is this entrywise product). The
    gamma null has mean ``tr(K̃_{ẍ|z} ∘ K̃_{y|z})/n`` and variance
    ``2‖K̃_{ẍ|z} ∘ K̃_{y|z}‖²_F/n²``, the paper's ``tr(ŵŵᵀ)/n²`` and ``2tr((ŵŵᵀ)²)/n⁴`` on
    the scale of ``tr(·)/n``; the moments use the centred matrices, and the gamma scale is a
    scale. These need no eigen-decomposition; ``null="simulated"`` decomposes the n × n matrix.

    *Defaults* (causal-learn's ``KCI_CInd``, so its p-values are reproduced): Gaussian kernels
    of width ``w·√dim(z)`` for ẍ, y and z alike, with ``w`` = 1.2 (n < 200), 0.7 (n < 1200)
    or 0.4 (``hsic._api.conditional.kci_bandwidth``), z at half weight in ẍ, and
    ``ε = 1e-3`` (the authors' Matlab value). A smaller ε regresses z out more completely
    (fewer false rejections when z acts nonlinearly) but costs power. Passing a kernel (e.g.
    ``"gaussian"``, the median heuristic) overrides a width rule. The cost is O(n³) time and
    O(n²) memory (float64): use RCIT for n beyond a few thousand.

    **RCIT** (Strobl et al. 2019). x, ÿ = (y, z) and z are mapped to random Fourier features
    of Gaussian kernels (``n_features_xy`` features for x and ÿ, ``n_features`` for z; see
    ``hsic._stats.features.rff_features``), each feature standardised. Their
    median-heuristic bandwidths look at no more than 500 evenly spaced rows
    (``round(linspace(0, n − 1, 500))``; Strobl et al.'s code and causal-learn use the first
    500 rows), so for n > 500 they differ from ``hsic.kernels.median_distance``'s 1000-row
    rule. **RCoT** (the variant the authors recommend) uses y instead of ÿ; causal-learn,
    like us, appends z to y for RCIT. The x- and y-features are regressed on the z-features
    (ridge ``ε``, default ``1e-10`` as in Strobl's code), and the statistic is
    ``n·‖Ĉ_{xy·z}‖²_F`` with the partial cross-covariance
    ``Ĉ_{xy·z} = Ĉ_xy − Ĉ_xz (Ĉ_zz + εI)⁻¹ Ĉ_zy``. Its null weights are the eigenvalues of the
    covariance of the products of residuals. O(n·D²) time: it scales to large n.

    **Nulls** (each method object's ``null``): ``"gamma"`` (two moments; KCI's default),
    ``"hbe"`` (Hall–Buckley–Eagleson, three moments; RCIT's and RCoT's default, a documented
    alternative to the Lindsay–Pilla–Basak approximation of Strobl et al.), or
    ``"simulated"`` (``n_resamples`` draws of the weighted χ² sum, p-value
    ``(1 + #{draws ≥ T})/(1 + B)``, ties within ``1000·eps`` (relative) counting as extreme).

    Args:
      x: samples of x, ``(n,)`` or ``(n, d_x)``.
      y: samples of y, with the same n.
      z: samples of the conditioning variable z, with the same n.
      method: a method object (above), or its name for its defaults.
      kernel_x: ``None`` for the default, or a kernel name or
        [`Kernel`][hsic.kernels.Kernel] (fitted to the standardised data; RCIT and RCoT need
        a Gaussian). For KCI this is the kernel of ẍ = (x, z/2).
      kernel_y: the same for y (RCIT: for ÿ = (y, z)).
      kernel_z: the same for z.
      rng: the source of RCIT's and RCoT's features and of the simulated null: None
        (default: fresh entropy), an int seed, a ``numpy.random.Generator`` (a seed is drawn
        from it) or a JAX key; see the guide's *Randomness*. The seed used is recorded in
        ``res.info["rng"]``, and passing it back repeats the run exactly.
        The streams are ``np.random.default_rng(seed).spawn(4)``: the features of x, y and
        z, then the simulated null (KCI's simulated null uses
        ``np.random.default_rng(seed)`` itself).
      progress: show a progress bar (with the elapsed time) while the test runs; ``None``
        (default): only when stderr is a terminal and the work is long (KCI at n in the
        thousands; ``hsic._base.progress``).

    Returns:
      A [`ConditionalTestResult`][hsic.ConditionalTestResult]; its ``info`` holds ``null``,
      the gamma law (``gamma_shape``, ``gamma_scale``), ``hbe_dof`` or ``n_resamples``, the
      null's ``null_mean`` and ``null_variance``, ``epsilon`` and the numbers of features.

    Raises:
      ValueError: on mismatched n, n < 10, NaN or inf, a constant variable, a method that is
        not one of the above, a kernel the method cannot use, KCI's n × n matrices too large
        for memory (the message points to RCIT), or a NaN or infinite statistic.

    Example:
      >>> import numpy as np, hsic
      >>> rng = np.random.default_rng(0)
      >>> z = rng.normal(size=300)
      >>> x = np.sin(z) + 0.3 * rng.normal(size=300)
      >>> y = np.cos(z) + 0.3 * rng.normal(size=300)      # x ⟂ y given z (a fork)
      >>> hsic.conditional_test(x, y, z).pvalue > 0.05
      True
      >>> hsic.conditional_test(x, y + x, z).pvalue < 1e-4
      True
      >>> hsic.conditional_test(x, y + x, z, method=hsic.RCIT(null="gamma")).pvalue < 1e-4
      True

    References:
      Zhang, Peters, Janzing, Schölkopf (2011), "Kernel-based conditional independence test and
      application in causal discovery", UAI. Strobl, Zhang, Visweswaran (2019), "Approximate
      kernel-based conditional independence tests for fast non-parametric causal discovery",
      Journal of Causal Inference 7(1). Hall (1983), "Chi squared approximations to the
      distribution of a sum of independent random variables", Annals of Probability 11.
    """
    method = as_method(method, METHODS, test="hsic.conditional_test")
    seed = seed_of(rng)
    generator = as_generator(seed)
    standardised: list[np.ndarray] = [_standardise(a) for a in _check_data(x, y, z)]
    x, y, z = standardised
    n = x.shape[0]
    features = method.z_features(n) if isinstance(method, (RCIT, RCoT)) else 1
    work = float(n) ** 3 if method.name == "kci" else float(n) * features**2
    bar = make_bar(resolve_progress(progress, work), 1, f"conditional_test ({method.name})")
    outcome, kernels = RUNNERS[method.name](
        method, x, y, z, (kernel_x, kernel_y, kernel_z), generator
    )
    if bar is not None:  # one compiled call: the bar shows the elapsed time
        bar.update(1)
        bar.close()
    return ConditionalTestResult(
        statistic=outcome.statistic, pvalue=outcome.pvalue,
        null_distribution=outcome.null_distribution, method=method.name, n=x.shape[0],
        kernel_x=kernels[0], kernel_y=kernels[1], kernel_z=kernels[2],
        info={**outcome.info, "rng": seed},
    )
