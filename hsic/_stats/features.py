"""Feature statistics: random Fourier and Nyström features, and HSIC of approximate Grams.

Each variable is mapped to ``D`` explicit features whose inner products approximate its
kernel, ``Φ Φᵀ ≈ K``: random Fourier features (``rff_features``) for the Gaussian kernel, or
Nyström features (``nystrom_features``) for any kernel that can be evaluated on new pairs. The
statistic is the biased HSIC of the approximate Gram matrices, ``‖Φ̃ᵀΨ̃‖²_F / n²`` with
column-centred features (``feature_hsic``, ``hsic_rff``, ``hsic_nystrom``): O(n·D_x·D_y) time
and O(n·D) memory, nothing ``n × n`` (Zhang, Filippi, Gretton, Sejdinovic 2018). With a device
mesh, the rows are split over the devices.

Randomness (frequencies, landmarks) comes only from ``rng``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from jax.typing import ArrayLike

from hsic._base.rng import as_generator
from hsic._base.validation import (
    as_samples,
    check_number,
    check_positive_int,
    float_dtype,
    is_number,
    precision,
)
from hsic._stats import kernels as _kernels
from hsic._stats.inputs import prepare_pair

__all__ = [
    "FEATURES",
    "check_n_features",
    "cross_kernel",
    "feature_sums",
    "feature_hsic",
    "feature_pair",
    "feature_statistic",
    "features_rng",
    "gaussian_kernel",
    "hsic_nystrom",
    "hsic_rff",
    "nystrom_features",
    "prepare_features",
    "rff_features",
    "rff_frequencies",
    "rff_map",
]

FEATURES = ("rff", "nystrom")
"""The feature maps of the RFF and Nyström methods."""


#: Rows per chunk when the centred feature products are accumulated (memory O(chunk · D)).
CHUNK_ROWS = 65536


def check_n_features(value: Any, name: str = "n_features") -> int:
    """Check an RFF feature count: a positive even integer (cos/sin pairs)."""
    requirement = "a positive even integer (the features come in cos/sin pairs)"
    value = check_number(value, name, requirement, integer=True, low=2)
    if value % 2:
        raise ValueError(f"`{name}` must be {requirement}; got {value!r}.")
    return value


def _check_at_most_n(value: int, name: str, n: int) -> None:
    if value > n:
        raise ValueError(
            f"`{name}` must be at most n = {n} (the number of samples); got {value}. "
            "Use fewer landmarks."
        )


def gaussian_kernel(spec: Any, name: str) -> _kernels.Gaussian:
    """A Gaussian kernel from a name, a kernel object or a bandwidth (a positive number)."""
    if is_number(spec):
        return _kernels.Gaussian(bandwidth=float(spec))
    kernel = _kernels.get_kernel(spec, name)
    if not isinstance(kernel, _kernels.Gaussian):
        raise ValueError(
            f"`{name}` must be a Gaussian kernel for random Fourier features; got {kernel!r}. "
            "Use Nyström features (features='nystrom') for other kernels."
        )
    return kernel


def cross_kernel(spec: Any, name: str, what: str) -> _kernels.Kernel:
    """A kernel that can evaluate cross Gram matrices ``k(a_i, b_j)`` (not 'precomputed')."""
    kernel = _kernels.get_kernel(spec, name)
    if not kernel.supports_cross:
        raise ValueError(
            f"`{name}`='precomputed' cannot be used with {what}, which evaluates the kernel on "
            "new pairs of points; pass the data and a kernel such as 'gaussian' instead."
        )
    return kernel


def features_rng(rng: Any) -> tuple[np.random.Generator, ...]:
    """Three independent streams from ``rng``: x's features, y's features, the null."""
    return tuple(as_generator(rng).spawn(3))


def rff_frequencies(rng: np.random.Generator, d: int, n_features: int, bandwidth) -> np.ndarray:
    """``ω = Z/σ`` with ``Z = rng.standard_normal((d, n_features/2))``, in float64."""
    return rng.standard_normal((d, n_features // 2)) / float(bandwidth)


@jax.jit
def rff_map(x: jax.Array, omega: jax.Array) -> jax.Array:
    """``sqrt(2/D)·[cos((x − x̄)ω), sin((x − x̄)ω)]`` (the shift leaves ``ΦΦᵀ`` unchanged and
    keeps the arguments of cos and sin small, for float32 accuracy)."""
    proj = jnp.matmul(
        x - jnp.mean(x, axis=0), omega.astype(x.dtype), precision=jax.lax.Precision.HIGHEST
    )
    scale = jnp.asarray(math.sqrt(1.0 / omega.shape[1]), x.dtype)
    return scale * jnp.concatenate([jnp.cos(proj), jnp.sin(proj)], axis=1)


@jax.jit
def _landmark_gram(kernel: _kernels.Kernel, landmarks: jax.Array) -> jax.Array:
    k_mm = kernel.gram(landmarks)
    return 0.5 * (k_mm + k_mm.T)


@jax.jit
def _nystrom_map(kernel: _kernels.Kernel, x: jax.Array, landmarks: jax.Array, w: jax.Array):
    """``Φ = K_nm W``, computed on the device."""
    return jnp.matmul(kernel.gram(x, landmarks), w, precision=jax.lax.Precision.HIGHEST)


def _nystrom_whitening(k_mm: np.ndarray, eps: float) -> np.ndarray:
    """``W = U Λ₊^{-1/2}`` from ``K_mm = U Λ Uᵀ`` (float64, on the host: an ``m × m`` problem
    with nothing to compile); eigenvalues ``λ ≤ m·eps·λ_max`` get a zero column. A non-finite
    ``K_mm`` gives a NaN ``W``: the statistic is then NaN, which the p-value layer refuses, with
    its reasons, rather than an eigensolver error."""
    k_mm = np.asarray(k_mm, dtype=np.float64)
    if not np.all(np.isfinite(k_mm)):
        return np.full_like(k_mm, np.nan)
    eigenvalues, vectors = np.linalg.eigh(k_mm)
    tol = len(eigenvalues) * eps * max(float(eigenvalues.max()), 0.0)
    keep = eigenvalues > tol
    inv_sqrt = np.where(keep, 1.0 / np.sqrt(np.where(keep, eigenvalues, 1.0)), 0.0)
    return vectors * inv_sqrt[None, :]


def _rff(x: jax.Array, kernel: _kernels.Gaussian, n_features: int, rng) -> jax.Array:
    omega = rff_frequencies(rng, x.shape[1], n_features, kernel.bandwidth)
    return rff_map(x, jnp.asarray(omega, dtype=x.dtype))


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
    rng: int | Any = 0,
    dtype: str | np.dtype | None = None,
) -> jax.Array:
    """Random Fourier features of the Gaussian kernel (Rahimi & Recht 2007).

    For ``k(a, b) = exp(−‖a − b‖²/(2σ²))`` and ``D = n_features``, draw ``D/2`` frequencies
    ``ω_k ~ N(0, I/σ²)`` and map

    ``φ(a) = sqrt(2/D) · [cos(ω_1ᵀa), …, cos(ω_{D/2}ᵀa), sin(ω_1ᵀa), …, sin(ω_{D/2}ᵀa)]``.

    Then ``φ(a)ᵀφ(b) = (2/D) Σ_k cos(ω_kᵀ(a − b))`` is an unbiased estimate of ``k(a, b)``
    with variance ``(1 − k(a, b)²)² / D``, and ``φ(a)ᵀφ(a) = 1`` exactly. The data are shifted
    by their mean first (``Φ Φᵀ`` does not change; the arguments of cos and sin stay small).

    The frequencies are ``g.standard_normal((d, D/2)) / σ`` in float64, with
    ``g = np.random.default_rng(rng)`` for an int ``rng`` (see
    ``hsic._base.rng.as_generator`` for JAX keys; a NumPy Generator is used as is).

    Args:
      x: samples, ``(n,)`` or ``(n, d)``.
      kernel: ``"gaussian"`` (median heuristic on ``x``), an
        [`hsic.kernels.Gaussian`][hsic.kernels.Gaussian], or a bandwidth σ > 0.
      n_features: ``D``, a positive even integer.
      rng: a non-negative int, a JAX key, or a ``numpy.random.Generator``.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.

    Returns:
      The ``(n, D)`` feature matrix ``Φ``, with ``Φ Φᵀ ≈ K``.

    Raises:
      ValueError: if ``kernel`` is not Gaussian, ``n_features`` is not a positive even
        integer, or ``x`` or ``rng`` is invalid.

    Example:
      >>> import numpy as np
      >>> from hsic._stats.features import rff_features
      >>> x = np.random.default_rng(0).normal(size=(50, 2))
      >>> phi = rff_features(x, kernel=1.0, n_features=2000, rng=0)
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
    kernel = gaussian_kernel(kernel, "kernel")
    n_features = check_n_features(n_features)
    rng = as_generator(rng)
    dtype = float_dtype(dtype)
    with precision(dtype):
        x = as_samples(x, "x", dtype=dtype)
        fitted = cast(_kernels.Gaussian, kernel.fit(x, name="x"))  # fit keeps the class
        return _rff(x, fitted, n_features, rng)


