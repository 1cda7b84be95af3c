"""HSIC estimators: centring, the biased and unbiased statistics, and CKA (``nhsic``).

The statistics are computed on Gram matrices ([`hsic_from_gram`][hsic.hsic_from_gram],
[`cka_from_gram`][hsic.cka_from_gram]) or on data ([`hsic`][hsic.hsic],
[`nhsic`][hsic.nhsic]). On data there are two exact algorithms:

* ``"tiled"`` streams over blocks of rows and needs O(n) memory (two passes: row sums first,
  then the centred products). Each Gram block is computed twice and never stored.
* ``"dense"`` materialises both ``n × n`` Gram matrices.

``algorithm="auto"`` (the default) is ``"tiled"``, and ``"dense"`` only for precomputed Gram
matrices. Tiling is not only for large n: on a CPU, writing ``n × n`` arrays to fresh memory
costs more than computing the kernel twice, so the tiled path was measured ~9× faster than
the dense one at n = 4000 (``benchmarks/bench_core.py``).

Both centre the matrices explicitly before multiplying (rather than expanding
``tr(KHLH)`` into large terms that cancel), which keeps float32 accurate as n grows.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from hsic._base.devices import resolve_mesh
from hsic._base.validation import (
    as_samples,
    check_choice,
    check_fits_in_memory,
    check_options_apply,
    check_same_n,
    float_dtype,
    is_constant,
    precision,
)
from hsic._stats import kernels as _kernels

__all__ = [
    "hsic", "nhsic", "hsic_from_gram", "cka_from_gram", "nocco_from_gram", "nocco_projection",
    "centre",
]

ESTIMATORS = ("biased", "unbiased")
#: The large-scale approximations of ``hsic.hsic`` (in ``hsic._large_scale``).
APPROXIMATIONS = ("block", "rff", "nystrom")
ALGORITHMS = ("auto", "dense", "tiled")
MIN_N = {"biased": 2, "unbiased": 4}


# --------------------------------------------------------------------------------------------
# Gram-level statistics
# --------------------------------------------------------------------------------------------


def _centre_entries(
    block: jax.Array,
    row_means: jax.Array,
    col_means: jax.Array,
    grand_mean: jax.Array,
    keep: jax.Array | None,
) -> jax.Array:
    """Centre a block of a Gram matrix, given its row means, column means and grand mean.

    Double centring is ``K_ij − r_i − r_j + g`` with ``r`` the row means and ``g`` the grand
    mean. U-centring (for the unbiased statistic) uses the zero-diagonal matrix, divides the row
    sums by n − 2 and the total by (n − 1)(n − 2), and sets the diagonal to zero. Entries
    outside ``keep`` (the diagonal, or padding rows) are set to zero.
    """
    out = block - row_means[:, None] - col_means[None, :] + grand_mean
    if keep is not None:
        out = jnp.where(keep, out, 0.0)
    return out


def _centring_means(row_sums: jax.Array, n: int, unbiased: bool) -> tuple[jax.Array, jax.Array]:
    total = jnp.sum(row_sums)
    n = float(n)
    if unbiased:
        return row_sums / (n - 2), total / ((n - 1) * (n - 2))
    return row_sums / n, total / (n * n)


def centre(K: ArrayLike, *, unbiased: bool = False) -> jax.Array:
    """Centre a Gram matrix.

    * ``unbiased=False``: double centring, ``H K H`` with ``H = I − 11ᵀ/n``.
    * ``unbiased=True``: U-centring (Székely & Rizzo 2014). With ``K̃`` the matrix ``K`` with its
      diagonal set to 0, ``K̂_ij = K̃_ij − K̃_i+/(n−2) − K̃_+j/(n−2) + K̃_++/((n−1)(n−2))``
      for ``i ≠ j`` and ``K̂_ii = 0``. Then ``Σ K̂∘L̂ / (n(n−3))`` is the unbiased HSIC of
      Song et al. (2012), eq. 5.

    Example:
      >>> from hsic import centre
      >>> centre([[1.0, 0.0], [0.0, 1.0]])
      Array([[ 0.5, -0.5],
             [-0.5,  0.5]], dtype=float32)
    """
    K = jnp.asarray(K)
    if not jnp.issubdtype(K.dtype, jnp.floating):
        K = K.astype(jnp.zeros(()).dtype)
    n = K.shape[0]
    off_diagonal = ~jnp.eye(n, dtype=bool) if unbiased else None
    if unbiased:
        K = jnp.where(off_diagonal, K, 0.0)
    row_means, grand_mean = _centring_means(jnp.sum(K, axis=1), n, unbiased)
    col_means, _ = _centring_means(jnp.sum(K, axis=0), n, unbiased)
    return _centre_entries(K, row_means, col_means, grand_mean, off_diagonal)


def _normaliser(n: int, estimator: str) -> float:
    return float(n * (n - 3)) if estimator == "unbiased" else float(n * n)


def hsic_from_gram(K: ArrayLike, L: ArrayLike, *, estimator: str = "biased") -> jax.Array:
    """HSIC from two Gram matrices.

    * biased: ``HSIC_b = tr(K H L H) / n²`` (Gretton et al. 2005);
    * unbiased: ``HSIC_u = [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3))``
      with ``K̃, L̃`` the Gram matrices with zero diagonals (Song et al. 2012, eq. 5), computed
      stably as ``Σ K̂∘L̂ / (n(n−3))`` on U-centred matrices (see [`centre`][hsic.centre]).

    Args:
      K: ``(n, n)`` Gram matrix of x.
      L: ``(n, n)`` Gram matrix of y.
      estimator: ``"biased"`` or ``"unbiased"`` (needs n >= 4).

    Example:
      >>> import numpy as np
      >>> from hsic import hsic_from_gram
      >>> K = np.array([[1.0, 0.0], [0.0, 1.0]])
      >>> hsic_from_gram(K, K)   # tr(HKHK)/n² = 1/4
      Array(0.25, dtype=float32)
    """
    check_choice(estimator, "estimator", ESTIMATORS)
    n = jnp.shape(K)[0]
    if n < MIN_N[estimator]:
        raise ValueError(
            f"The {estimator} HSIC estimator needs at least {MIN_N[estimator]} samples; got n={n}."
        )
    unbiased = estimator == "unbiased"
    Kc = centre(K, unbiased=unbiased)
    Lc = centre(L, unbiased=unbiased)
    return jnp.sum(Kc * Lc) / _normaliser(Kc.shape[0], estimator)


def _cka(kl: jax.Array, kk: jax.Array, ll: jax.Array) -> jax.Array:
    """CKA from the three centred inner products, 0 where a variance is 0, clipped to [0, 1]."""
    denom = jnp.sqrt(kk * ll)
    safe = denom > 0
    return jnp.clip(jnp.where(safe, kl / jnp.where(safe, denom, 1.0), 0.0), 0.0, 1.0)


def cka_from_gram(K: ArrayLike, L: ArrayLike) -> jax.Array:
    """Normalised HSIC (centred kernel alignment) from two Gram matrices.

    ``CKA = HSIC_b(K, L) / sqrt(HSIC_b(K, K) · HSIC_b(L, L))``, in [0, 1]; 0 when either
    variable has zero kernel variance.

    Example:
      >>> import numpy as np
      >>> from hsic import cka_from_gram
      >>> K = np.array([[1.0, 0.2], [0.2, 1.0]])
      >>> cka_from_gram(K, K)
      Array(1., dtype=float32)
    """
    Kc = centre(K)
    Lc = centre(L)
    return _cka(jnp.sum(Kc * Lc), jnp.sum(Kc * Kc), jnp.sum(Lc * Lc))


#: Block size of the Gauss–Jordan inverse. Each block step multiplies by the explicit inverse
#: of its pivot block, which loses accuracy on ill-conditioned matrices as the block grows: on
#: a 256 × 256 Gaussian Gram matrix of 4-dimensional data (cond 9e3, float32) the relative
#: error was 7e-5 with blocks of 8 (LAPACK's float32 inverse: 1e-5), 2e-4 with 16 and 1e-3
#: with 32, while the speed of blocks of 8 to 32 was the same within noise.
_GJ_BLOCK = 8


def _small_spd_inverse(P: jax.Array) -> jax.Array:
    """Inverse of a small SPD block by Gauss–Jordan elimination without pivoting.

    Step k maps ``P`` to ``P − c r / p`` with pivot ``p = P[k, k]``, row ``r = P[k]`` and
    column ``c = P[:, k]``, then writes ``1/p`` at ``(k, k)``, ``r/p`` in the rest of row k
    and ``−c/p`` in the rest of column k (in-place inversion; Higham 2002, "Accuracy and
    Stability of Numerical Algorithms", ch. 14). A ``fori_loop``: unrolled, it made the
    HSIC-bottleneck training step compile ~5× longer (26 s)."""
    idx = jnp.arange(P.shape[0])

    def step(k, P):
        p = 1.0 / P[k, k]
        row = P[k] * p
        col = P[:, k]
        P = P - jnp.outer(col, row)
        P = jax.lax.dynamic_update_slice_in_dim(P, jnp.where(idx == k, p, row)[None], k, axis=0)
        return jax.lax.dynamic_update_slice_in_dim(
            P, jnp.where(idx == k, p, -p * col)[:, None], k, axis=1)

    return jax.lax.fori_loop(0, P.shape[0], step, P)


def _spd_inverse(A: jax.Array, block: int | None = None) -> jax.Array:
    """``A⁻¹`` of a symmetric positive-definite ``(m, m)`` matrix by blocked Gauss–Jordan.

    The block version of `_small_spd_inverse`: for each diagonal block ``K`` (rows and columns
    ``K``, the others ``O``), with ``P = A[K, K]⁻¹``, ``C = A[:, K]`` and ``R = A[K, :]``:
    ``A[O, O] −= C_O P R_O``, ``A[K, O] = P R_O``, ``A[O, K] = −C_O P``, ``A[K, K] = P``.
    Without pivoting this is stable for SPD matrices (every pivot block is a Schur complement
    of ``A``, hence SPD). ``m`` is padded to a multiple of ``block`` with an identity block.

    Only matrix products and slices: XLA runs them on its own threads. The LAPACK route
    (``jnp.linalg.solve``: LU, then two triangular solves with m right-hand sides, in
    OpenBLAS) was 5× slower for seven 256 × 256 inverses on the shared 2-core development
    machine, where OpenBLAS's worker threads competed with XLA's and with other processes
    (``benchmarks/bench_nocco_inverse.py``). Its float32 error is of the order of the LU
    solve's (see ``_GJ_BLOCK``).
    """
    block = block or _GJ_BLOCK
    m = A.shape[-1]
    pad = -m % block
    if pad:
        A = jnp.block([[A, jnp.zeros((m, pad), A.dtype)],
                       [jnp.zeros((pad, m), A.dtype), jnp.eye(pad, dtype=A.dtype)]])

    def step(k, A):
        k0 = k * block
        C = jax.lax.dynamic_slice_in_dim(A, k0, block, axis=1)
        R = jax.lax.dynamic_slice_in_dim(A, k0, block, axis=0)
        P = _small_spd_inverse(jax.lax.dynamic_slice_in_dim(C, k0, block, axis=0))
        CP = C @ P
        A = A - CP @ R
        rows = jax.lax.dynamic_update_slice_in_dim(P @ R, P, k0, axis=1)
        cols = jax.lax.dynamic_update_slice_in_dim(-CP, P, k0, axis=0)
        A = jax.lax.dynamic_update_slice_in_dim(A, rows, k0, axis=0)
        return jax.lax.dynamic_update_slice_in_dim(A, cols, k0, axis=1)

    A = jax.lax.fori_loop(0, A.shape[-1] // block, step, A)
    return A[:m, :m]


def _regularised_inverse(Kc: jax.Array, ridge: float) -> jax.Array:
    """``A⁻¹ = (K̄ + ridge·I)⁻¹`` (`_spd_inverse`, exactly symmetrised)."""
    inv = _spd_inverse(Kc + ridge * jnp.eye(Kc.shape[0], dtype=Kc.dtype))
    return 0.5 * (inv + inv.T)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _projection(Kc: jax.Array, ridge: float) -> jax.Array:
    return _projection_fwd(Kc, ridge)[0]


def _projection_fwd(Kc, ridge):
    # R = K̄A⁻¹ = (A − ridge·I)A⁻¹ = I − ridge·A⁻¹.
    inv = _regularised_inverse(Kc, ridge)
    return jnp.eye(Kc.shape[0], dtype=Kc.dtype) - ridge * inv, inv


def _projection_bwd(ridge, inv, g):
    # dR = ridge·A⁻¹ dK̄ A⁻¹, so the cotangent of K̄ is ridge·A⁻¹ G A⁻¹: two products, where
    # differentiating through the factorisation would cost several triangular solves.
    return (ridge * (inv @ g @ inv),)


_projection.defvjp(_projection_fwd, _projection_bwd)


def nocco_projection(K: ArrayLike, *, epsilon: float = 1e-5) -> jax.Array:
    """NOCCO's regularised projection ``R = K̄(K̄ + εmI)⁻¹`` of an ``(m, m)`` Gram matrix.

    ``K̄ = HKH`` is the centred Gram matrix. ``R`` is computed as ``I − εm(K̄ + εmI)⁻¹``, the
    inverse by a blocked Gauss–Jordan elimination (matrix products only; ``K̄ + εmI`` is
    positive definite, so no pivoting is needed), and its gradient in closed form,
    ``dR = εm·A⁻¹ dK̄ A⁻¹`` with ``A = K̄ + εmI``: matrix products only.
    [`nocco_from_gram`][hsic.nocco_from_gram] is ``Σ R_K ∘ R_L``; computing ``R`` once lets
    one variable be compared with many (as the HSIC-bottleneck objective does).

    Args:
      K: ``(m, m)`` Gram matrix.
      epsilon: the regulariser ε > 0, multiplied by ``m``.

    Returns:
      The symmetric ``(m, m)`` matrix ``R``.

    Example:
      >>> import numpy as np
      >>> from hsic import nocco_projection
      >>> R = nocco_projection(np.eye(2), epsilon=0.25)   # K̄ has eigenvalue 1: R = K̄/1.5
      >>> np.asarray(R, dtype=float).round(4).tolist()
      [[0.3333, -0.3333], [-0.3333, 0.3333]]
    """
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
        raise ValueError(f"`epsilon` must be a positive number; got {epsilon!r}.")
    K = jnp.asarray(K)
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"`K` must be a square (m, m) Gram matrix; got shape {K.shape}.")
    return _projection(centre(K), float(epsilon) * K.shape[0])


def nocco_from_gram(K: ArrayLike, L: ArrayLike, *, epsilon: float = 1e-5) -> jax.Array:
    """The normalised cross-covariance operator (NOCCO) statistic from two Gram matrices.

    ``NOCCO = tr(R_K R_L)`` with ``R_K = K̄ (K̄ + ε m I)⁻¹``, ``K̄ = H K H`` the centred Gram
    matrix and ``m`` the sample size (Fukumizu et al. 2008). It is the normalised HSIC that the
    official HSIC-bottleneck code trains with (ε = 1e-5). It lies in ``[0, m]``; unlike CKA it
    is not scaled to ``[0, 1]``. ``R`` comes from [`nocco_projection`][hsic.nocco_projection]
    (a Gauss–Jordan inverse; gradient in closed form).

    Args:
      K: ``(m, m)`` Gram matrix of x.
      L: ``(m, m)`` Gram matrix of y.
      epsilon: the regulariser ε > 0, multiplied by ``m``.

    Returns:
      A scalar array.

    Example:
      >>> import numpy as np
      >>> from hsic import nocco_from_gram
      >>> K = np.array([[1.0, 0.0], [0.0, 1.0]])
      >>> round(float(nocco_from_gram(K, K, epsilon=0.25)), 4)   # (1/(1 + 0.5))² = 0.4444
      0.4444

    References:
      Fukumizu, Gretton, Sun, Schölkopf (2008), "Kernel measures of conditional dependence",
      NIPS. Ma, Lewis, Kleijn (2020), "The HSIC bottleneck: deep learning without
      back-propagation", AAAI.
    """
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
        raise ValueError(f"`epsilon` must be a positive number; got {epsilon!r}.")
    K = jnp.asarray(K)
    L = jnp.asarray(L)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape != L.shape:
        raise ValueError(
            f"`K` and `L` must be square Gram matrices of the same shape; got {K.shape} and "
            f"{L.shape}."
        )
    return jnp.sum(nocco_projection(K, epsilon=epsilon) * nocco_projection(L, epsilon=epsilon))


# --------------------------------------------------------------------------------------------
# Data-level algorithms
# --------------------------------------------------------------------------------------------


class CentredSums(NamedTuple):
    """Sums over the centred Gram matrices ``K̄`` and ``L̄`` (double- or U-centred).

    ``kl``, ``kk`` and ``ll`` give every statistic: ``HSIC = kl / normaliser`` and
    ``CKA = kl / sqrt(kk · ll)``. The others feed Gretton's gamma approximation (with double
    centring): ``kl_sq_off = Σ_{i≠j} (K̄_ij L̄_ij)²``, and the totals and traces of ``K``, ``L``.
    """

    kl: jax.Array
    kk: jax.Array
    ll: jax.Array
    kl_sq_off: jax.Array
    k_total: jax.Array
    l_total: jax.Array
    k_trace: jax.Array
    l_trace: jax.Array


def _row_sums(Kb, Lb, keep, diagonal):
    """Pass 1 on a block of rows: row sums of the kept entries, and the block's traces."""
    Kk, Lk = jnp.where(keep, Kb, 0.0), jnp.where(keep, Lb, 0.0)
    k_trace = jnp.sum(jnp.where(diagonal, Kb, 0.0))
    l_trace = jnp.sum(jnp.where(diagonal, Lb, 0.0))
    return jnp.sum(Kk, axis=1), jnp.sum(Lk, axis=1), k_trace, l_trace


