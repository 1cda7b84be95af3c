"""Large-scale HSIC: random Fourier features, Nyström features and block HSIC, with their tests.

This module owns the approximate estimators and tests of Zhang, Filippi, Gretton and Sejdinovic
(2018), for sample sizes where even the O(n)-memory exact statistic (O(n²) time) is too slow:

* **Feature methods.** Each variable is mapped to ``D`` explicit features whose inner products
  approximate its kernel, ``Φ Φᵀ ≈ K``: random Fourier features (``rff_features``) for the
  Gaussian kernel, or Nyström features (``nystrom_features``) for any kernel. The statistic is
  the biased HSIC of the approximate Gram matrices, ``‖Φ̃ᵀΨ̃‖²_F / n²`` with column-centred
  features (``feature_hsic``, ``hsic_rff``, ``hsic_nystrom``): O(n·D_x·D_y) time and
  O(n·D) memory, nothing ``n × n``. ``feature_test`` calibrates it by permuting rows of
  ``Ψ̃``, or with the spectral (weighted chi-square) null of the paper.
* **Block HSIC** (``block_hsic``, ``block_test``). The sample is cut into blocks of ``B``
  consecutive rows, the unbiased HSIC is computed within each block and averaged: O(n·B) time
  and O(B²) memory. Under independence the average is asymptotically normal.

Randomness (frequencies, landmarks, permutations, null draws) comes only from ``seed``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jax.typing import ArrayLike

from hsic._base.rng import as_generator
from hsic._base.validation import (
    as_samples,
    check_choice,
    check_positive_int,
    float_dtype,
    precision,
)
from hsic._estimators import centre, prepare_pair
from hsic._nulls import permutation_pvalue, run_permutation_batches
from hsic._result import HSICTestResult
from hsic._stats import kernels as _kernels

__all__ = [
    "FEATURES",
    "NULLS",
    "block_hsic",
    "block_test",
    "feature_hsic",
    "feature_test",
    "hsic_nystrom",
    "hsic_rff",
    "nystrom_features",
    "rff_features",
]

FEATURES = ("rff", "nystrom")
"""The feature maps of [`feature_test`][hsic._large_scale.feature_test]."""
NULLS = ("spectral", "permutation")
"""The null distributions of [`feature_test`][hsic._large_scale.feature_test]."""

#: Rows per chunk when the centred feature products are accumulated (memory O(chunk · D)).
CHUNK_ROWS = 65536
#: Permutation indices held per device call in the feature permutation null.
PERMUTATION_ENTRIES = 2**22
#: Gram entries per batch of blocks in block HSIC.
BLOCK_ENTRIES = 2**20
#: Normal draws per chunk of the spectral null.
SPECTRAL_ENTRIES = 2**22

_HIGHEST = jax.lax.Precision.HIGHEST


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _check_n_features(value: Any) -> int:
    integer = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not integer or value < 2 or value % 2:
        raise ValueError(
            "`n_features` must be a positive even integer (the features come in cos/sin pairs); "
            f"got {value!r}."
        )
    return int(value)


def _check_at_most_n(value: int, name: str, n: int) -> None:
    if value > n:
        raise ValueError(
            f"`{name}` must be at most n = {n} (the number of samples); got {value}. "
            "Use fewer landmarks."
        )


def _check_block_size(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 4:
        raise ValueError(f"`block_size` must be an integer >= 4, or None; got {value!r}.")
    return int(value)


def _resolve_block_size(block_size: int | None, n: int) -> int:
    """The default ``B = max(4, ⌊√n⌋)``; a given ``B`` must be at most n."""
    if block_size is None:
        return max(4, math.isqrt(n))
    if block_size > n:
        raise ValueError(
            f"`block_size` must be at most n = {n} (the number of samples); got {block_size}."
        )
    return block_size


def _gaussian_kernel(spec: Any, name: str) -> _kernels.Gaussian:
    """A Gaussian kernel from a name, a kernel object or a bandwidth (a positive number)."""
    if isinstance(spec, (int, float, np.integer, np.floating)) and not isinstance(spec, bool):
        return _kernels.Gaussian(bandwidth=float(spec))
    kernel = _kernels.get_kernel(spec, name)
    if not isinstance(kernel, _kernels.Gaussian):
        raise ValueError(
            f"`{name}` must be a Gaussian kernel for random Fourier features; got {kernel!r}. "
            "Use Nyström features (features='nystrom') for other kernels."
        )
    return kernel


def _cross_kernel(spec: Any, name: str, what: str) -> _kernels.Kernel:
    """A kernel that can evaluate cross Gram matrices ``k(a_i, b_j)`` (not 'precomputed')."""
    kernel = _kernels.get_kernel(spec, name)
    if not kernel.supports_cross:
        raise ValueError(
            f"`{name}`='precomputed' cannot be used with {what}, which evaluates the kernel on "
            "new pairs of points; pass the data and a kernel such as 'gaussian' instead."
        )
    return kernel


def _features_rng(seed: Any) -> tuple[np.random.Generator, ...]:
    """Three independent streams from ``seed``: x's features, y's features, the null."""
    return tuple(as_generator(seed, "seed").spawn(3))


# --------------------------------------------------------------------------------------------
# Feature maps
# --------------------------------------------------------------------------------------------


def _rff_frequencies(rng: np.random.Generator, d: int, n_features: int, bandwidth) -> np.ndarray:
    """``ω = Z/σ`` with ``Z = rng.standard_normal((d, n_features/2))``, in float64."""
    return rng.standard_normal((d, n_features // 2)) / float(bandwidth)


@jax.jit
def _rff_map(x: jax.Array, omega: jax.Array) -> jax.Array:
    """``sqrt(2/D)·[cos((x − x̄)ω), sin((x − x̄)ω)]`` (the shift leaves ``ΦΦᵀ`` unchanged and
    keeps the arguments of cos and sin small, for float32 accuracy)."""
    proj = jnp.matmul(x - jnp.mean(x, axis=0), omega.astype(x.dtype), precision=_HIGHEST)
    scale = jnp.asarray(math.sqrt(1.0 / omega.shape[1]), x.dtype)
    return scale * jnp.concatenate([jnp.cos(proj), jnp.sin(proj)], axis=1)


@jax.jit
def _landmark_gram(kernel: _kernels.Kernel, landmarks: jax.Array) -> jax.Array:
    k_mm = kernel.gram(landmarks)
    return 0.5 * (k_mm + k_mm.T)


@jax.jit
def _nystrom_map(kernel: _kernels.Kernel, x: jax.Array, landmarks: jax.Array, w: jax.Array):
    """``Φ = K_nm W``, computed on the device."""
    return jnp.matmul(kernel.gram(x, landmarks), w, precision=_HIGHEST)


def _nystrom_whitening(k_mm: np.ndarray, eps: float) -> np.ndarray:
    """``W = U Λ₊^{-1/2}`` from ``K_mm = U Λ Uᵀ`` (float64, on the host: an ``m × m`` problem
    with nothing to compile); eigenvalues ``λ ≤ m·eps·λ_max`` get a zero column."""
    eigenvalues, vectors = np.linalg.eigh(np.asarray(k_mm, dtype=np.float64))
    tol = len(eigenvalues) * eps * max(float(eigenvalues.max()), 0.0)
    keep = eigenvalues > tol
    inv_sqrt = np.where(keep, 1.0 / np.sqrt(np.where(keep, eigenvalues, 1.0)), 0.0)
    return vectors * inv_sqrt[None, :]


def _rff(x: jax.Array, kernel: _kernels.Gaussian, n_features: int, rng) -> jax.Array:
    omega = _rff_frequencies(rng, x.shape[1], n_features, kernel.bandwidth)
    return _rff_map(x, jnp.asarray(omega, dtype=x.dtype))


def _nystrom(x: jax.Array, kernel: _kernels.Kernel, n_landmarks: int, rng) -> jax.Array:
    rows = rng.choice(x.shape[0], size=n_landmarks, replace=False)
    landmarks = x[jnp.asarray(rows)]
    eps = float(jnp.finfo(x.dtype).eps)
    w = _nystrom_whitening(np.asarray(_landmark_gram(kernel, landmarks)), eps)
    return _nystrom_map(kernel, x, landmarks, jnp.asarray(w, dtype=x.dtype))


def rff_features(
    x: ArrayLike,
    *,
    kernel: str | _kernels.Gaussian | float = "gaussian",
    n_features: int = 100,
    seed: int | Any = 0,
    dtype: str | np.dtype | None = None,
) -> jax.Array:
    """Random Fourier features of the Gaussian kernel (Rahimi & Recht 2007).

    For ``k(a, b) = exp(−‖a − b‖²/(2σ²))`` and ``D = n_features``, draw ``D/2`` frequencies
    ``ω_k ~ N(0, I/σ²)`` and map

    ``φ(a) = sqrt(2/D) · [cos(ω_1ᵀa), …, cos(ω_{D/2}ᵀa), sin(ω_1ᵀa), …, sin(ω_{D/2}ᵀa)]``.

    Then ``φ(a)ᵀφ(b) = (2/D) Σ_k cos(ω_kᵀ(a − b))`` is an unbiased estimate of ``k(a, b)``
    with variance ``(1 − k(a, b)²)² / D``, and ``φ(a)ᵀφ(a) = 1`` exactly. The data are shifted
    by their mean first (``Φ Φᵀ`` does not change; the arguments of cos and sin stay small).

    The frequencies are ``rng.standard_normal((d, D/2)) / σ`` in float64, with
    ``rng = np.random.default_rng(seed)`` for an int ``seed`` (see
    ``hsic._base.rng.as_generator`` for JAX keys; a NumPy Generator is used as is).

    Args:
      x: samples, ``(n,)`` or ``(n, d)``.
      kernel: ``"gaussian"`` (median heuristic on ``x``), an
        [`hsic.kernels.Gaussian`][hsic.kernels.Gaussian], or a bandwidth σ > 0.
      n_features: ``D``, a positive even integer.
      seed: a non-negative int, a JAX key, or a ``numpy.random.Generator``.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.

    Returns:
      The ``(n, D)`` feature matrix ``Φ``, with ``Φ Φᵀ ≈ K``.

    Raises:
      ValueError: if ``kernel`` is not Gaussian, ``n_features`` is not a positive even
        integer, or ``x`` or ``seed`` is invalid.

    Example:
      >>> import numpy as np
      >>> from hsic._large_scale import rff_features
      >>> x = np.random.default_rng(0).normal(size=(50, 2))
      >>> phi = rff_features(x, kernel=1.0, n_features=2000, seed=0)
      >>> phi.shape
      (50, 2000)
      >>> K = np.exp(-((x[:, None] - x[None]) ** 2).sum(-1) / 2)
      >>> bool(np.abs(np.asarray(phi @ phi.T) - K).max() < 0.15)
      True

    References:
      Rahimi & Recht (2007), "Random features for large-scale kernel machines", NIPS 20.
      Zhang, Filippi, Gretton, Sejdinovic (2018), "Large-scale kernel methods for independence
      testing", Statistics and Computing 28.
    """
    kernel = _gaussian_kernel(kernel, "kernel")
    n_features = _check_n_features(n_features)
    rng = as_generator(seed, "seed")
    dtype = float_dtype(dtype)
    with precision(dtype):
        x = as_samples(x, "x", dtype=dtype)
        return _rff(x, kernel.fit(x, name="x"), n_features, rng)


def nystrom_features(
    x: ArrayLike,
    *,
    kernel: str | _kernels.Kernel = "gaussian",
    n_landmarks: int = 100,
    seed: int | Any = 0,
    dtype: str | np.dtype | None = None,
) -> jax.Array:
    """Nyström features of any kernel (Williams & Seeger 2001).

    ``m = n_landmarks`` rows of ``x`` are chosen as landmarks, uniformly without replacement
    (``rng.choice(n, m, replace=False)`` with ``rng`` from ``seed``). With ``K_nm`` the kernel
    between the samples and the landmarks and ``K_mm = U Λ Uᵀ`` the landmarks' Gram matrix,

    ``Φ = K_nm U Λ₊^{-1/2}``,  so that  ``Φ Φᵀ = K_nm K_mm⁺ K_mn``,

    the Nyström approximation of ``K``. **Clipping rule:** eigenvalues
    ``λ ≤ m · eps · λ_max`` (``eps`` of the dtype, as in NumPy's rank tolerance; the ``m × m``
    eigendecomposition itself is done in float64 on the host) are treated as zero, i.e.
    ``K_mm⁺`` is a pseudo-inverse and the columns for those directions are zero (so ``Φ``
    always has ``m`` columns). ``Φ Φᵀ ⪯ K``, and ``K − Φ Φᵀ`` is the error of projecting
    the feature map on the landmarks' span: it is 0 when the landmarks span the data's
    features (e.g. the linear kernel, or ``m = n``).

    Args:
      x: samples, ``(n,)`` or ``(n, d)``.
      kernel: a kernel name or [`hsic.kernels.Kernel`][hsic.kernels.Kernel] (not
        ``"precomputed"``), fitted on ``x`` (median heuristic) if needed.
      n_landmarks: ``m``, from 1 to n.
      seed: a non-negative int, a JAX key, or a ``numpy.random.Generator``.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.

    Returns:
      The ``(n, m)`` feature matrix ``Φ``.

    Raises:
      ValueError: if ``n_landmarks`` is not an integer in [1, n], ``kernel`` is
        ``"precomputed"`` or unknown, or ``x`` or ``seed`` is invalid.

    Example:
      >>> import numpy as np
      >>> from hsic._large_scale import nystrom_features
      >>> x = np.random.default_rng(0).normal(size=(50, 2))
      >>> phi = nystrom_features(x, kernel="linear", n_landmarks=5, seed=0)
      >>> bool(np.allclose(phi @ phi.T, x @ x.T, atol=1e-4))   # rank 2: exact
      True

    References:
      Williams & Seeger (2001), "Using the Nyström method to speed up kernel machines",
      NIPS 13. Zhang, Filippi, Gretton, Sejdinovic (2018), "Large-scale kernel methods for
      independence testing", Statistics and Computing 28.
    """
    kernel = _cross_kernel(kernel, "kernel", "Nyström features")
    n_landmarks = check_positive_int(n_landmarks, "n_landmarks")
    rng = as_generator(seed, "seed")
    dtype = float_dtype(dtype)
    with precision(dtype):
        x = as_samples(x, "x", dtype=dtype)
        _check_at_most_n(n_landmarks, "n_landmarks", x.shape[0])
        return _nystrom(x, kernel.fit(x, name="x"), n_landmarks, rng)


# --------------------------------------------------------------------------------------------
# Feature statistic
# --------------------------------------------------------------------------------------------


def _chunk_rows(n: int) -> int:
    return min(CHUNK_ROWS, n)


def _local_feature_sums(phi, psi, *, n: int, valid, rows: int, covariances: bool,
                        reduce=lambda a: a, vary=lambda a: a):
    """The two passes of ``_feature_sums`` over this device's rows (the first ``valid``).

    Pass 1 adds chunk column sums (so float32 does not drift with n) and ``reduce``s them
    over devices; pass 2 adds the centred products ``Σ_chunks (Φ_c − μ)ᵀ(Ψ_c − ν)`` of the
    valid rows, reduced likewise. ``n`` is the total row count over all devices; ``vary``
    marks the loops' zero accumulators as per-device values inside ``shard_map``.
    """
    local_n = phi.shape[0]
    n_full = local_n // rows
    tail = n_full * rows  # the first row after the last full chunk

    def chunk(a, i):
        return jax.lax.dynamic_slice_in_dim(a, i * rows, rows)

    def add_sums(i, acc):
        return acc[0] + jnp.sum(chunk(phi, i), axis=0), acc[1] + jnp.sum(chunk(psi, i), axis=0)

    zeros = (vary(jnp.zeros(phi.shape[1], phi.dtype)), vary(jnp.zeros(psi.shape[1], psi.dtype)))
    sum_phi, sum_psi = jax.lax.fori_loop(0, n_full, add_sums, zeros)
    if tail < local_n:
        sum_phi = sum_phi + jnp.sum(phi[tail:], axis=0)
        sum_psi = sum_psi + jnp.sum(psi[tail:], axis=0)
    mu, nu = reduce(sum_phi) / n, reduce(sum_psi) / n

    def products(a, b, first_row):
        keep = (first_row + jnp.arange(a.shape[0]) < valid)[:, None]
        a, b = jnp.where(keep, a - mu, 0), jnp.where(keep, b - nu, 0)
        out = (jnp.matmul(a.T, b, precision=_HIGHEST),)
        if covariances:
            out += (
                jnp.matmul(a.T, a, precision=_HIGHEST),
                jnp.matmul(b.T, b, precision=_HIGHEST),
            )
        return out

    def add(acc, new):
        return tuple(s + p for s, p in zip(acc, new, strict=True))

    def add_products(i, acc):
        return add(acc, products(chunk(phi, i), chunk(psi, i), i * rows))

    dx, dy = phi.shape[1], psi.shape[1]
    shapes = [(dx, dy)] + ([(dx, dx), (dy, dy)] if covariances else [])
    acc = jax.lax.fori_loop(
        0, n_full, add_products, tuple(vary(jnp.zeros(s, phi.dtype)) for s in shapes)
    )
    if tail < local_n:
        acc = add(acc, products(phi[tail:], psi[tail:], tail))
    acc = tuple(reduce(a) for a in acc)
    statistic = jnp.sum(acc[0] * acc[0]) / (float(n) * float(n))
    if covariances:
        return statistic, acc[1] / n, acc[2] / n
    return statistic, None, None


@functools.partial(jax.jit, static_argnames=("rows", "covariances"))
def _feature_sums(phi: jax.Array, psi: jax.Array, *, rows: int, covariances: bool):
    """``(‖Φ̃ᵀΨ̃‖²_F / n², Φ̃ᵀΦ̃/n, Ψ̃ᵀΨ̃/n)``, streaming over ``rows``-row chunks.

    Two passes (``_local_feature_sums``): column sums, then centred products. Nothing larger
    than a chunk is created. The covariances are ``None`` unless ``covariances``.
    """
    n = phi.shape[0]
    return _local_feature_sums(phi, psi, n=n, valid=n, rows=rows, covariances=covariances)


@functools.partial(jax.jit, static_argnames=("rows", "covariances", "mesh"))
def _sharded_feature_sums(phi, psi, *, rows: int, covariances: bool, mesh):
    """``_feature_sums`` with the rows split over the devices of ``mesh``.

    The rows are zero-padded to a multiple of the device count; each device runs the two
    passes on its own rows (masking the padding) and the sums are added with ``psum``.
    """
    axis = mesh.axis_names[0]
    n = phi.shape[0]
    per_device = -(-n // mesh.size)
    pad = per_device * mesh.size - n
    phi, psi = (jnp.pad(a, ((0, pad), (0, 0))) for a in (phi, psi))

    def local(phi, psi):
        valid = n - jax.lax.axis_index(axis) * per_device
        out = _local_feature_sums(
            phi, psi, n=n, valid=valid, rows=min(rows, per_device), covariances=covariances,
            reduce=lambda a: jax.lax.psum(a, axis),
            vary=lambda a: jax.lax.pcast(a, (axis,), to="varying"),
        )
        return tuple(o for o in out if o is not None)

    specs = (P(axis), P(axis))
    out = jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=P())(phi, psi)
    return (*out, None, None) if not covariances else out


def _sums(phi, psi, *, covariances: bool, mesh=None):
    """``_feature_sums`` on one device, or split over ``mesh``'s devices."""
    rows = _chunk_rows(phi.shape[0])
    if mesh is None:
        return _feature_sums(phi, psi, rows=rows, covariances=covariances)
    phi, psi = jax.device_put((phi, psi), NamedSharding(mesh, P()))
    return _sharded_feature_sums(phi, psi, rows=rows, covariances=covariances, mesh=mesh)


