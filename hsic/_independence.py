"""The independence test ``hsic.test`` and its result object."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import jax
import numpy as np
from jax.typing import ArrayLike

from hsic import kernels as _kernels
from hsic._aggregated import aggregated_null
from hsic._estimators import _precision, _resolve_mesh, centred_sums, prepare_pair
from hsic._nulls import (
    as_generator,
    centred_grams,
    gamma_null,
    permutation_null,
    permutation_pvalue,
)
from hsic._sharding import sharded_permutation_null
from hsic._validation import (
    check_choice,
    check_fits_in_memory,
    check_positive_int,
    float_dtype,
)
from hsic._wild_bootstrap import DEFAULT_LENGTH, wild_bootstrap_null

__all__ = ["HSICTestResult", "test", "METHODS"]

METHODS = ("permutation", "gamma", "aggregated", "wild_bootstrap")
#: Smallest n each method accepts.
MIN_N = {"permutation": 5, "gamma": 6, "aggregated": 5, "wild_bootstrap": 5}


def _bandwidth(kernel: _kernels.Kernel) -> float | None:
    value = getattr(kernel, "bandwidth", None)
    return None if value is None else float(value)


@dataclasses.dataclass(frozen=True, repr=False)
class HSICTestResult:
    """Result of an HSIC independence test.

    Attributes:
      statistic: the observed biased statistic ``HSIC_b = tr(KHLH)/n²``.
      pvalue: the p-value of the null hypothesis "x and y are independent".
      null_distribution: ``HSIC_b`` of each permuted sample (``method="permutation"``; for
        ``"aggregated"``, of the most significant bandwidth pair), of each wild bootstrap
        replicate (``"wild_bootstrap"``), or ``None`` (``method="gamma"``).
      method: ``"permutation"``, ``"gamma"``, ``"aggregated"`` or ``"wild_bootstrap"``.
      n: the number of samples.
      kernel_x: the fitted kernel of x (its bandwidth is the one actually used).
      kernel_y: the fitted kernel of y.
      n_permutations: B, or ``None`` for the gamma method.
      gamma_shape: shape of the gamma law approximating the null of ``statistic`` (gamma only).
      gamma_scale: scale of that law (gamma only). ``n·statistic`` has scale
        ``n·gamma_scale``, as in Gretton et al. (2008).
      info: method-specific details (plain JSON-serialisable values), empty for the
        permutation and gamma methods.
    """

    statistic: float
    pvalue: float
    null_distribution: np.ndarray | None
    method: str
    n: int
    kernel_x: _kernels.Kernel
    kernel_y: _kernels.Kernel
    n_permutations: int | None = None
    gamma_shape: float | None = None
    gamma_scale: float | None = None
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def bandwidth_x(self) -> float | None:
        """The bandwidth used for x, or ``None`` for kernels without one."""
        return _bandwidth(self.kernel_x)

    @property
    def bandwidth_y(self) -> float | None:
        """The bandwidth used for y, or ``None`` for kernels without one."""
        return _bandwidth(self.kernel_y)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Draw the null law and the observed statistic: ``hsic.plot.null_distribution(self)``.

        See [`hsic.plot.null_distribution`][hsic.plot.null_distribution] (needs matplotlib:
        ``pip install "hsic[plot]"``).
        """
        from hsic import plot

        return plot.null_distribution(self, ax=ax, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary (without the null distribution)."""
        return {
            "statistic": self.statistic,
            "pvalue": self.pvalue,
            "method": self.method,
            "n": self.n,
            "n_permutations": self.n_permutations,
            "kernel_x": _kernels.kernel_params(self.kernel_x),
            "kernel_y": _kernels.kernel_params(self.kernel_y),
            "gamma_shape": self.gamma_shape,
            "gamma_scale": self.gamma_scale,
            "info": dict(self.info),
        }

    def __repr__(self) -> str:
        if self.method == "wild_bootstrap":
            detail = f"{self.n_permutations} bootstrap samples"
        elif self.gamma_shape is None:
            detail = f"{self.n_permutations} permutations"
        else:
            detail = f"shape={self.gamma_shape:.4g}, scale={self.gamma_scale:.4g}"
        lines = [
            f"HSICTestResult(method={self.method!r}, {detail})",
            f"  n          = {self.n}",
            f"  statistic  = {self.statistic:.6g}   (biased HSIC)",
            f"  pvalue     = {self.pvalue:.4g}",
            f"  kernel_x   = {_describe(self.kernel_x)}",
            f"  kernel_y   = {_describe(self.kernel_y)}",
        ]
        return "\n".join(lines)


def _describe(kernel: _kernels.Kernel) -> str:
    params = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in _kernels.kernel_params(kernel).items()
        if k not in ("name", "factor")
    )
    return f"{type(kernel).__name__}({params})"


def test(
    x: ArrayLike,
    y: ArrayLike,
    *,
    method: Literal["permutation", "gamma", "aggregated", "wild_bootstrap"] = "permutation",
    n_permutations: int = 1000,
    kernel_x: str | _kernels.Kernel = "gaussian",
    kernel_y: str | _kernels.Kernel = "gaussian",
    seed: int | Any = 0,
    batch_size: int = 250,
    progress: bool = False,
    dtype: str | np.dtype | None = None,
    devices: int | Sequence[jax.Device] | None = None,
    mesh: jax.sharding.Mesh | None = None,
    alpha: float = 0.05,
    bandwidth_factors: Sequence[float] | None = None,
    weights: ArrayLike | None = None,
    n_permutations_level: int | None = None,
    wild_bootstrap_length: float = DEFAULT_LENGTH,
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
      replicates ``Σ W̃_i W̃_j K̄_ij L̄_ij / n²``, ``W̃`` a centred AR(1) multiplier process.
      Permutations would break the serial dependence and over-reject. See the module
      ``hsic._wild_bootstrap``.

    Nothing switches method on its own: you choose.

    Args:
      x: samples of x, ``(n,)`` or ``(n, d_x)``; a list, NumPy, pandas or JAX array.
      y: samples of y, with the same n.
      method: ``"permutation"``, ``"gamma"``, ``"aggregated"`` or ``"wild_bootstrap"``.
      n_permutations: B, for the permutation method; B₁ (the shared permutations) for
        ``"aggregated"``, which should be well above ``(number of bandwidth pairs)/alpha``
        (500 for the default grid); the number of bootstrap replicates for
        ``"wild_bootstrap"``.
      kernel_x: a kernel name or [`Kernel`][hsic.kernels.Kernel]; default Gaussian with the
        median heuristic computed on x alone.
      kernel_y: the same for y.
      seed: a non-negative int or a JAX key. The same seed gives the same result.
      batch_size: permutations per device call (memory and progress granularity only).
      progress: show a progress bar over permutations.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.
      devices: run on several devices: an int (the first k of ``jax.devices()``) or a list of
        ``jax.Device``. The gamma test splits its tiles over them, the permutation test its
        permutations; the result is the same as on one device. ``None``: the default device.
      mesh: alternatively, a 1-D ``jax.sharding.Mesh``.
      alpha: ``method="aggregated"`` only: the level of the reported decision
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
        the AR(1) multiplier process ``corr(W_s, W_t) = e^{−|s−t|/ℓ}``; default 20.

    Returns:
      The test result, an [`HSICTestResult`][hsic.HSICTestResult].

    Raises:
      ValueError: on mismatched n, too few samples, NaN or inf, a constant variable, bad
        shapes or names, ``n_permutations < 1``, or n too large for memory.

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

    References:
      Gretton, Fukumizu, Teo, Song, Schölkopf, Smola (2008), "A kernel statistical test of
      independence", NIPS 20. Phipson & Smyth (2010), "Permutation p-values should never be
      zero", SAGMB 9. Schrab, Kim, Guedj, Gretton (2022), "Efficient aggregated kernel
      tests using incomplete U-statistics", NeurIPS 35 (HSICAgg). Chwialkowski, Sejdinovic,
      Gretton (2014), "A wild bootstrap for degenerate kernel tests", NIPS 27.
    """
    check_choice(method, "method", METHODS)
    if method in ("aggregated", "wild_bootstrap") and (devices is not None or mesh is not None):
        raise ValueError(f"`devices`/`mesh` are not supported by method={method!r}; drop them.")
    if method == "permutation":
        check_positive_int(n_permutations, "n_permutations")
        check_positive_int(batch_size, "batch_size")
    rng = as_generator(seed)
    device_mesh = _resolve_mesh(devices, mesh)
    dtype = float_dtype(dtype)
    with _precision(dtype):
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
                weights=weights, alpha=alpha, batch_size=batch_size, progress=progress,
            )})
        if method == "wild_bootstrap":
            return HSICTestResult(**common, **wild_bootstrap_null(
                x, y, kx, ky, rng, n_bootstrap=n_permutations, length=wild_bootstrap_length,
                batch_size=batch_size,
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
            instead="Use method='gamma', which needs O(n) memory, or test a random subsample "
            "of the rows.",
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


