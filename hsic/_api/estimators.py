"""The statistics on data, ``hsic.hsic`` and ``hsic.nhsic``: validation, then dispatch to the
exact (dense or tiled, optionally sharded) or the large-scale estimators of ``hsic._stats``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import jax
import numpy as np
from jax.typing import ArrayLike

from hsic._base.devices import resolve_mesh
from hsic._base.validation import check_choice, check_options_apply, float_dtype, precision
from hsic._stats import kernels as _kernels
from hsic._stats.block import block_hsic
from hsic._stats.features import feature_hsic_api
from hsic._stats.gram import ESTIMATORS, MIN_N, centred_sums, cka, normaliser
from hsic._stats.inputs import prepare_pair

__all__ = ["hsic", "nhsic"]

#: The large-scale approximations of ``hsic.hsic``.
APPROXIMATIONS = ("block", "rff", "nystrom")

def hsic(
    x: ArrayLike,
    y: ArrayLike,
    *,
    kernel_x: str | _kernels.Kernel = "gaussian",
    kernel_y: str | _kernels.Kernel = "gaussian",
    estimator: Literal["biased", "unbiased", "block", "rff", "nystrom"] = "biased",
    algorithm: Literal["auto", "dense", "tiled"] = "auto",
    dtype: str | np.dtype | None = None,
    devices: int | jax.Device | Sequence[jax.Device] | None = None,
    mesh: jax.sharding.Mesh | None = None,
    n_features: int | None = None,
    block_size: int | None = None,
    rng: int | Any = 0,
) -> jax.Array:
    """The Hilbert–Schmidt independence criterion between samples of x and y.

    * ``"biased"``: ``HSIC_b = tr(K H L H) / n²``, ``H = I − 11ᵀ/n`` (Gretton et al. 2005).
    * ``"unbiased"``: Song et al. (2012), eq. 5, with the ``1/(n(n−3))`` factor (n >= 4).

    For large n, three approximations (Zhang et al. 2018) cost O(n) instead of O(n²); their
    errors against the exact statistics are stated in the [scaling guide](scaling.md):

    * ``"rff"``: ``HSIC_b`` of random-Fourier-feature Gram matrices (Gaussian kernels only;
      ``n_features`` = D per variable, default 100; frequencies from ``rng``). Unbiased for
      the exact ``HSIC_b`` given the data, standard deviation O(1/√D).
    * ``"nystrom"``: ``HSIC_b`` of Nyström Gram matrices (``n_features`` = m landmarks per
      variable, default ``min(100, n)``, drawn from ``rng``).
    * ``"block"``: the mean of ``"unbiased"`` over blocks of ``block_size`` consecutive rows
      (default ``⌊√n⌋``); it equals ``"unbiased"`` when ``block_size = n``.

    ``K`` and ``L`` are the Gram matrices of x and y; with the default Gaussian kernels
    ``k(a, b) = exp(−‖a − b‖²/(2σ²))`` and σ from the median heuristic, computed separately for
    each variable (see [`hsic.kernels.median_distance`][hsic.kernels.median_distance]).

    The function is differentiable with respect to ``x`` and ``y`` (the median bandwidth is held
    constant), and works under ``jax.jit`` and ``jax.vmap``.

    Args:
      x: samples of x, shape ``(n,)`` or ``(n, d_x)``; or an ``(n, n)`` Gram matrix when
        ``kernel_x="precomputed"``.
      y: samples of y, with the same ``n``.
      kernel_x: a kernel name or [`hsic.kernels.Kernel`][hsic.kernels.Kernel] for x.
      kernel_y: the same for y.
      estimator: ``"biased"`` or ``"unbiased"``.
      algorithm: ``"tiled"`` (exact, O(n) memory), ``"dense"`` (exact, materialises the
        ``n × n`` Gram matrices) or ``"auto"``: tiled, unless a kernel is precomputed.
      dtype: ``"float32"`` or ``"float64"``; by default float64 when JAX's x64 mode is on,
        float32 otherwise.
      devices: split the tiles over these devices: an int (the first k of
        ``jax.devices()``), one ``jax.Device`` (run there) or a list of them. ``None``
        (default) runs on JAX's default device. See the scaling guide.
      mesh: alternatively, a 1-D ``jax.sharding.Mesh`` to split the tiles over.
      n_features: ``"rff"``: D, an even number of features per variable; ``"nystrom"``: m,
        the number of landmarks per variable.
      block_size: ``"block"``: rows per block, from 4 to n.
      rng: ``"rff"`` and ``"nystrom"``: an int seed, a JAX key, a ``numpy.random.Generator``
        or None (fresh entropy); default 0, so that the statistic is a fixed function of the
        data.

    Returns:
      A scalar array.

    Raises:
      ValueError: on mismatched n, too few samples, NaN or inf, bad shapes, unknown names, or
        an option (``n_features``, ``block_size``, ``algorithm``) that the estimator does not
        take.

    Example:
      >>> import numpy as np, hsic
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=200)
      >>> float(hsic.hsic(x, x**2)) > float(hsic.hsic(x, rng.normal(size=200)))
      True
      >>> exact = float(hsic.hsic(x, x**2, estimator="unbiased"))
      >>> bool(np.isclose(float(hsic.hsic(x, x**2, estimator="block", block_size=200)), exact))
      True

    References:
      Gretton, Bousquet, Smola, Schölkopf (2005), "Measuring statistical dependence with
      Hilbert–Schmidt norms". Song, Smola, Gretton, Bedo, Borgwardt (2012), "Feature selection
      via dependence maximization", JMLR 13. Zhang, Filippi, Gretton, Sejdinovic (2018),
      "Large-scale kernel methods for independence testing", Statistics and Computing 28.
    """
    check_choice(estimator, "estimator", ESTIMATORS + APPROXIMATIONS)
    check_options_apply(
        "estimator", estimator, {"n_features": ("rff", "nystrom"), "block_size": ("block",)},
        n_features=n_features, block_size=block_size,
    )
    if estimator in APPROXIMATIONS:
        if algorithm != "auto":
            raise ValueError(
                f"`algorithm` applies only to the exact estimators; got algorithm={algorithm!r} "
                f"with estimator={estimator!r}."
            )
        return approximate_hsic(
            x, y, estimator, kernel_x=kernel_x, kernel_y=kernel_y, n_features=n_features,
            block_size=block_size, rng=rng, dtype=dtype,
            mesh=resolve_mesh(devices=devices, mesh=mesh),
        )
    dtype = float_dtype(dtype)
    with precision(dtype):
        x, y, kx, ky = prepare_pair(
            x, y, kernel_x, kernel_y, dtype=dtype, min_n=MIN_N[estimator],
            reason=f"The {estimator} HSIC estimator",
        )
        sums = centred_sums(
            x, y, kx, ky, estimator=estimator, algorithm=algorithm,
            mesh=resolve_mesh(devices=devices, mesh=mesh),
        )
        return sums.kl / normaliser(x.shape[0], estimator)


def nhsic(
    x: ArrayLike,
    y: ArrayLike,
    *,
    kernel_x: str | _kernels.Kernel = "gaussian",
    kernel_y: str | _kernels.Kernel = "gaussian",
    algorithm: Literal["auto", "dense", "tiled"] = "auto",
    dtype: str | np.dtype | None = None,
    devices: int | jax.Device | Sequence[jax.Device] | None = None,
    mesh: jax.sharding.Mesh | None = None,
) -> jax.Array:
    """Normalised HSIC (centred kernel alignment, CKA), in [0, 1].

    ``nHSIC = HSIC_b(K, L) / sqrt(HSIC_b(K, K) · HSIC_b(L, L))``. It is 1 when the centred Gram
    matrices are proportional (e.g. ``y = x``), and 0 when a variable is constant (with a
    warning).

    Args:
      x: samples of x, shape ``(n,)`` or ``(n, d_x)``; or an ``(n, n)`` Gram matrix when
        ``kernel_x="precomputed"``.
      y: samples of y, with the same ``n``.
      kernel_x: a kernel name or [`Kernel`][hsic.kernels.Kernel] for x.
      kernel_y: the same for y.
      algorithm: ``"dense"``, ``"tiled"`` (exact, O(n) memory) or ``"auto"``, as in
        [`hsic`][hsic.hsic].
      dtype: ``"float32"`` or ``"float64"``; by default float64 when JAX's x64 mode is on.
      devices: split the tiles over these devices: an int (the first k of
        ``jax.devices()``), one ``jax.Device`` (run there) or a list of them. ``None``
        (default) runs on JAX's default device. See the scaling guide.
      mesh: alternatively, a 1-D ``jax.sharding.Mesh`` to split the tiles over.

    Returns:
      A scalar array in [0, 1].

    Example:
      >>> import numpy as np, hsic
      >>> x = np.random.default_rng(0).normal(size=(100, 3))
      >>> round(float(hsic.nhsic(x, x)), 5)
      1.0

    References:
      Cortes, Mohri, Rostamizadeh (2012), "Algorithms for learning kernels based on centered
      alignment", JMLR 13. Kornblith et al. (2019), "Similarity of neural network
      representations revisited", ICML.
    """
    dtype = float_dtype(dtype)
    with precision(dtype):
        x, y, kx, ky = prepare_pair(
            x, y, kernel_x, kernel_y, dtype=dtype, min_n=2, reason="nhsic"
        )
        sums = centred_sums(
            x, y, kx, ky, estimator="biased", algorithm=algorithm,
            mesh=resolve_mesh(devices=devices, mesh=mesh),
        )
        return cka(sums.kl, sums.kk, sums.ll)


def approximate_hsic(x, y, estimator: str, *, kernel_x, kernel_y, n_features, block_size, rng,
                     dtype, mesh) -> jax.Array:
    """The large-scale estimators of ``hsic.hsic`` (``estimator`` = ``"block"``, ``"rff"``
    or ``"nystrom"``; see there), on one device or split over ``mesh``'s."""
    if estimator == "block":
        return block_hsic(
            x, y, block_size=block_size, kernel_x=kernel_x, kernel_y=kernel_y, dtype=dtype,
            mesh=mesh,
        )
    if n_features is None:  # Nyström: min(100, n) landmarks (n as given; checked later)
        shape = np.shape(x)
        n_features = min(100, shape[0]) if estimator == "nystrom" and shape else 100
    return feature_hsic_api(
        x, y, estimator, kernel_x, kernel_y, n_features, rng, dtype, mesh=mesh
    )
