"""Conditional independence tests: ``hsic.conditional_test`` with KCI and RCIT.

This module owns the kernel conditional independence test (KCI, Zhang, Peters, Janzing and
Schölkopf 2011), its random-Fourier-feature approximation (RCIT, Strobl, Zhang and Visweswaran
2019), their null approximations and the [`ConditionalTestResult`][hsic.ConditionalTestResult].

Both statistics have, under conditional independence, the asymptotic law of a weighted sum of
χ²₁ variables, ``T ≈ Σ_k λ_k ζ_k²``. Three nulls use the weights:

* ``"gamma"``: a gamma law with the mean ``Σλ`` and variance ``2Σλ²`` (Satterthwaite–Welch);
* ``"hbe"``: Hall–Buckley–Eagleson, a shifted and scaled χ²_ν matching the first three
  cumulants ``κ_r = 2^{r−1}(r−1)!·Σλ^r`` (``ν = 8κ₂³/κ₃²``), more accurate in the tail;
* ``"simulated"``: draws of ``Σ λ_k ζ_k²`` with ``ζ ~ N(0, 1)`` from ``seed``, p-value
  ``(1 + #{draws ≥ T})/(1 + B)``.

The KCI computations always run in float64: the regression inverts ``K̃_z + εI``, whose
condition number is about ``n/ε`` (~10⁶ at n = 1000), beyond float32.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special
from jax.typing import ArrayLike

from hsic._api.results import bandwidth_of, describe_kernel
from hsic._base.rng import as_generator
from hsic._base.validation import (
    as_numpy_samples,
    check_choice,
    check_positive_int,
    is_constant,
    precision,
)
from hsic._nulls.mixtures import spectral_null
from hsic._nulls.pvalues import permutation_pvalue
from hsic._stats import kernels as _kernels
from hsic._stats.features import check_n_features, rff_frequencies, rff_map
from hsic._stats.gram import centre

__all__ = ["ConditionalTestResult", "conditional_test", "kci_bandwidth", "METHODS", "NULLS"]

METHODS = ("kci", "rcit", "rcot")
NULLS = ("gamma", "hbe", "simulated")
#: The default null of each method.
DEFAULT_NULL = {"kci": "gamma", "rcit": "hbe", "rcot": "hbe"}
#: The default regulariser ε of each method (KCI: causal-learn's; RCIT: Strobl's R code).
DEFAULT_EPSILON = {"kci": 1e-3, "rcit": 1e-10, "rcot": 1e-10}
#: Smallest n accepted.
MIN_N = 10


@dataclasses.dataclass(frozen=True, repr=False)
class ConditionalTestResult:
    """Result of a conditional independence test ([`hsic.conditional_test`][hsic.conditional_test]).

    Attributes:
      statistic: the observed statistic: KCI's ``tr(K̃_{ẍ|z} K̃_{y|z})/n``, or RCIT's
        ``n·‖Ĉ_{xy·z}‖²_F``.
      pvalue: the p-value of "x and y are independent given z".
      null_distribution: the simulated null draws (``null="simulated"``), else ``None``.
      method: ``"kci"``, ``"rcit"`` or ``"rcot"``.
      null: ``"gamma"``, ``"hbe"`` or ``"simulated"``.
      n: the number of samples.
      kernel_x: the fitted kernel of x (KCI: of ẍ = (x, z/2); all on standardised data).
      kernel_y: the fitted kernel of y (RCIT: of ÿ = (y, z)).
      kernel_z: the fitted kernel of z.
      n_null_samples: the number of simulated null draws (``null="simulated"``), else ``None``.
      gamma_shape: shape of the gamma law approximating the null of ``statistic``
        (``null="gamma"``).
      gamma_scale: its scale (a scale, not a location: the law is
        ``scipy.stats.gamma(gamma_shape, scale=gamma_scale)``).
      info: method-specific details (plain JSON-serialisable values): ``epsilon``, the null
        ``mean`` and ``variance`` of the statistic, ``hbe_dof`` (ν, for ``"hbe"``), and the
        numbers of features (RCIT).
    """

    statistic: float
    pvalue: float
    null_distribution: np.ndarray | None
    method: str
    null: str
    n: int
    kernel_x: _kernels.Kernel
    kernel_y: _kernels.Kernel
    kernel_z: _kernels.Kernel
    n_null_samples: int | None = None
    gamma_shape: float | None = None
    gamma_scale: float | None = None
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def bandwidth_x(self) -> float | None:
        """The bandwidth used for x (KCI: for ẍ), or ``None`` for kernels without one."""
        return bandwidth_of(self.kernel_x)

    @property
    def bandwidth_y(self) -> float | None:
        """The bandwidth used for y, or ``None`` for kernels without one."""
        return bandwidth_of(self.kernel_y)

    @property
    def bandwidth_z(self) -> float | None:
        """The bandwidth used for z, or ``None`` for kernels without one."""
        return bandwidth_of(self.kernel_z)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary (without the null distribution)."""
        return {
            "statistic": self.statistic,
            "pvalue": self.pvalue,
            "method": self.method,
            "null": self.null,
            "n": self.n,
            "n_null_samples": self.n_null_samples,
            "kernel_x": _kernels.kernel_params(self.kernel_x),
            "kernel_y": _kernels.kernel_params(self.kernel_y),
            "kernel_z": _kernels.kernel_params(self.kernel_z),
            "gamma_shape": self.gamma_shape,
            "gamma_scale": self.gamma_scale,
            "info": dict(self.info),
        }

    def __repr__(self) -> str:
        if self.null == "gamma":
            detail = f"shape={self.gamma_shape:.4g}, scale={self.gamma_scale:.4g}"
        elif self.null == "hbe":
            detail = f"dof={self.info['hbe_dof']:.4g}"
        else:
            detail = f"{self.n_null_samples} null draws"
        what = "tr(K̃ẍ|z K̃y|z)/n" if self.method == "kci" else "n·‖C_xy·z‖²"
        return "\n".join([
            f"ConditionalTestResult(method={self.method!r}, null={self.null!r}, {detail})",
            f"  n          = {self.n}",
            f"  statistic  = {self.statistic:.6g}   ({what})",
            f"  pvalue     = {self.pvalue:.4g}",
            f"  kernel_x   = {describe_kernel(self.kernel_x)}",
            f"  kernel_y   = {describe_kernel(self.kernel_y)}",
            f"  kernel_z   = {describe_kernel(self.kernel_z)}",
        ])