def nystrom_features(
    x: ArrayLike,
    *,
    kernel: str | _kernels.Kernel = "gaussian",
    n_landmarks: int = 100,
    rng: int | Any = 0,
    dtype: str | np.dtype | None = None,
) -> jax.Array:
    """Nyström features of any kernel (Williams & Seeger 2001).

    ``m = n_landmarks`` rows of ``x`` are chosen as landmarks, uniformly without replacement
    (``g.choice(n, m, replace=False)`` with ``g = as_generator(rng)``). With ``K_nm`` the kernel
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
      rng: a non-negative int, a JAX key, or a ``numpy.random.Generator``.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.

    Returns:
      The ``(n, m)`` feature matrix ``Φ``.

    Raises:
      ValueError: if ``n_landmarks`` is not an integer in [1, n], ``kernel`` is
        ``"precomputed"`` or unknown, or ``x`` or ``rng`` is invalid.

    Example:
      >>> import numpy as np
      >>> from hsic._stats.features import nystrom_features
      >>> x = np.random.default_rng(0).normal(size=(50, 2))
      >>> phi = nystrom_features(x, kernel="linear", n_landmarks=5, rng=0)
      >>> bool(np.allclose(phi @ phi.T, x @ x.T, atol=1e-4))   # rank 2: exact
      True

    References:
      Williams & Seeger (2001), "Using the Nyström method to speed up kernel machines",
      NIPS 13. Zhang, Filippi, Gretton, Sejdinovic (2018), "Large-scale kernel methods for
      independence testing", Statistics and Computing 28.
    """
    kernel = cross_kernel(kernel, "kernel", "Nyström features")
    n_landmarks = check_positive_int(n_landmarks, "n_landmarks")
    rng = as_generator(rng)
    dtype = float_dtype(dtype)
    with precision(dtype):
        x = as_samples(x, "x", dtype=dtype)
        _check_at_most_n(n_landmarks, "n_landmarks", x.shape[0])
        return _nystrom(x, kernel.fit(x, name="x"), n_landmarks, rng)


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
        out = (jnp.matmul(a.T, b, precision=jax.lax.Precision.HIGHEST),)
        if covariances:
            out += (
                jnp.matmul(a.T, a, precision=jax.lax.Precision.HIGHEST),
                jnp.matmul(b.T, b, precision=jax.lax.Precision.HIGHEST),
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


def feature_sums(phi, psi, *, covariances: bool, mesh=None):
    """``_feature_sums`` on one device, or split over ``mesh``'s devices."""
    rows = _chunk_rows(phi.shape[0])
    if mesh is None:
        return _feature_sums(phi, psi, rows=rows, covariances=covariances)
    phi, psi = jax.device_put((phi, psi), NamedSharding(mesh, P()))
    return _sharded_feature_sums(phi, psi, rows=rows, covariances=covariances, mesh=mesh)


def feature_statistic(phi: jax.Array, psi: jax.Array, mesh=None) -> jax.Array:
    return feature_sums(phi, psi, covariances=False, mesh=mesh)[0]


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
      >>> from hsic._stats.features import feature_hsic
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
        return feature_statistic(phi, psi)


def feature_pair(x, y, kx, ky, features: str, n_features: int, gx, gy):
    if features == "rff":
        return _rff(x, kx, n_features, gx), _rff(y, ky, n_features, gy)
    return _nystrom(x, kx, n_features, gx), _nystrom(y, ky, n_features, gy)


def prepare_features(x, y, kernel_x, kernel_y, features, n_features, dtype, *, min_n, reason,
                      constant, count_name="n_features"):
    """Validate, fit the kernels and check the feature count (the argument ``count_name``):
    shared by the feature APIs."""
    if features == "rff":
        n_features = check_n_features(n_features)
        kx, ky = gaussian_kernel(kernel_x, "kernel_x"), gaussian_kernel(kernel_y, "kernel_y")
    else:
        n_features = check_positive_int(n_features, count_name)
        kx = cross_kernel(kernel_x, "kernel_x", "Nyström features")
        ky = cross_kernel(kernel_y, "kernel_y", "Nyström features")
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
    rng: int | Any = 0,
    dtype: str | np.dtype | None = None,
) -> jax.Array:
    """HSIC with random Fourier features: ``‖Φ̃ᵀΨ̃‖²_F / n²`` (Zhang et al. 2018, Sect. 3.3).

    ``Φ`` and ``Ψ`` are [`rff_features`][hsic._stats.features.rff_features] of x and y with
    independent frequencies (x's from the first, y's from the second of
    ``as_generator(rng).spawn(3)``), so the statistic is ``HSIC_b(K̂, L̂)`` with ``K̂ = ΦΦᵀ``,
    ``L̂ = ΨΨᵀ``.

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
      rng: a non-negative int, a JAX key, or a ``numpy.random.Generator``.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.

    Returns:
      A scalar array.

    Example:
      >>> import numpy as np, hsic
      >>> from hsic._stats.features import hsic_rff
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=300)
      >>> y = np.sin(3 * x) + 0.3 * rng.normal(size=300)
      >>> exact = float(hsic.hsic(x, y))
      >>> approx = float(hsic_rff(x, y, n_features=1000, rng=0))
      >>> bool(abs(approx - exact) < 0.25 * exact)   # its sd is ~13% here, shrinking as 1/√D
      True

    References:
      Zhang, Filippi, Gretton, Sejdinovic (2018), "Large-scale kernel methods for independence
      testing", Statistics and Computing 28. Rahimi & Recht (2007), NIPS 20.
    """
    return feature_hsic_api(x, y, "rff", kernel_x, kernel_y, n_features, rng, dtype)