def _statistic(phi: jax.Array, psi: jax.Array, mesh=None) -> jax.Array:
    return _sums(phi, psi, covariances=False, mesh=mesh)[0]


def feature_hsic(
    phi: ArrayLike, psi: ArrayLike, *, dtype: str | np.dtype | None = None
) -> jax.Array:
    """Biased HSIC of explicit feature maps: ``‖Φ̃ᵀΨ̃‖²_F / n²``.

    With ``Φ̃ = HΦ`` and ``Ψ̃ = HΨ`` the column-centred features (``H = I − 11ᵀ/n``),

    ``‖Φ̃ᵀΨ̃‖²_F / n² = tr(ΦΦᵀ H ΨΨᵀ H) / n² = HSIC_b(ΦΦᵀ, ΨΨᵀ)``,

    the biased HSIC of the Gram matrices ``ΦΦᵀ`` and ``ΨΨᵀ``, computed in O(n·D_x·D_y) time
    and O(n·(D_x + D_y)) memory (streaming over chunks of rows; the result does not depend on
    the chunk size).

    Args:
      phi: features of x, ``(n, D_x)``.
      psi: features of y, ``(n, D_y)``.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.

    Returns:
      A scalar array.

    Example:
      >>> import numpy as np
      >>> from hsic._large_scale import feature_hsic
      >>> x = np.array([[0.0], [1.0]])
      >>> feature_hsic(x, 2 * x)        # centred: ±1/2 and ±1, so (1/2 + 1/2)² / n²
      Array(0.25, dtype=float32)

    References:
      Zhang, Filippi, Gretton, Sejdinovic (2018), "Large-scale kernel methods for independence
      testing", Statistics and Computing 28, Sect. 3.
    """
    dtype = float_dtype(dtype)
    with precision(dtype):
        phi = as_samples(phi, "phi", dtype=dtype)
        psi = as_samples(psi, "psi", dtype=dtype)
        if phi.shape[0] != psi.shape[0]:
            raise ValueError(
                "`phi` and `psi` must have the same number of rows (samples); "
                f"got {phi.shape[0]} and {psi.shape[0]}."
            )
        if phi.shape[0] < 2:
            raise ValueError(f"feature_hsic needs at least 2 samples; got n={phi.shape[0]}.")
        return _statistic(phi, psi)