# --------------------------------------------------------------------------------------------
# Weighted chi-square nulls
# --------------------------------------------------------------------------------------------


def _chi2_mixture_pvalue(statistic: float, s1: float, s2: float, s3: float, null: str):
    """Upper tail of ``Σ λ_k ζ_k²`` at ``statistic`` from the power sums ``s_r = Σ λ^r``.

    Returns ``(pvalue, details)``; the details are the gamma shape and scale (``"gamma"``) or
    the χ² degrees of freedom ν (``"hbe"``).
    """
    if not (s1 > 0 and s2 > 0):
        raise ValueError(
            "The null approximation is undefined here (the weights of its chi-square mixture "
            "are all 0): z explains x or y entirely. Check for duplicated variables."
        )
    if null == "gamma":
        shape, scale = s1 * s1 / (2.0 * s2), 2.0 * s2 / s1
        return float(scipy.special.gammaincc(shape, statistic / scale)), (shape, scale)
    # Hall–Buckley–Eagleson: (T − κ1)/√κ2 ≈ (χ²_ν − ν)/√(2ν), ν = 8κ2³/κ3² = s2³/s3²
    dof = s2**3 / s3**2
    quantile = dof + (statistic - s1) * math.sqrt(dof / s2)
    return float(scipy.special.chdtrc(dof, max(quantile, 0.0))), dof