def _centred_block_sums(Kb, Lb, keep, diagonal, rk_rows, rk, gk, rl_rows, rl, gl):
    """Pass 2 on a block of rows: the partial sums of ``kl, kk, ll, kl_sq_off``."""
    Kc = _centre_entries(jnp.where(keep, Kb, 0.0), rk_rows, rk, gk, keep)
    Lc = _centre_entries(jnp.where(keep, Lb, 0.0), rl_rows, rl, gl, keep)
    product = Kc * Lc
    kl_sq_off = jnp.sum(jnp.where(diagonal, 0.0, product * product))
    return jnp.sum(product), jnp.sum(Kc * Kc), jnp.sum(Lc * Lc), kl_sq_off


def _block_masks(row_ids, n, unbiased):
    valid = (row_ids < n)[:, None]
    diagonal = row_ids[:, None] == jnp.arange(n)[None, :]
    keep = valid & ~diagonal if unbiased else valid
    return keep, diagonal & valid


def _finish(partials, totals, traces):
    """Add the per-block partial sums: a two-level sum that does not drift with n."""
    kl, kk, ll, kl_sq_off = (jnp.sum(p) for p in partials)
    return CentredSums(kl, kk, ll, kl_sq_off, *totals, *traces)


@functools.partial(jax.jit, static_argnames=("unbiased",))
def _dense_sums(kx, ky, x, y, *, unbiased: bool) -> CentredSums:
    """All of [`CentredSums`][hsic._estimators.CentredSums] from the full Gram matrices."""
    n = x.shape[0]
    K, L = kx.gram(x), ky.gram(y)
    keep, diagonal = _block_masks(jnp.arange(n), n, unbiased)
    rk, rl, k_trace, l_trace = _row_sums(K, L, keep, diagonal)
    rk_mean, gk = _centring_means(rk, n, unbiased)
    rl_mean, gl = _centring_means(rl, n, unbiased)
    partials = _centred_block_sums(K, L, keep, diagonal, rk_mean, rk_mean, gk, rl_mean, rl_mean, gl)
    return _finish(partials, (jnp.sum(K), jnp.sum(L)), (k_trace, l_trace))