def _feature_pair(x, y, kx, ky, features: str, n_features: int, gx, gy):
    if features == "rff":
        return _rff(x, kx, n_features, gx), _rff(y, ky, n_features, gy)
    return _nystrom(x, kx, n_features, gx), _nystrom(y, ky, n_features, gy)


def _prepare_features(x, y, kernel_x, kernel_y, features, n_features, dtype, *, min_n, reason,
                      constant, count_name="n_features"):
    """Validate, fit the kernels and check the feature count (the argument ``count_name``):
    shared by the feature APIs."""
    if features == "rff":
        n_features = _check_n_features(n_features)
        kx, ky = _gaussian_kernel(kernel_x, "kernel_x"), _gaussian_kernel(kernel_y, "kernel_y")
    else:
        n_features = check_positive_int(n_features, count_name)
        kx = _cross_kernel(kernel_x, "kernel_x", "Nyström features")
        ky = _cross_kernel(kernel_y, "kernel_y", "Nyström features")
    x, y, kx, ky = prepare_pair(
        x, y, kx, ky, dtype=dtype, min_n=min_n, reason=reason, constant=constant
    )
    if features == "nystrom":
        _check_at_most_n(n_features, count_name, x.shape[0])
    return x, y, kx, ky, n_features


def hsic_rff(
    x: ArrayLike,
    y: ArrayLike,
    *,
    kernel_x: str | _kernels.Gaussian | float = "gaussian",
    kernel_y: str | _kernels.Gaussian | float = "gaussian",
    n_features: int = 100,
    seed: int | Any = 0,
    dtype: str | np.dtype | None = None,
) -> jax.Array:
    """HSIC with random Fourier features: ``‖Φ̃ᵀΨ̃‖²_F / n²`` (Zhang et al. 2018, Sect. 3.3).

    ``Φ`` and ``Ψ`` are [`rff_features`][hsic._large_scale.rff_features] of x and y with
    independent frequencies (x's from the first, y's from the second of ``rng.spawn(3)``,
    ``rng`` from ``seed``), so the statistic is ``HSIC_b(K̂, L̂)`` with ``K̂ = ΦΦᵀ``, ``L̂ = ΨΨᵀ``.

    **Error against the exact statistic.** ``HSIC_b`` is bilinear in ``(K, L)``, and ``K̂``,
    ``L̂`` are independent and unbiased for ``K``, ``L``; so, given the data, the RFF statistic
    is an *unbiased* estimate of the exact ``HSIC_b(K, L)`` (``hsic.hsic(x, y)`` with the
    same bandwidths), with a standard deviation of order ``1/√D`` (each entry of ``K̂`` has
    variance ``(1 − k²)²/D``). Cost O(n·D²) time, O(n·D) memory.

    Args:
      x: samples of x, ``(n,)`` or ``(n, d_x)``.
      y: samples of y, with the same n.
      kernel_x: ``"gaussian"`` (median heuristic), a Gaussian kernel, or a bandwidth.
      kernel_y: the same for y.
      n_features: ``D`` per variable, a positive even integer.
      seed: a non-negative int, a JAX key, or a ``numpy.random.Generator``.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.

    Returns:
      A scalar array.

    Example:
      >>> import numpy as np, hsic
      >>> from hsic._large_scale import hsic_rff
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=300)
      >>> y = np.sin(3 * x) + 0.3 * rng.normal(size=300)
      >>> exact = float(hsic.hsic(x, y))
      >>> approx = float(hsic_rff(x, y, n_features=1000, seed=0))
      >>> bool(abs(approx - exact) < 0.25 * exact)   # its sd is ~13% here, shrinking as 1/√D
      True

    References:
      Zhang, Filippi, Gretton, Sejdinovic (2018), "Large-scale kernel methods for independence
      testing", Statistics and Computing 28. Rahimi & Recht (2007), NIPS 20.
    """
    return _feature_hsic_api(x, y, "rff", kernel_x, kernel_y, n_features, seed, dtype)