def _finish(statistic, s1, s2, s3, null, *, weights_matrix, scale, rng, n_null_samples):
    """The p-value and result fields for ``null``; ``weights_matrix / scale`` has the weights
    λ as eigenvalues (only decomposed for the simulated null)."""
    fields: dict[str, Any] = {}
    info = {"null_mean": s1, "null_variance": 2.0 * s2}
    if null == "simulated":
        # _spectral_null draws Σ_ij λ_i η_j ζ_ij² / n over the eigenvalues of its two matrices:
        # with the 1×1 identity as the second, these are draws of Σ_k λ_k ζ_k².
        draws = spectral_null(
            np.asarray(weights_matrix, dtype=np.float64), np.ones((1, 1)), scale, rng,
            n_null_samples, float(np.finfo(np.float64).eps),
        )
        fields.update(null_distribution=draws, n_null_samples=n_null_samples)
        return permutation_pvalue(draws, statistic), fields, info
    pvalue, details = _chi2_mixture_pvalue(statistic, s1, s2, s3, null)
    if null == "gamma":
        fields.update(gamma_shape=details[0], gamma_scale=details[1])
    else:
        info["hbe_dof"] = details
    return pvalue, fields, info


# --------------------------------------------------------------------------------------------
# KCI
# --------------------------------------------------------------------------------------------


def kci_bandwidth(n: int, dim_z: int) -> float:
    """The default KCI kernel width, for ẍ, y and z alike: ``w(n)·√dim_z`` (standardised data).

    ``w = 1.2`` for n < 200, ``0.7`` for n < 1200 and ``0.4`` beyond: the empirical rule of
    Zhang et al. (2011)'s code, and causal-learn's default (``est_width='empirical'``), which
    also scales all three widths with the dimension of z.

    Example:
      >>> from hsic._conditional import kci_bandwidth
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


def _kci(x, y, z, *, null, kernel_x, kernel_y, kernel_z, epsilon, rng, n_null_samples):
    n = x.shape[0]
    xx = np.concatenate([x, 0.5 * z], axis=1)
    width = kci_bandwidth(n, z.shape[1])
    kx = _fit(kernel_x, xx, "kernel_x", width)
    ky = _fit(kernel_y, y, "kernel_y", width)
    kz = _fit(kernel_z, z, "kernel_z", width)
    with precision(np.float64):
        out = _kci_core(
            kx, ky, kz, jnp.asarray(xx), jnp.asarray(y), jnp.asarray(z), epsilon,
            third=null == "hbe",
        )
        statistic, s1, s2, s3 = (float(v) for v in out[:4])
        W = out[4]
        pvalue, fields, info = _finish(
            statistic, s1, s2, s3, null, weights_matrix=W, scale=n, rng=rng,
            n_null_samples=n_null_samples,
        )
    info["epsilon"] = epsilon
    return statistic, pvalue, (kx, ky, kz), fields, info


# --------------------------------------------------------------------------------------------
# RCIT
# --------------------------------------------------------------------------------------------


#: RCIT's median heuristics look at no more than this many evenly spaced rows (Strobl et al.'s
#: code and causal-learn use the first 500).
RCIT_MEDIAN_ROWS = 500


def _cholesky_solve(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a⁻¹ b`` for a symmetric positive definite ``a`` (small): a Cholesky factor, then
    forward and back substitution one row at a time.

    XLA's CPU triangular solve takes ~10 ms for a 100 × 100 factor and a dozen right-hand
    sides, where these two loops take ~0.3 ms. A factor that is not positive definite gives NaN.
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


@jax.jit
def _rcit_core(x, y, z, omega_x, omega_y, omega_z, epsilon):
    """RCIT from the data and the frequencies, in one compiled call: the statistic, the power
    sums ``s_r = Σλ^r`` of the null weights, and the weights' matrix (for the simulated null)."""
    n = x.shape[0]
    fx, fy, fz = (
        _standardise(rff_map(a, w), jnp)
        for a, w in ((x, omega_x), (y, omega_y), (z, omega_z))
    )
    dx = fx.shape[1]
    fxy = jnp.concatenate([fx, fy], axis=1)
    dot = functools.partial(jnp.matmul, precision=jax.lax.Precision.HIGHEST)
    # Ridge regression of each x- and y-feature on the z-features (covariance form, as in
    # Strobl et al.): residuals r = f − f_z (C_zz + εI)⁻¹ C_zf.
    czz = dot(fz.T, fz) / (n - 1)
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


