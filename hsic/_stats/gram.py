"""Gram matrices and their centred sums: the exact HSIC and CKA statistics.

The statistics are computed on Gram matrices ([`hsic_from_gram`][hsic.hsic_from_gram],
[`cka_from_gram`][hsic.cka_from_gram]) or, through ``centred_sums``, on data. On data there
are two exact algorithms:

* ``"tiled"`` streams over blocks of rows and needs O(n) memory (two passes: row sums first,
  then the centred products). Each Gram block is computed twice and never stored. With a
  device mesh, the tiles are split over the devices (``jax.shard_map``; each device runs both
  passes on its own run of tiles, and the row sums and per-tile partials are all-gathered).
* ``"dense"`` materialises both ``n × n`` Gram matrices.

``algorithm="auto"`` is ``"tiled"``, and ``"dense"`` only for precomputed Gram matrices: on
a CPU, writing ``n × n`` arrays to fresh memory costs more than computing the kernel twice
(see ``benchmarks/README.md``).

Both centre the matrices explicitly before multiplying (rather than expanding
``tr(KHLH)`` into large terms that cancel), which keeps float32 accurate as n grows.

**Padded sizes.** A jitted kernel compiles once per input shape. So that a new n does not
compile again, concrete data are padded on the host to ``bucket_size(n)`` rows (a few sizes
per octave, steps of at most 64 rows) and the kernels take the true n as a traced scalar: the
padding rows and columns are masked out of every sum, and centring divides by n, so the
results are those of the unpadded data to float rounding (``padded_pair``,
``masked_centred_grams``).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jax.typing import ArrayLike

from hsic._base.devices import check_mesh
from hsic._base.validation import (
    check_choice,
    check_fits_in_memory,
    check_positive_int,
    is_traced,
)
from hsic._stats import kernels as _kernels

__all__ = [
    "ALGORITHMS",
    "CentredSums",
    "ESTIMATORS",
    "MIN_N",
    "bucket_size",
    "centre",
    "centre_entries",
    "centred_grams",
    "centred_sums",
    "centring_means",
    "cka",
    "cka_from_gram",
    "hsic_from_gram",
    "masked_centred_grams",
    "normaliser",
    "padded_pair",
    "sharded_centred_sums",
    "tile_rows",
]

ESTIMATORS = ("biased", "unbiased")


ALGORITHMS = ("auto", "dense", "tiled")
#: Smallest n of each estimator.
MIN_N = {"biased": 2, "unbiased": 4}


def centre_entries(
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


def centring_means(row_sums: jax.Array, n: Any, unbiased: bool) -> tuple[jax.Array, jax.Array]:
    """Row means and grand mean for centring, from the row sums; ``n`` is the number of
    samples, an int or (for padded data, see ``padded_pair``) a traced scalar."""
    total = jnp.sum(row_sums)
    n = float(n) if isinstance(n, (int, float, np.integer)) else jnp.asarray(n, row_sums.dtype)
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
    if off_diagonal is not None:  # unbiased
        K = jnp.where(off_diagonal, K, 0.0)
    row_means, grand_mean = centring_means(jnp.sum(K, axis=1), n, unbiased)
    col_means, _ = centring_means(jnp.sum(K, axis=0), n, unbiased)
    return centre_entries(K, row_means, col_means, grand_mean, off_diagonal)


def normaliser(n: int, estimator: str) -> float:
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
    return jnp.sum(Kc * Lc) / normaliser(Kc.shape[0], estimator)


def cka(kl: jax.Array, kk: jax.Array, ll: jax.Array) -> jax.Array:
    """CKA from the three centred inner products, 0 where a variance is 0, clipped to [0, 1].

    The square root only sees positive values, so that its gradient is finite (0) where a
    variance is 0 (a constant batch), rather than ``0 · ∞ = NaN``."""
    product = kk * ll
    safe = product > 0
    denom = jnp.sqrt(jnp.where(safe, product, 1.0))
    return jnp.clip(jnp.where(safe, kl / denom, 0.0), 0.0, 1.0)


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
    return cka(jnp.sum(Kc * Lc), jnp.sum(Kc * Kc), jnp.sum(Lc * Lc))


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
    Kc = centre_entries(jnp.where(keep, Kb, 0.0), rk_rows, rk, gk, keep)
    Lc = centre_entries(jnp.where(keep, Lb, 0.0), rl_rows, rl, gl, keep)
    product = Kc * Lc
    kl_sq_off = jnp.sum(jnp.where(diagonal, 0.0, product * product))
    return jnp.sum(product), jnp.sum(Kc * Kc), jnp.sum(Lc * Lc), kl_sq_off


def _unpadded(n: Any, m: int) -> bool:
    """Whether the true sample count ``n`` is known to be all ``m`` rows (no padding)."""
    return isinstance(n, (int, np.integer)) and int(n) == m


def _block_masks(row_ids, n, unbiased, m):
    """Masks of a block of rows ``row_ids`` against ``m`` columns, of which the first ``n``
    are samples (the rest padding): ``keep`` (the entries summed) and the diagonal."""
    columns = jnp.arange(m)
    valid = (row_ids < n)[:, None]
    if not _unpadded(n, m):
        valid = valid & (columns < n)[None, :]
    diagonal = row_ids[:, None] == columns[None, :]
    keep = valid & ~diagonal if unbiased else valid
    return keep, diagonal & valid


def _sample_mean(x: jax.Array, n: Any) -> jax.Array:
    """The mean of the first ``n`` rows of ``x`` (the rest padding): the shift of the distance
    expansion (see ``hsic._stats.distances``), the same whether or not ``x`` is padded."""
    if _unpadded(n, x.shape[0]):
        return jnp.mean(x, axis=0)
    valid = (jnp.arange(x.shape[0]) < n)[:, None]
    return jnp.sum(jnp.where(valid, x, 0.0), axis=0) / jnp.asarray(n, x.dtype)


def _finish(partials, totals, traces):
    """Add the per-block partial sums: a two-level sum that does not drift with n."""
    kl, kk, ll, kl_sq_off = (jnp.sum(p) for p in partials)
    return CentredSums(kl, kk, ll, kl_sq_off, *totals, *traces)


@functools.partial(jax.jit, static_argnames=("unbiased",))
def _dense_sums(kx, ky, x, y, n, *, unbiased: bool) -> CentredSums:
    """All of ``CentredSums`` from the full Gram matrices of the first ``n`` rows of ``x`` and
    ``y`` (a traced scalar: the rest is padding, see ``padded_pair``)."""
    m = x.shape[0]
    K = kx.gram(x, shift=_sample_mean(x, n))
    L = ky.gram(y, shift=_sample_mean(y, n))
    keep, diagonal = _block_masks(jnp.arange(m), n, unbiased, m)
    rk, rl, k_trace, l_trace = _row_sums(K, L, keep, diagonal)
    rk_mean, gk = centring_means(rk, n, unbiased)
    rl_mean, gl = centring_means(rl, n, unbiased)
    partials = _centred_block_sums(K, L, keep, diagonal, rk_mean, rk_mean, gk, rl_mean, rl_mean, gl)
    valid = keep | diagonal
    totals = (jnp.sum(jnp.where(valid, K, 0.0)), jnp.sum(jnp.where(valid, L, 0.0)))
    return _finish(partials, totals, (k_trace, l_trace))


def tile_rows(n: int) -> int:
    """Rows per tile of the tiled path: a power of two near ``2²⁰ / n``, from 16 to 1024,
    and no more than n rounded up to a power of two (so small n is not mostly padding)."""
    rows = min(1024, max(16, 2 ** math.floor(math.log2(max(2**20 / n, 1)))))
    return int(min(rows, 2 ** math.ceil(math.log2(n))))


def two_pass_sums(
    kx, ky, x, y, tiles, *, unbiased: bool, rows: int, pad: int, gather=None, n=None
):
    """The two passes of the tiled algorithm over the row tiles ``tiles``.

    Pass 1 computes the row sums, pass 2 the centred products; each tile's Gram blocks are
    computed in both passes and never stored. ``x`` and ``y`` are padded with ``pad`` rows
    (masked out). ``gather`` combines the per-tile results of several devices (the sharded
    path passes an all-gather); by default ``tiles`` are all the tiles. ``n`` is the number
    of samples when only the first rows of ``x`` and ``y`` are samples (a traced scalar, see
    ``padded_pair``); by default all of them.
    """
    gather = gather or (lambda tree: tree)
    m = x.shape[0]
    n = m if n is None else n
    xp = jnp.pad(x, ((0, pad), (0, 0)))
    yp = jnp.pad(y, ((0, pad), (0, 0)))
    shift_x, shift_y = _sample_mean(x, n), _sample_mean(y, n)

    def tile(i):
        row_ids = i * rows + jnp.arange(rows)
        Kb = kx.gram(jax.lax.dynamic_slice_in_dim(xp, i * rows, rows), x, shift=shift_x)
        Lb = ky.gram(jax.lax.dynamic_slice_in_dim(yp, i * rows, rows), y, shift=shift_y)
        return row_ids, Kb, Lb, *_block_masks(row_ids, n, unbiased, m)

    def pass_1(i):
        _, Kb, Lb, keep, diagonal = tile(i)
        rk, rl, k_trace, l_trace = _row_sums(Kb, Lb, keep | diagonal, diagonal)
        if unbiased:  # row sums without the diagonal, totals with it
            rk_off, rl_off, _, _ = _row_sums(Kb, Lb, keep, diagonal)
            return rk_off, rl_off, jnp.sum(rk), jnp.sum(rl), k_trace, l_trace
        return rk, rl, jnp.sum(rk), jnp.sum(rl), k_trace, l_trace

    rk, rl, k_totals, l_totals, k_traces, l_traces = gather(jax.lax.map(pass_1, tiles))
    rk_mean, gk = centring_means(rk.reshape(-1)[:m], n, unbiased)  # 0 beyond n
    rl_mean, gl = centring_means(rl.reshape(-1)[:m], n, unbiased)
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
def _tiled_sums(kx, ky, x, y, n, *, unbiased: bool, rows: int) -> CentredSums:
    """The same sums as ``_dense_sums``, streaming over ``rows``-row tiles: O(n) memory."""
    n_tiles = -(-x.shape[0] // rows)
    pad = n_tiles * rows - x.shape[0]
    return two_pass_sums(
        kx, ky, x, y, jnp.arange(n_tiles), unbiased=unbiased, rows=rows, pad=pad, n=n
    )


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
        rows = tile_rows(x.shape[0])
        return sharded_centred_sums(kx, ky, x, y, unbiased=unbiased, rows=rows, mesh=mesh)
    if algorithm == "dense":
        if not (isinstance(kx, _kernels.Precomputed) and isinstance(ky, _kernels.Precomputed)):
            check_fits_in_memory(
                x.shape[0], 4, x.dtype, what="algorithm='dense'",
                instead="Use algorithm='tiled', which is exact and needs O(n) memory.",
            )
        xp, yp, n = padded_pair(x, y, kx, ky)
        return _dense_sums(kx, ky, xp, yp, n, unbiased=unbiased)
    xp, yp, n = padded_pair(x, y, kx, ky)
    return _tiled_sums(kx, ky, xp, yp, n, unbiased=unbiased, rows=tile_rows(xp.shape[0]))


def sharded_centred_sums(
    kx, ky, x: ArrayLike, y: ArrayLike, *, unbiased: bool, rows: int, mesh: Mesh
) -> CentredSums:
    """The tiled ``CentredSums``, with the tiles split over the devices of ``mesh``.

    The same sums as ````_tiled_sums```` (equal to float rounding): with
    ``K̄, L̄`` the double-centred (or, with ``unbiased=True``, U-centred) Gram matrices,
    ``kl = Σ K̄∘L̄``, ``kk = Σ K̄∘K̄``, ``ll = Σ L̄∘L̄``, ``kl_sq_off = Σ_{i≠j} (K̄_ij L̄_ij)²``,
    and the totals and traces of ``K`` and ``L``. Each device holds ``x``, ``y`` and the n row
    sums, and one ``rows × n`` Gram block at a time: O(n) memory per device. The
    ``ceil(n / rows)`` tiles are padded to a multiple of the device count, and split into
    contiguous runs, one per device.

    Args:
      kx: fitted kernel of x (one that supports cross Gram matrices: not ``Precomputed``).
      ky: fitted kernel of y.
      x: ``(n, d_x)`` samples.
      y: ``(n, d_y)`` samples.
      unbiased: U-centring (for the unbiased statistic) instead of double centring.
      rows: rows per tile (see ``tile_rows``).
      mesh: a 1-D device mesh, e.g. from ``make_mesh``.

    Returns:
      The sums, as scalars replicated on every device of ``mesh``.

    Example:
      >>> import jax.numpy as jnp
      >>> from hsic._base.devices import make_mesh
      >>> from hsic._stats.gram import centred_sums, sharded_centred_sums
      >>> from hsic.kernels import Gaussian
      >>> x = jnp.linspace(0.0, 1.0, 50)[:, None]
      >>> k = Gaussian(0.5)
      >>> sums = sharded_centred_sums(k, k, x, x**2, unbiased=False, rows=16, mesh=make_mesh())
      >>> single = centred_sums(x, x**2, k, k, estimator="biased", algorithm="tiled")
      >>> bool(jnp.allclose(sums.kl, single.kl, rtol=1e-6))
      True
    """
    check_mesh(mesh)
    rows = check_positive_int(rows, "rows")
    for kernel, name in ((kx, "kx"), (ky, "ky")):
        if not kernel.supports_cross:
            raise ValueError(
                f"`{name}` ({type(kernel).__name__}) has no cross Gram matrix, so its tiles "
                "cannot be split over devices; compute it without a mesh."
            )
    # Explicit placement: every device gets x, y and the kernels' parameters. Python floats
    # among the parameters go as NumPy scalars of the data's dtype (the value jit would round
    # them to anyway): on a mesh spanning several processes, device_put checks that every
    # process passes the same value, and JAX 0.10 compares a Python float with its float32
    # copy there, which fails for most bandwidths (tests/test_multihost.py).
    dtype = jnp.result_type(x)
    kx, ky = (
        jax.tree_util.tree_map(
            lambda v: np.asarray(v, dtype) if isinstance(v, float) else v, kernel
        )
        for kernel in (kx, ky)
    )
    kx, ky, x, y = jax.device_put((kx, ky, x, y), NamedSharding(mesh, P()))
    return _sharded_sums(kx, ky, x, y, unbiased=unbiased, rows=int(rows), mesh=mesh)


@functools.partial(jax.jit, static_argnames=("unbiased", "rows", "mesh"))
def _sharded_sums(kx, ky, x, y, *, unbiased: bool, rows: int, mesh: Mesh) -> CentredSums:
    axis = mesh.axis_names[0]
    n = x.shape[0]
    per_device = -(-n // (rows * mesh.size))  # tiles per device
    pad = per_device * mesh.size * rows - n

    def gather(tree):  # concatenate the devices' per-tile values, in tile order
        return jax.lax.all_gather(tree, axis, tiled=True, to="invarying")

    def local(kx, ky, x, y):  # the two passes of _tiled_sums, on this device's tiles only
        tiles = jax.lax.axis_index(axis) * per_device + jnp.arange(per_device)
        return two_pass_sums(
            kx, ky, x, y, tiles, unbiased=unbiased, rows=rows, pad=pad, gather=gather
        )

    replicated = (P(), P(), P(), P())
    return jax.shard_map(local, mesh=mesh, in_specs=replicated, out_specs=P())(kx, ky, x, y)


@jax.jit
def centred_grams(kx, ky, x: jax.Array, y: jax.Array):
    """``(K̄, L̄, HSIC_b)`` for fitted kernels: the Gram matrices computed once per test."""
    Kc = centre(kx.gram(x))
    Lc = centre(ky.gram(y))
    return Kc, Lc, jnp.sum(Kc * Lc) / float(x.shape[0]) ** 2


# Padding to a few sizes, so that a new n does not compile the kernels again. -----------------

#: The largest step between the padded sizes of ``bucket_size``.
BUCKET_STEP = 64


def bucket_size(n: int) -> int:
    """The number of rows ``n`` samples are padded to before a jitted kernel sees them.

    ``n`` rounded up to a multiple of ``s = min(64, 2^(⌈log₂ n⌉ − 2))``, a quarter of the
    power of two at or above n, and at most ``BUCKET_STEP``: the sizes are ..., 48, 64, 96,
    128, 192, 256, 320, 384, ... . Each jitted kernel compiles once per size, so the 101
    values of n from 100 to 200 share three (128, 192, 256). Padding adds fewer than s rows:
    at most half of n (just above 128), fewer than 64 beyond (under 6.3 % of n above 1024,
    under 0.7 % above 10⁴).

    Example:
      >>> from hsic._stats.gram import bucket_size
      >>> [bucket_size(n) for n in (5, 100, 150, 200, 1000, 10_000)]
      [6, 128, 192, 256, 1024, 10048]
    """
    step = min(BUCKET_STEP, 2 ** max(0, (n - 1).bit_length() - 2))
    return -(-n // step) * step


def _pad_rows_host(a: Any, m: int, square: bool) -> jax.Array:
    """``a`` with rows appended up to ``m`` on the host (copies of its last row, or zero rows
    and columns for a precomputed Gram matrix), then sent where ``a`` was. The padding is
    finite and masked out by every kernel that takes ``n``."""
    host = np.asarray(jax.device_get(a))  # explicit transfers only, here and below
    extra = m - host.shape[0]
    if square:
        padded = np.pad(host, ((0, extra), (0, extra)))
    else:
        padded = np.pad(host, ((0, extra), (0, 0)), mode="edge")
    if isinstance(a, jax.Array) and a.committed:
        return jax.device_put(padded, a.sharding)
    return jax.device_put(padded)


def padded_pair(x: Any, y: Any, kx: Any, ky: Any) -> tuple[Any, Any, Any]:
    """``(x, y, n)`` with ``x`` and ``y`` padded to ``bucket_size(n)`` rows, for the jitted
    kernels that take the true ``n`` as a traced argument (and mask the padding exactly, so
    their results are those of the unpadded data to float rounding); ``n`` is an int32
    device scalar, sent explicitly. Traced inputs (inside a user's ``jax.jit``) have their own
    fixed shapes: they are not padded, and ``n`` is their int row count."""
    n = x.shape[0]
    if is_traced(x) or is_traced(y):
        return x, y, n
    count = jax.device_put(np.int32(n))
    m = bucket_size(n)
    if m == n:
        return x, y, count
    square_x = isinstance(kx, _kernels.Precomputed)
    square_y = isinstance(ky, _kernels.Precomputed)
    return _pad_rows_host(x, m, square_x), _pad_rows_host(y, m, square_y), count


def _masked_centre(K: jax.Array, mask: jax.Array, n: Any) -> jax.Array:
    """``H K H`` of the block of ``K`` inside ``mask`` (n × n), zero outside it."""
    K = jnp.where(mask, K, 0.0)
    row_means, grand_mean = centring_means(jnp.sum(K, axis=1), n, False)
    col_means, _ = centring_means(jnp.sum(K, axis=0), n, False)
    return centre_entries(K, row_means, col_means, grand_mean, mask)


def masked_centred_grams(kx, ky, x: jax.Array, y: jax.Array, n: Any):
    """``(K̄, L̄, HSIC_b)`` of the first ``n`` rows of ``x`` and ``y`` (the rest padding, from
    ``padded_pair``; ``n`` may be traced): ``K̄`` and ``L̄`` are ``m × m``, the double-centred
    Gram matrices of the samples in their top-left ``n × n`` block and zero elsewhere, so
    every sum over them is that of the unpadded matrices. Call it inside ``jax.jit``."""
    m = x.shape[0]
    valid = jnp.arange(m) < n
    mask = valid[:, None] & valid[None, :]
    Kc = _masked_centre(kx.gram(x, shift=_sample_mean(x, n)), mask, n)
    Lc = _masked_centre(ky.gram(y, shift=_sample_mean(y, n)), mask, n)
    n_float = jnp.asarray(n, Kc.dtype)
    return Kc, Lc, jnp.sum(Kc * Lc) / (n_float * n_float)