def hsic_nystrom(
    x: ArrayLike,
    y: ArrayLike,
    *,
    kernel_x: str | _kernels.Kernel = "gaussian",
    kernel_y: str | _kernels.Kernel = "gaussian",
    n_landmarks: int = 100,
    seed: int | Any = 0,
    dtype: str | np.dtype | None = None,
) -> jax.Array:
    """HSIC with Nyström features: ``‖Φ̃ᵀΨ̃‖²_F / n²`` (Zhang et al. 2018, Sect. 3.2).

    ``Φ`` and ``Ψ`` are [`nystrom_features`][hsic._large_scale.nystrom_features] of x and y,
    with landmarks drawn independently for each (the first and second of ``rng.spawn(3)``).
    The statistic is
    ``HSIC_b(K̂, L̂)`` with the Nyström approximations ``K̂ = K_nm K_mm⁺ K_mn`` and ``L̂``.

    **Error against the exact statistic.** Since ``‖HAH‖_F ≤ ‖A‖_F``,

    ``|HSIC_b(K̂, L̂) − HSIC_b(K, L)| ≤ (‖K − K̂‖_F ‖L‖_F + ‖K̂‖_F ‖L − L̂‖_F) / n²``,

    i.e. at most ``(‖K − K̂‖_F + ‖L − L̂‖_F)/n`` for kernels bounded by 1 (Gaussian, Laplace).
    The Nyström error shrinks as ``m`` grows, fast when the kernel's spectrum decays fast, and
    is 0 at ``m = n`` (up to the eigenvalue clipping). Cost O(n·m²) time, O(n·m) memory.

    Args:
      x: samples of x, ``(n,)`` or ``(n, d_x)``.
      y: samples of y, with the same n.
      kernel_x: a kernel name or [`hsic.kernels.Kernel`][hsic.kernels.Kernel] (not
        ``"precomputed"``).
      kernel_y: the same for y.
      n_landmarks: ``m`` per variable, from 1 to n.
      seed: a non-negative int, a JAX key, or a ``numpy.random.Generator``.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.

    Returns:
      A scalar array.

    Example:
      >>> import numpy as np, hsic
      >>> from hsic._large_scale import hsic_nystrom
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=300)
      >>> y = np.sin(3 * x) + 0.3 * rng.normal(size=300)
      >>> exact = float(hsic.hsic(x, y))
      >>> bool(abs(float(hsic_nystrom(x, y, n_landmarks=50)) - exact) < 0.01 * exact)
      True

    References:
      Zhang, Filippi, Gretton, Sejdinovic (2018), "Large-scale kernel methods for independence
      testing", Statistics and Computing 28. Williams & Seeger (2001), NIPS 13.
    """
    return _feature_hsic_api(x, y, "nystrom", kernel_x, kernel_y, n_landmarks, seed, dtype,
                             count_name="n_landmarks")