def hsic_nystrom(
    x: ArrayLike,
    y: ArrayLike,
    *,
    kernel_x: str | _kernels.Kernel = "gaussian",
    kernel_y: str | _kernels.Kernel = "gaussian",
    n_landmarks: int = 100,
    rng: int | Any = 0,
    dtype: str | np.dtype | None = None,
) -> jax.Array:
    """HSIC with Nyström features: ``‖Φ̃ᵀΨ̃‖²_F / n²`` (Zhang et al. 2018, Sect. 3.2).

    ``Φ`` and ``Ψ`` are [`nystrom_features`][hsic._stats.features.nystrom_features] of x and y,
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
      rng: a non-negative int, a JAX key, or a ``numpy.random.Generator``.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.

    Returns:
      A scalar array.

    Example:
      >>> import numpy as np, hsic
      >>> from hsic._stats.features import hsic_nystrom
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
    return feature_hsic_api(x, y, "nystrom", kernel_x, kernel_y, n_landmarks, rng, dtype,
                             count_name="n_landmarks")


def feature_hsic_api(x, y, features, kernel_x, kernel_y, n_features, rng, dtype,
                      count_name="n_features", mesh=None):
    gx, gy, _ = features_rng(rng)
    dtype = float_dtype(dtype)
    with precision(dtype):
        x, y, kx, ky, n_features = prepare_features(
            x, y, kernel_x, kernel_y, features, n_features, dtype,
            min_n=2, reason=f"hsic_{features}", constant="warn", count_name=count_name,
        )
        return feature_statistic(*feature_pair(x, y, kx, ky, features, n_features, gx, gy), mesh)