def _rcit(x, y, z, *, null, kernel_x, kernel_y, kernel_z, epsilon, rng, n_null_samples,
          n_features, n_features_xy, augment):
    n = x.shape[0]
    if augment:  # RCIT: y's features are of (y, z); RCoT: of y alone
        y = np.concatenate([y, z], axis=1)
    streams = rng.spawn(4)
    rows = np.linspace(0, n - 1, min(n, RCIT_MEDIAN_ROWS)).round().astype(np.int64)
    kernels, omegas = [], []
    for data, spec, name, count, stream in (
        (x, kernel_x, "kernel_x", n_features_xy, streams[0]),
        (y, kernel_y, "kernel_y", n_features_xy, streams[1]),
        (z, kernel_z, "kernel_z", n_features, streams[2]),
    ):
        spec = "gaussian" if spec is None else spec
        kernel = _kernels.get_kernel(spec, name)
        if not isinstance(kernel, _kernels.Gaussian):
            raise ValueError(
                f"`{name}` must be a Gaussian kernel for methods 'rcit' and 'rcot' (random "
                f"Fourier features); got {kernel!r}. Use method='kci' for other kernels."
            )
        kernel = _kernels.as_python_floats(kernel.fit(data[rows], name=name))
        kernels.append(kernel)
        omegas.append(rff_frequencies(stream, data.shape[1], count, kernel.bandwidth))
    with precision(np.float64):
        out = jax.device_get(_rcit_core(x, y, z, *omegas, epsilon))
    statistic, s1, s2, s3 = (float(v) for v in out[:4])
    if not np.isfinite(statistic):
        raise ValueError(
            f"The ridge regression on z's features failed (C_zz + εI is not numerically "
            f"positive definite with `epsilon`={epsilon!r}); use a larger `epsilon`."
        )
    pvalue, fields, info = _finish(
        statistic, s1, s2, s3, null, weights_matrix=out[4], scale=1, rng=streams[3],
        n_null_samples=n_null_samples,
    )
    info.update(epsilon=epsilon, n_features=n_features, n_features_xy=n_features_xy)
    return statistic, pvalue, tuple(kernels), fields, info


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _check_epsilon(value: Any, method: str) -> float:
    if value is None:
        return DEFAULT_EPSILON[method]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not (
        math.isfinite(value) and value > 0
    ):
        raise ValueError(f"`epsilon` must be a positive finite number or None; got {value!r}.")
    return float(value)