def _feature_hsic_api(x, y, features, kernel_x, kernel_y, n_features, seed, dtype,
                      count_name="n_features", mesh=None):
    gx, gy, _ = _features_rng(seed)
    dtype = float_dtype(dtype)
    with precision(dtype):
        x, y, kx, ky, n_features = _prepare_features(
            x, y, kernel_x, kernel_y, features, n_features, dtype,
            min_n=2, reason=f"hsic_{features}", constant="warn", count_name=count_name,
        )
        return _statistic(*_feature_pair(x, y, kx, ky, features, n_features, gx, gy), mesh)


# --------------------------------------------------------------------------------------------
# Feature nulls and test
# --------------------------------------------------------------------------------------------


@jax.jit
def _centre_columns(a: jax.Array) -> jax.Array:
    return a - jnp.mean(a, axis=0)


@jax.jit
def _permuted_feature_sums(phit: jax.Array, psit: jax.Array, perms: jax.Array) -> jax.Array:
    """``‖Φ̃ᵀ Ψ̃[p]‖²_F`` for each row ``p`` of ``perms``, one permutation at a time."""

    def one(p):
        c = jnp.matmul(phit.T, psit[p], precision=_HIGHEST)
        return jnp.sum(c * c)

    return jax.lax.map(one, perms)


@functools.partial(jax.jit, static_argnames=("mesh",))
def _sharded_permuted_feature_sums(phit, psit, perms, *, mesh):
    """``_permuted_feature_sums`` with the rows of ``perms`` split over ``mesh``."""
    axis = mesh.axis_names[0]

    def local(phit, psit, perms):
        sums = _permuted_feature_sums(phit, psit, perms)
        return jax.lax.all_gather(sums, axis, tiled=True, to="invarying")

    return jax.shard_map(local, mesh=mesh, in_specs=(P(), P(), P(axis)), out_specs=P())(
        phit, psit, perms
    )