def tile_rows(n: int) -> int:
    """Rows per tile of the tiled path: a power of two near ``2²⁰ / n``, from 16 to 1024,
    and no more than n rounded up to a power of two (so small n is not mostly padding)."""
    rows = min(1024, max(16, 2 ** math.floor(math.log2(max(2**20 / n, 1)))))
    return int(min(rows, 2 ** math.ceil(math.log2(n))))


def _two_pass_sums(kx, ky, x, y, tiles, *, unbiased: bool, rows: int, pad: int, gather=None):
    """The two passes of the tiled algorithm over the row tiles ``tiles``.

    Pass 1 computes the row sums, pass 2 the centred products; each tile's Gram blocks are
    computed in both passes and never stored. ``x`` and ``y`` are padded with ``pad`` rows
    (masked out). ``gather`` combines the per-tile results of several devices (the sharded
    path passes an all-gather); by default ``tiles`` are all the tiles.
    """
    gather = gather or (lambda tree: tree)
    n = x.shape[0]
    xp = jnp.pad(x, ((0, pad), (0, 0)))
    yp = jnp.pad(y, ((0, pad), (0, 0)))
    shift_x, shift_y = jnp.mean(x, axis=0), jnp.mean(y, axis=0)

    def tile(i):
        row_ids = i * rows + jnp.arange(rows)
        Kb = kx.gram(jax.lax.dynamic_slice_in_dim(xp, i * rows, rows), x, shift=shift_x)
        Lb = ky.gram(jax.lax.dynamic_slice_in_dim(yp, i * rows, rows), y, shift=shift_y)
        return row_ids, Kb, Lb, *_block_masks(row_ids, n, unbiased)

    def pass_1(i):
        _, Kb, Lb, keep, diagonal = tile(i)
        rk, rl, k_trace, l_trace = _row_sums(Kb, Lb, keep | diagonal, diagonal)
        if unbiased:  # row sums without the diagonal, totals with it
            rk_off, rl_off, _, _ = _row_sums(Kb, Lb, keep, diagonal)
            return rk_off, rl_off, jnp.sum(rk), jnp.sum(rl), k_trace, l_trace
        return rk, rl, jnp.sum(rk), jnp.sum(rl), k_trace, l_trace

    rk, rl, k_totals, l_totals, k_traces, l_traces = gather(jax.lax.map(pass_1, tiles))
    rk_mean, gk = _centring_means(rk.reshape(-1)[:n], n, unbiased)
    rl_mean, gl = _centring_means(rl.reshape(-1)[:n], n, unbiased)
    rk_pad, rl_pad = jnp.pad(rk_mean, (0, pad)), jnp.pad(rl_mean, (0, pad))

    def pass_2(i):
        row_ids, Kb, Lb, keep, diagonal = tile(i)
        return _centred_block_sums(
            Kb, Lb, keep, diagonal, rk_pad[row_ids], rk_mean, gk, rl_pad[row_ids], rl_mean, gl
        )

    partials = gather(jax.lax.map(pass_2, tiles))
    totals = (jnp.sum(k_totals), jnp.sum(l_totals))
    return _finish(partials, totals, (jnp.sum(k_traces), jnp.sum(l_traces)))