def conditional_test(
    x: ArrayLike,
    y: ArrayLike,
    z: ArrayLike,
    *,
    method: Literal["kci", "rcit", "rcot"] = "kci",
    null: Literal["gamma", "hbe", "simulated"] | None = None,
    kernel_x: str | _kernels.Kernel | None = None,
    kernel_y: str | _kernels.Kernel | None = None,
    kernel_z: str | _kernels.Kernel | None = None,
    epsilon: float | None = None,
    n_features: int = 100,
    n_features_xy: int = 6,
    n_null_samples: int = 5000,
    seed: int | Any = 0,
) -> ConditionalTestResult:
    """Test whether x and y are independent given z, with KCI, RCIT or RCoT.

    Every column of x, y and z is first standardised (mean 0, standard deviation 1).

    **KCI** (``method="kci"``, Zhang et al. 2011). With centred Gram matrices ``K̃_ẍ`` of
    ``ẍ = (x, z/2)``, ``K̃_y`` of y and ``K̃_z`` of z, and ``R = ε(K̃_z + εI)⁻¹`` (the residual
    operator of a kernel ridge regression on z), the statistic is

    ``T = tr(K̃_{ẍ|z} K̃_{y|z}) / n``, with ``K̃_{ẍ|z} = R K̃_ẍ R`` and ``K̃_{y|z} = R K̃_y R``.

    Under conditional independence ``T ≈ Σ_k λ_k ζ_k²`` where the λ_k are the eigenvalues of
    ``(K̃_{ẍ|z} ∘ K̃_{y|z})/n`` (the ``ŵŵᵀ`` of the paper, which is this entrywise product). The
    gamma null has mean ``tr(K̃_{ẍ|z} ∘ K̃_{y|z})/n`` and variance
    ``2‖K̃_{ẍ|z} ∘ K̃_{y|z}‖²_F/n²``, the paper's ``tr(ŵŵᵀ)/n²`` and ``2tr((ŵŵᵀ)²)/n⁴`` on
    the scale of ``tr(·)/n``; the moments use the centred matrices, and the gamma scale is a
    scale. These need no eigen-decomposition; ``null="simulated"`` decomposes the n × n matrix.

    *Defaults* (causal-learn's ``KCI_CInd``, so its p-values are reproduced): Gaussian kernels
    of width ``w·√dim(z)`` for ẍ, y and z alike, with ``w`` = 1.2 (n < 200), 0.7 (n < 1200)
    or 0.4 (``hsic._conditional.kci_bandwidth``), z at half weight in ẍ, and ``ε = 1e-3``
    (the authors' Matlab value). A smaller ε regresses z out more completely (fewer false
    rejections when z acts nonlinearly) but costs power. Passing a kernel (e.g.
    ``"gaussian"``, the median heuristic) overrides a width rule. The cost is O(n³) time and
    O(n²) memory (float64): use RCIT for n beyond a few thousand.

    **RCIT** (``method="rcit"``, Strobl et al. 2019). x, ÿ = (y, z) and z are mapped to random
    Fourier features of Gaussian kernels (``n_features_xy`` features for x and ÿ,
    ``n_features`` for z; see ``hsic._large_scale.rff_features``), each feature standardised.
    Their median-heuristic bandwidths look at no more than 500 evenly spaced rows
    (``round(linspace(0, n − 1, 500))``; Strobl et al.'s code and causal-learn use the first
    500 rows), so for n > 500 they differ from ``hsic.kernels.median_distance``'s 1000-row
    rule. ``method="rcot"`` (RCoT, the variant the authors recommend) uses y
    instead of ÿ; causal-learn, like us, appends z to y for RCIT. The x- and y-features are
    regressed on the z-features (ridge ``ε``, default ``1e-10`` as in Strobl's code), and the
    statistic is ``n·‖Ĉ_{xy·z}‖²_F`` with the partial cross-covariance
    ``Ĉ_{xy·z} = Ĉ_xy − Ĉ_xz (Ĉ_zz + εI)⁻¹ Ĉ_zy``. Its null weights are the eigenvalues of the
    covariance of the products of residuals. O(n·D²) time: it scales to large n.

    **Nulls** (``null``): ``"gamma"`` (two moments; KCI's default), ``"hbe"``
    (Hall–Buckley–Eagleson, three moments; RCIT's default, a documented alternative to the
    Lindsay–Pilla–Basak approximation of Strobl et al.), or ``"simulated"``
    (``n_null_samples`` draws of the weighted χ² sum).

    Args:
      x: samples of x, ``(n,)`` or ``(n, d_x)``.
      y: samples of y, with the same n.
      z: samples of the conditioning variable z, with the same n.
      method: ``"kci"``, ``"rcit"`` or ``"rcot"``.
      null: ``"gamma"``, ``"hbe"``, ``"simulated"``, or ``None`` for the method's default.
      kernel_x: ``None`` for the default, or a kernel name or
        [`Kernel`][hsic.kernels.Kernel] (fitted to the standardised data; RCIT needs a
        Gaussian). For KCI this is the kernel of ẍ = (x, z/2).
      kernel_y: the same for y (RCIT: for ÿ = (y, z)).
      kernel_z: the same for z.
      epsilon: the regulariser ε, or ``None`` for the method's default.
      n_features: RCIT's and RCoT's number of random Fourier features of z (even).
      n_features_xy: their number of features of x and of y (even).
      n_null_samples: the number of draws for ``null="simulated"``.
      seed: a non-negative int or a JAX key (RCIT's features, the simulated null). The same
        seed gives the same result. The streams are
        ``np.random.default_rng(seed).spawn(4)``: RCIT's features of x, y and z, then the
        simulated null (KCI's simulated null uses ``np.random.default_rng(seed)`` itself).

    Returns:
      A [`ConditionalTestResult`][hsic.ConditionalTestResult].

    Raises:
      ValueError: on mismatched n, n < 10, NaN or inf, a constant variable, an unknown method
        or null, a bad ``epsilon``, ``n_features`` or ``n_null_samples``.

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
      >>> hsic.conditional_test(x, y + x, z, method="rcit").pvalue < 1e-4
      True

    References:
      Zhang, Peters, Janzing, Schölkopf (2011), "Kernel-based conditional independence test and
      application in causal discovery", UAI. Strobl, Zhang, Visweswaran (2019), "Approximate
      kernel-based conditional independence tests for fast non-parametric causal discovery",
      Journal of Causal Inference 7(1). Hall (1983), "Chi squared approximations to the
      distribution of a sum of independent random variables", Annals of Probability 11.
    """
    check_choice(method, "method", METHODS)
    null = DEFAULT_NULL[method] if null is None else check_choice(null, "null", NULLS)
    epsilon = _check_epsilon(epsilon, method)
    if method != "kci":
        n_features = check_n_features(n_features)
        n_features_xy = _n_features_xy(n_features_xy)
    if null == "simulated":
        check_positive_int(n_null_samples, "n_null_samples")
    rng = as_generator(seed, "seed")
    arrays = [as_numpy_samples(data, name) for data, name in ((x, "x"), (y, "y"), (z, "z"))]
    n = arrays[0].shape[0]
    for arr, name in zip(arrays[1:], ("y", "z"), strict=True):
        if arr.shape[0] != n:
            raise ValueError(
                f"`x`, `y` and `z` must have the same number of samples (rows); `x` has {n} and "
                f"`{name}` has {arr.shape[0]}."
            )
    if n < MIN_N:
        raise ValueError(f"hsic.conditional_test needs at least {MIN_N} samples; got n={n}.")
    for arr, name in zip(arrays, "xyz", strict=True):
        if is_constant(arr):
            raise ValueError(
                f"`{name}` is constant (every row is identical): it carries no information, so "
                "conditional independence cannot be tested. Remove it."
            )
    x, y, z = (_standardise(a) for a in arrays)
    common = dict(
        null=null, kernel_x=kernel_x, kernel_y=kernel_y, kernel_z=kernel_z, epsilon=epsilon,
        rng=rng, n_null_samples=n_null_samples,
    )
    if method == "kci":
        statistic, pvalue, kernels, fields, info = _kci(x, y, z, **common)
    else:
        statistic, pvalue, kernels, fields, info = _rcit(
            x, y, z, n_features=n_features, n_features_xy=n_features_xy,
            augment=method == "rcit", **common,
        )
    return ConditionalTestResult(
        statistic=statistic, pvalue=pvalue, method=method, null=null, n=n,
        kernel_x=kernels[0], kernel_y=kernels[1], kernel_z=kernels[2],
        info=info, **{"null_distribution": None, **fields},
    )


def _n_features_xy(value: Any) -> int:
    integer = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not integer or value < 2 or value % 2:
        raise ValueError(
            "`n_features_xy` must be a positive even integer (the features come in cos/sin "
            f"pairs); got {value!r}."
        )
    return int(value)