def _feature_permutation_null(phi, psi, rng: np.random.Generator, n_permutations: int,
                              mesh=None):
    """``‖Φ̃ᵀΨ̃[p_b]‖²_F / n²`` for B permutations drawn one after another from ``rng`` (so the
    result does not depend on the batching, nor on the devices of ``mesh``)."""
    n = phi.shape[0]
    phit, psit = _centre_columns(phi), _centre_columns(psi)
    batch = max(1, min(n_permutations, PERMUTATION_ENTRIES // n))
    if mesh is None:
        size = batch

        def run_batch(perms):
            return _permuted_feature_sums(phit, psit, jax.device_put(perms))
    else:
        size = -(-batch // mesh.size) * mesh.size  # a multiple of the device count
        phit, psit = jax.device_put((phit, psit), NamedSharding(mesh, P()))
        split = NamedSharding(mesh, P(mesh.axis_names[0]))

        def run_batch(perms):
            return _sharded_permuted_feature_sums(
                phit, psit, jax.device_put(perms, split), mesh=mesh
            )

    return run_permutation_batches(
        run_batch, rng, n, n_permutations, batch, size, progress=False
    )


def _positive_eigenvalues(cov: np.ndarray, eps: float) -> np.ndarray:
    """Eigenvalues of a covariance matrix above ``D·eps·λ_max`` (the rest are rounding)."""
    values = np.linalg.eigvalsh(np.asarray(cov, dtype=np.float64))
    top = max(float(values.max()), 0.0) if values.size else 0.0
    return values[values > len(values) * eps * top]


def _spectral_null(cxx, cyy, n: int, rng: np.random.Generator, draws: int, eps: float):
    """Draws of ``Σ_ij λ_i η_j z_ij² / n``, ``z_ij ~ N(0, 1)``: the null of the statistic.

    The normals are drawn in chunks of whole draws, one after another, so the result does not
    depend on the chunk size.
    """
    lam = _positive_eigenvalues(cxx, eps)
    eta = _positive_eigenvalues(cyy, eps)
    weights = np.outer(lam, eta).ravel()
    if weights.size == 0:
        return np.zeros(draws)
    per_chunk = max(1, SPECTRAL_ENTRIES // weights.size)
    out = np.empty(draws)
    for start in range(0, draws, per_chunk):
        count = min(per_chunk, draws - start)
        z = rng.standard_normal((count, weights.size))
        out[start:start + count] = (z * z) @ weights
    return out / n


def feature_test(
    x: ArrayLike,
    y: ArrayLike,
    *,
    features: Literal["rff", "nystrom"] = "rff",
    null: Literal["spectral", "permutation"] = "spectral",
    n_features: int = 100,
    n_resamples: int = 1000,
    kernel_x: str | _kernels.Kernel | float = "gaussian",
    kernel_y: str | _kernels.Kernel | float = "gaussian",
    seed: int | Any = 0,
    dtype: str | np.dtype | None = None,
    mesh: Mesh | None = None,
) -> HSICTestResult:
    """Independence test with random Fourier or Nyström features (Zhang et al. 2018).

    The statistic is ``T = ‖Φ̃ᵀΨ̃‖²_F / n²``, the biased HSIC of the approximate Gram
    matrices ([`hsic_rff`][hsic._large_scale.hsic_rff],
    [`hsic_nystrom`][hsic._large_scale.hsic_nystrom]). Two nulls:

    * ``null="spectral"`` (default): under independence, ``√n·Φ̃ᵀΨ̃/n`` is asymptotically
      Gaussian with covariance ``C_x ⊗ C_y``, so
      ``n·T → Σ_ij λ_i η_j z_ij²``, ``z_ij ~ N(0, 1)`` independent, with ``λ``, ``η`` the
      eigenvalues of ``C_x = Φ̃ᵀΦ̃/n`` and ``C_y = Ψ̃ᵀΨ̃/n`` (eigenvalues below
      ``D·eps·λ_max`` are dropped as rounding). ``n_resamples`` draws of this weighted
      chi-square are simulated (cost O(draws·D_x·D_y), independent of n).
    * ``null="permutation"``: the rows of ``Ψ̃`` are permuted, ``T_b = ‖Φ̃ᵀΨ̃[p_b]‖²_F/n²``;
      features are computed once, each permutation costs O(n·D_x·D_y). Exact at any n
      (given the features).

    Either way, with ``B = n_resamples``, ``p = (1 + #{b : T_b ≥ T − tol}) / (1 + B)`` with
    ``tol = 1000·eps·T`` (ties within rounding count as extreme;
    ``hsic._nulls.permutation_pvalue``).

    **Randomness.** ``rng`` from ``seed`` is split with ``rng.spawn(3)`` into x's features,
    y's features and the null (permutations, drawn one after another as in ``hsic.test``, or
    the normal draws). The same seed gives the same p-value.

    Args:
      x: samples of x, ``(n,)`` or ``(n, d_x)``.
      y: samples of y, with the same n (n >= 5).
      features: ``"rff"`` (Gaussian kernels only) or ``"nystrom"`` (any kernel but
        ``"precomputed"``).
      null: ``"spectral"`` or ``"permutation"``.
      n_features: D per variable (a positive even integer for ``"rff"``), or the number of
        landmarks m (from 1 to n) for ``"nystrom"``.
      n_resamples: B, the number of permutations or spectral draws.
      kernel_x: a kernel name or [`Kernel`][hsic.kernels.Kernel] (a number is a Gaussian
        bandwidth); default Gaussian with the median heuristic on x alone.
      kernel_y: the same for y.
      seed: a non-negative int, a JAX key, or a ``numpy.random.Generator``.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.
      mesh: a 1-D device mesh: the statistic's rows, and the permutations, are split over
        its devices (the same result as on one device, to float rounding); ``None``: the
        default device.

    Returns:
      An [`HSICTestResult`][hsic.HSICTestResult] with ``method`` the feature map and
      ``info`` holding ``null``, ``n_features`` and ``n_null_samples``.

    Raises:
      ValueError: on bad names or counts, an RFF kernel that is not Gaussian, a
        ``"precomputed"`` kernel, mismatched n, too few samples, NaN or inf, or a constant
        variable.

    Example:
      >>> import numpy as np
      >>> from hsic._large_scale import feature_test
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=500)
      >>> y = np.sin(3 * x) + 0.5 * rng.normal(size=500)
      >>> feature_test(x, y, n_features=50, seed=1).pvalue     # 1/(1 + 1000): nothing beat it
      0.000999000999000999
      >>> res = feature_test(x, rng.normal(size=500), features="nystrom", null="permutation",
      ...                    n_features=20, n_resamples=200, seed=1)
      >>> bool(res.pvalue > 0.01)
      True

    References:
      Zhang, Filippi, Gretton, Sejdinovic (2018), "Large-scale kernel methods for independence
      testing", Statistics and Computing 28. Phipson & Smyth (2010), "Permutation p-values
      should never be zero", SAGMB 9.
    """
    check_choice(features, "features", FEATURES)
    check_choice(null, "null", NULLS)
    resamples = check_positive_int(n_resamples, "n_permutations")
    gx, gy, gnull = _features_rng(seed)
    dtype = float_dtype(dtype)
    with precision(dtype):
        x, y, kx, ky, n_features = _prepare_features(
            x, y, kernel_x, kernel_y, features, n_features, dtype,
            min_n=5, reason=f"feature_test with features={features!r}", constant="raise",
        )
        n = x.shape[0]
        phi, psi = _feature_pair(x, y, kx, ky, features, n_features, gx, gy)
        if null == "spectral":
            statistic, cxx, cyy = _sums(phi, psi, covariances=True, mesh=mesh)
            eps = float(np.finfo(dtype).eps)
            null_distribution = _spectral_null(
                np.asarray(cxx), np.asarray(cyy), n, gnull, resamples, eps
            )
        else:
            statistic = _statistic(phi, psi, mesh)
            null_distribution = _feature_permutation_null(phi, psi, gnull, resamples, mesh)
        statistic = float(statistic)
        return HSICTestResult(
            statistic=statistic,
            pvalue=permutation_pvalue(null_distribution, statistic),
            null_distribution=null_distribution,
            method=features,
            n=n,
            kernel_x=_kernels.as_python_floats(kx),
            kernel_y=_kernels.as_python_floats(ky),
            n_permutations=resamples if null == "permutation" else None,
            info={"null": null, "n_features": n_features, "n_null_samples": resamples},
        )


# --------------------------------------------------------------------------------------------
# Block HSIC
# --------------------------------------------------------------------------------------------


def _map_blocks(kx, ky, xb: jax.Array, yb: jax.Array, batch: int):
    """Per block b of ``xb, yb`` (``(blocks, B, d)``): ``HSIC_u(K_b, L_b)``,
    ``HSIC_u(K_b, K_b)`` and ``HSIC_u(L_b, L_b)``, with ``lax.map``, ``batch`` at a time.

    ``HSIC_u(A, B) = Σ Â∘B̂ / (B(B − 3))`` with U-centred ``Â, B̂`` (``hsic.centre``).
    """
    block_size = xb.shape[1]
    norm = float(block_size * (block_size - 3))

    def one(pair):
        a, b = pair
        K = centre(kx.gram(a), unbiased=True)
        L = centre(ky.gram(b), unbiased=True)
        return jnp.sum(K * L) / norm, jnp.sum(K * K) / norm, jnp.sum(L * L) / norm

    return jax.lax.map(one, (xb, yb), batch_size=batch)


def _split_blocks(x: jax.Array, block_size: int, n_blocks: int) -> jax.Array:
    return x[: n_blocks * block_size].reshape(n_blocks, block_size, x.shape[1])


@functools.partial(jax.jit, static_argnames=("block_size", "batch"))
def _block_values(kx, ky, x: jax.Array, y: jax.Array, *, block_size: int, batch: int):
    """``_map_blocks`` over the ``⌊n/B⌋`` blocks of consecutive rows of ``x`` and ``y``."""
    n_blocks = x.shape[0] // block_size
    xb, yb = (_split_blocks(a, block_size, n_blocks) for a in (x, y))
    return _map_blocks(kx, ky, xb, yb, batch)


@functools.partial(jax.jit, static_argnames=("block_size", "batch", "mesh"))
def _sharded_block_values(kx, ky, x, y, *, block_size: int, batch: int, mesh: Mesh):
    """``_block_values`` with the blocks split over the devices of ``mesh`` (their count
    padded to a multiple of the device count with copies of block 0, then discarded)."""
    axis = mesh.axis_names[0]
    n_blocks = x.shape[0] // block_size
    padded = -(-n_blocks // mesh.size) * mesh.size
    xb, yb = (_split_blocks(a, block_size, n_blocks) for a in (x, y))
    xb, yb = (jnp.concatenate([b, jnp.repeat(b[:1], padded - n_blocks, 0)]) for b in (xb, yb))

    def local(kx, ky, xb, yb):
        values = _map_blocks(kx, ky, xb, yb, batch)
        return jax.lax.all_gather(values, axis, tiled=True, to="invarying")

    specs = (P(), P(), P(axis), P(axis))
    values = jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=P())(kx, ky, xb, yb)
    return tuple(v[:n_blocks] for v in values)


def _prepare_blocks(x, y, kernel_x, kernel_y, block_size, dtype, *, min_blocks, reason,
                    constant, mesh=None):
    block_size = _check_block_size(block_size)
    kx = _cross_kernel(kernel_x, "kernel_x", "block HSIC")
    ky = _cross_kernel(kernel_y, "kernel_y", "block HSIC")
    x, y, kx, ky = prepare_pair(
        x, y, kx, ky, dtype=dtype, min_n=4 * min_blocks, reason=reason, constant=constant
    )
    n = x.shape[0]
    block_size = _resolve_block_size(block_size, n)
    if n // block_size < min_blocks:
        raise ValueError(
            f"`block_size` must be at most n/{min_blocks} = {n // min_blocks} for {reason}, "
            f"so that there are at least {min_blocks} blocks; got {block_size}."
        )
    n_blocks = n // block_size
    batch = max(1, min(n_blocks, BLOCK_ENTRIES // (block_size * block_size)))
    if mesh is None:
        values = _block_values(kx, ky, x, y, block_size=block_size, batch=batch)
    else:
        kx, ky, x, y = jax.device_put((kx, ky, x, y), NamedSharding(mesh, P()))
        values = _sharded_block_values(
            kx, ky, x, y, block_size=block_size, batch=batch, mesh=mesh
        )
    return values, kx, ky, n, block_size, n_blocks


def block_hsic(
    x: ArrayLike,
    y: ArrayLike,
    *,
    block_size: int | None = None,
    kernel_x: str | _kernels.Kernel = "gaussian",
    kernel_y: str | _kernels.Kernel = "gaussian",
    dtype: str | np.dtype | None = None,
    mesh: Mesh | None = None,
) -> jax.Array:
    """Block HSIC: the average of unbiased HSICs over blocks of ``B`` consecutive samples.

    ``HSIC_block = (1/N) Σ_b HSIC_u(K_b, L_b)`` over the ``N = ⌊n/B⌋`` blocks of rows
    ``bB, …, bB + B − 1`` (the last ``n mod B`` rows are not used; shuffle the rows first if
    their order is not random). ``HSIC_u`` is Song et al. (2012)'s unbiased estimator, eq. 5
    (see [`hsic.hsic_from_gram`][hsic.hsic_from_gram]). The kernels are fitted on the whole
    sample (median heuristic on all of x, and of y), so all blocks share them. Default
    ``B = max(4, ⌊√n⌋)``. Cost O(n·B) kernel evaluations, O(B²) memory per block.

    **Error against the exact statistic.** Each block is unbiased, so ``HSIC_block`` is an
    unbiased estimate of the population HSIC, like the full-sample ``HSIC_u``. Both share the
    same leading (Hájek) term, so under dependence they differ by ``O_P(1/√(nB))`` (the
    degenerate parts: variance ``O(1/(B²))`` per block, over ``n/B`` blocks), and the block
    statistic's variance under independence is ``O(1/(nB))`` instead of ``O(1/n²)``. With
    ``B = n`` it *is* the full-sample unbiased HSIC.

    Args:
      x: samples of x, ``(n,)`` or ``(n, d_x)``.
      y: samples of y, with the same n (n >= 4).
      block_size: B, an integer from 4 to n, or ``None`` for ``max(4, ⌊√n⌋)``.
      kernel_x: a kernel name or [`hsic.kernels.Kernel`][hsic.kernels.Kernel] (not
        ``"precomputed"``).
      kernel_y: the same for y.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.
      mesh: a 1-D device mesh to split the blocks over; ``None``: the default device.

    Returns:
      A scalar array.

    Example:
      >>> import numpy as np, hsic
      >>> from hsic._large_scale import block_hsic
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=400)
      >>> y = np.sin(3 * x) + 0.3 * rng.normal(size=400)
      >>> exact = float(hsic.hsic(x, y, estimator="unbiased"))
      >>> bool(np.isclose(float(block_hsic(x, y, block_size=400)), exact, rtol=1e-4))
      True
      >>> 0.5 * exact < float(block_hsic(x, y)) < 1.5 * exact     # B = 20: error O(1/√(nB))
      True

    References:
      Zhang, Filippi, Gretton, Sejdinovic (2018), "Large-scale kernel methods for independence
      testing", Statistics and Computing 28, Sect. 3.1. Zaremba, Gretton, Blaschko (2013),
      "B-tests: low variance kernel two-sample tests", NIPS 26. Song et al. (2012), JMLR 13.
    """
    dtype = float_dtype(dtype)
    with precision(dtype):
        (h, _, _), *_ = _prepare_blocks(
            x, y, kernel_x, kernel_y, block_size, dtype,
            min_blocks=1, reason="block_hsic", constant="warn", mesh=mesh,
        )
        return jnp.mean(h)


def approximate_hsic(x, y, estimator: str, *, kernel_x, kernel_y, n_features, block_size, seed,
                     dtype, mesh) -> jax.Array:
    """The large-scale estimators of ``hsic.hsic`` (``estimator`` = ``"block"``, ``"rff"``
    or ``"nystrom"``; see there), on one device or split over ``mesh``'s."""
    if estimator == "block":
        return block_hsic(
            x, y, block_size=block_size, kernel_x=kernel_x, kernel_y=kernel_y, dtype=dtype,
            mesh=mesh,
        )
    n_features = 100 if n_features is None else n_features
    return _feature_hsic_api(
        x, y, estimator, kernel_x, kernel_y, n_features, seed, dtype, mesh=mesh
    )


def block_test(
    x: ArrayLike,
    y: ArrayLike,
    *,
    block_size: int | None = None,
    kernel_x: str | _kernels.Kernel = "gaussian",
    kernel_y: str | _kernels.Kernel = "gaussian",
    dtype: str | np.dtype | None = None,
    mesh: Mesh | None = None,
) -> HSICTestResult:
    """Independence test with block HSIC and its normal null (Zhang et al. 2018, Sect. 3.1).

    The statistic is ``T = (1/N) Σ_b h_b``, ``h_b = HSIC_u(K_b, L_b)``
    ([`block_hsic`][hsic._large_scale.block_hsic]).
    Under independence the ``h_b`` are independent with mean 0, so ``T`` is asymptotically
    normal as the number of blocks ``N`` grows, and ``p = 1 − Φ(T / s)`` (upper tail).

    **Null variance.** ``s² = (1/N²) Σ_b v_b`` with ``v_b`` the variance of ``h_b`` when y is
    permuted at random *within* block b. It is computed exactly, with no resampling: for
    U-centred ``K̂, L̂`` (symmetric, zero diagonal, zero row sums) and a uniform permutation
    ``P``, ``E[Σ K̂∘PL̂Pᵀ] = 0`` and ``Var[Σ K̂∘PL̂Pᵀ] = 2‖K̂‖²_F ‖L̂‖²_F / (B(B − 3))``
    (sum the covariances of ``L̂_{p(i)p(j)}`` over the four index patterns, using the zero
    row sums), hence

    ``v_b = 2 · HSIC_u(K_b, K_b) · HSIC_u(L_b, L_b) / (B(B − 3))``.

    This is the variance of infinitely many within-block permutations; it uses only each
    variable's own Gram matrices, so dependence does not inflate it. The normal approximation
    needs many blocks: at least 2 are required, and with few blocks (small n/B) the skew of
    ``h_b`` makes the test somewhat liberal. There is no randomness, hence no ``seed``.

    Args:
      x: samples of x, ``(n,)`` or ``(n, d_x)``.
      y: samples of y, with the same n (n >= 8).
      block_size: B, an integer from 4 to n/2, or ``None`` for ``max(4, ⌊√n⌋)``.
      kernel_x: a kernel name or [`hsic.kernels.Kernel`][hsic.kernels.Kernel] (not
        ``"precomputed"``).
      kernel_y: the same for y.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.
      mesh: a 1-D device mesh: the blocks are split over its devices (the same result as on
        one device); ``None``: the default device.

    Returns:
      An [`HSICTestResult`][hsic.HSICTestResult] with no ``null_distribution``, and
      ``info`` holding ``null="normal"``, ``block_size``, ``n_blocks`` and ``null_std = s``.

    Raises:
      ValueError: on a bad ``block_size``, fewer than 2 blocks, a ``"precomputed"`` kernel,
        mismatched n, NaN or inf, a constant variable, or a zero null variance.

    Example:
      >>> import numpy as np
      >>> from hsic._large_scale import block_test
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=1000)
      >>> block_test(x, np.sin(3 * x) + 0.5 * rng.normal(size=1000)).pvalue < 1e-6
      True
      >>> res = block_test(x, rng.normal(size=1000))
      >>> res.info["block_size"], res.info["n_blocks"], bool(res.pvalue > 0.01)
      (31, 32, True)

    References:
      Zhang, Filippi, Gretton, Sejdinovic (2018), "Large-scale kernel methods for independence
      testing", Statistics and Computing 28, Sect. 3.1. Zaremba, Gretton, Blaschko (2013),
      "B-tests: low variance kernel two-sample tests", NIPS 26.
    """
    dtype = float_dtype(dtype)
    with precision(dtype):
        (h, hkk, hll), kx, ky, n, block_size, n_blocks = _prepare_blocks(
            x, y, kernel_x, kernel_y, block_size, dtype,
            min_blocks=2, reason="block_test", constant="raise", mesh=mesh,
        )
        h, hkk, hll = (np.asarray(v, dtype=np.float64) for v in (h, hkk, hll))
        statistic = float(h.mean())
        variance = float(np.sum(2.0 * hkk * hll / (block_size * (block_size - 3.0))))
        if not variance > 0:
            raise ValueError(
                "The null variance of block HSIC is 0 (a variable is constant within every "
                "block); use a larger `block_size`, or shuffle the rows first."
            )
        null_std = math.sqrt(variance) / n_blocks
        return HSICTestResult(
            statistic=statistic,
            pvalue=float(scipy.special.ndtr(-statistic / null_std)),
            null_distribution=None,
            method="block",
            n=n,
            kernel_x=_kernels.as_python_floats(kx),
            kernel_y=_kernels.as_python_floats(ky),
            info={"null": "normal", "block_size": block_size, "n_blocks": n_blocks,
                  "null_std": null_std},
        )