@functools.partial(jax.jit, static_argnames=("unbiased", "rows"))
def _tiled_sums(kx, ky, x, y, *, unbiased: bool, rows: int) -> CentredSums:
    """The same sums as ``_dense_sums``, streaming over ``rows``-row tiles: O(n) memory."""
    n_tiles = -(-x.shape[0] // rows)
    pad = n_tiles * rows - x.shape[0]
    return _two_pass_sums(
        kx, ky, x, y, jnp.arange(n_tiles), unbiased=unbiased, rows=rows, pad=pad
    )


def prepare_pair(
    x, y, kernel_x, kernel_y, *, dtype, min_n: int, reason: str, constant: str = "warn"
):
    """Validate ``x`` and ``y``, and fit their kernels: steps 1 and 2 of every API call.

    A constant variable (every row identical) gets a warning (``constant="warn"``: its HSIC is
    0) or an error (``constant="raise"``: nothing can be tested). Must be called inside
    ``precision`` for ``dtype``.
    """
    kx = _kernels.get_kernel(kernel_x, "kernel_x")
    ky = _kernels.get_kernel(kernel_y, "kernel_y")
    x = as_samples(x, "x", dtype=dtype, square=isinstance(kx, _kernels.Precomputed))
    y = as_samples(y, "y", dtype=dtype, square=isinstance(ky, _kernels.Precomputed))
    check_same_n(x, y, min_n=min_n, reason=reason)
    for arr, name in ((x, "x"), (y, "y")):
        if is_constant(arr):
            if constant == "raise":
                raise ValueError(
                    f"`{name}` is constant (every row is identical): it carries no information, "
                    "so independence cannot be tested. Remove it, or check how it was loaded."
                )
            warnings.warn(
                f"`{name}` is constant (every row is identical), so its HSIC with any variable "
                "is 0.",
                RuntimeWarning,
                stacklevel=3,
            )
    return x, y, kx.fit(x, name="x"), ky.fit(y, name="y")


def choose_algorithm(algorithm: str, kx, ky) -> str:
    """Resolve ``algorithm="auto"``: tiled whenever both kernels allow it (see module notes)."""
    check_choice(algorithm, "algorithm", ALGORITHMS)
    tileable = kx.supports_cross and ky.supports_cross
    if algorithm == "tiled" and not tileable:
        raise ValueError(
            "`algorithm`='tiled' cannot be used with a 'precomputed' kernel, whose Gram matrix "
            "is already in memory; use algorithm='dense'."
        )
    if algorithm == "auto":
        return "tiled" if tileable else "dense"
    return algorithm


def centred_sums(x, y, kx, ky, *, estimator: str, algorithm: str, mesh=None) -> CentredSums:
    """Dispatch to the dense or tiled algorithm (both exact), the tiles split over ``mesh``'s
    devices when a mesh is given."""
    unbiased = estimator == "unbiased"
    algorithm = choose_algorithm(algorithm, kx, ky)
    if mesh is not None:
        if algorithm == "dense":
            raise ValueError(
                "`devices`/`mesh` split the tiles of algorithm='tiled' over devices; "
                "use algorithm='auto' or 'tiled', or drop `devices`/`mesh`."
            )
        from hsic._sharding import sharded_centred_sums

        rows = tile_rows(x.shape[0])
        return sharded_centred_sums(kx, ky, x, y, unbiased=unbiased, rows=rows, mesh=mesh)
    if algorithm == "dense":
        if not (isinstance(kx, _kernels.Precomputed) and isinstance(ky, _kernels.Precomputed)):
            check_fits_in_memory(
                x.shape[0], 4, x.dtype, what="algorithm='dense'",
                instead="Use algorithm='tiled', which is exact and needs O(n) memory.",
            )
        return _dense_sums(kx, ky, x, y, unbiased=unbiased)
    return _tiled_sums(kx, ky, x, y, unbiased=unbiased, rows=tile_rows(x.shape[0]))


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
    seed: int | Any = 0,
) -> jax.Array:
    """The Hilbert–Schmidt independence criterion between samples of x and y.

    * ``"biased"``: ``HSIC_b = tr(K H L H) / n²``, ``H = I − 11ᵀ/n`` (Gretton et al. 2005).
    * ``"unbiased"``: Song et al. (2012), eq. 5, with the ``1/(n(n−3))`` factor (n >= 4).

    For large n, three approximations (Zhang et al. 2018) cost O(n) instead of O(n²); their
    errors against the exact statistics are stated in the [scaling guide](scaling.md):

    * ``"rff"``: ``HSIC_b`` of random-Fourier-feature Gram matrices (Gaussian kernels only;
      ``n_features`` = D per variable, default 100; frequencies from ``seed``). Unbiased for
      the exact ``HSIC_b`` given the data, standard deviation O(1/√D).
    * ``"nystrom"``: ``HSIC_b`` of Nyström Gram matrices (``n_features`` = m landmarks per
      variable, default 100, drawn from ``seed``).
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
      seed: ``"rff"`` and ``"nystrom"``: a non-negative int or a JAX key.

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
        from hsic._large_scale import approximate_hsic  # it builds on this module

        return approximate_hsic(
            x, y, estimator, kernel_x=kernel_x, kernel_y=kernel_y, n_features=n_features,
            block_size=block_size, seed=seed, dtype=dtype,
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
        return sums.kl / _normaliser(x.shape[0], estimator)


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
        return _cka(sums.kl, sums.kk, sums.ll)
