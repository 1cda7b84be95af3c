"""The Kraskov-Stögbauer-Grassberger (KSG) k-nearest-neighbour MI estimators.

This module owns [`ksg`][hsic.mi.ksg] and its exact, tiled neighbour searches in JAX:

* ``"brute"``: blocks of query rows against all points (any dimensions), O(n²) work and
  O(block · n) memory;
* ``"sorted"``: for one-dimensional ``x`` and ``y``. The points, sorted by ``x``, are cut into
  columns of about √(k n)/4 consecutive x-ranks, each sorted by ``y``; each point's k nearest
  neighbours are searched among the 8 points nearest in y in its own column and in the 3
  columns on either side, and checks on the nearest points outside those (in y within the
  columns, or in x to a column; in x beyond them) prove that they held them. Points that
  fail (about 5 % on Gaussian data) are redone in windows of 0.7·√(k n), 4, 16, ... times as
  many ranks along sorted x, then along sorted y, while a window spans under a quarter of
  the points, then by ``"brute"``. The
  marginal counts come from binary searches on the sorted coordinates: about O(n log n)
  work, plus O(√(k n)) for each point the grid leaves, on continuous data.

Both give the same counts, and so the same estimate (a test checks it). The digamma averages
are taken on the host in float64.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from scipy.special import digamma

from hsic._base.rng import as_generator
from hsic._base.validation import (
    check_choice,
    check_number,
    check_positive_int,
    float_dtype,
    precision,
)
from hsic._stats.distances import first_false
from hsic.mi._common import check_base, check_pair, to_base

__all__ = ["ksg"]

ALGORITHMS = ("auto", "brute", "sorted")
_TILE_ELEMENTS = 1 << 21  # entries of one (block, n) distance tile: 8 MiB in float32
_SLICES = 32  # slices of a row in _smallest_by_lane (the choice: benchmarks/README.md, KSG)


def ksg(
    x: Any,
    y: Any,
    *,
    k: int = 3,
    variant: Literal[1, 2] = 1,
    base: float | None = None,
    algorithm: Literal["auto", "brute", "sorted"] = "auto",
    dtype: str | np.dtype | None = None,
    jitter: float | None = None,
    rng: Any = 0,
) -> float:
    r"""Kraskov-Stögbauer-Grassberger estimate of the mutual information I(X; Y).

    Distances are max-norms: for z = (x, y), ‖z_i − z_j‖ = max(‖x_i − x_j‖_∞, ‖y_i − y_j‖_∞).
    For each point i (the point itself is never its own neighbour):

    * ε_i/2 is the distance from z_i to its k-th nearest neighbour in the joint space.
    * **Variant 1** (Kraskov et al. 2004, eq. 8): n_x(i) = #{j ≠ i : ‖x_i − x_j‖ < ε_i/2},
      strictly closer, and likewise n_y(i); then

      I⁽¹⁾ = ψ(k) + ψ(n) − ⟨ψ(n_x + 1) + ψ(n_y + 1)⟩.

    * **Variant 2** (eq. 9): ε_x(i)/2 = max ‖x_i − x_j‖ and ε_y(i)/2 = max ‖y_i − y_j‖ over the
      k nearest neighbours j; n_x(i) = #{j ≠ i : ‖x_i − x_j‖ ≤ ε_x(i)/2}, at most that far, and
      likewise n_y(i); then

      I⁽²⁾ = ψ(k) − 1/k + ψ(n) − ⟨ψ(n_x) + ψ(n_y)⟩.

    ⟨·⟩ is the mean over the n points and ψ the digamma function.

    **Ties.** The counts are exact: the inequalities above are evaluated as written on the
    distances computed in ``dtype``, and by default no noise is added. Variant 1 needs only
    the k-th distance, which ties do not make ambiguous. For variant 2, when several points tie
    at the k-th distance, all of them count as neighbours in ε_x and ε_y (so the result does
    not depend on the order of the samples).

    **Discrete data.** A point with k or more exact duplicates (in x and y together) has
    ε_i = 0 and counts n_x = n_y = 0, which adds about ψ(n) to the average: on discrete data
    the estimate can reach 8 nats where the MI is at most log 3. Such data are refused with a
    ``ValueError``, unless ``jitter`` is given: then, as scikit-learn's
    ``mutual_info_regression`` does, Gaussian noise breaks the ties first, of standard
    deviation ``jitter · max(sd, mean |v|)`` in each column (``sd`` its standard deviation;
    1 for an all-zero column), drawn from ``rng`` (x's noise, then y's). scikit-learn uses
    ``jitter = 1e-10`` on data it has first rescaled to unit variance, which is the same noise
    in the data's own units; it survives rounding only in float64, so pass
    ``dtype="float64"`` with it (in float32 the ties would remain, and the error says so).
    The estimate then treats each discrete value as a tiny continuous cluster.

    **Speed.** The neighbour search runs jitted in JAX with no loop over points: blocks of
    rows against all points (``"brute"``, O(n²)), or, for 1-D data, a grid of x-rank columns
    sorted by y, then windows along sorted x and y for the few points it leaves (``"sorted"``);
    see the module ``hsic.mi._ksg``. n is padded to a geometric grid (8 sizes per doubling)
    and k is traced (up to a power of two), so a new n or k rarely compiles anew.

    Args:
      x: samples of X, ``(n,)`` or ``(n, d_x)``.
      y: samples of Y, ``(n,)`` or ``(n, d_y)``.
      k: the number of neighbours, 1 ≤ k < n. Small k: less bias, more variance.
      variant: 1 or 2, the two estimators of Kraskov et al.
      base: the logarithm's base of the result: None for nats, 2 for bits.
      algorithm: the neighbour search: ``"brute"`` (tiled, any dimensions), ``"sorted"``
        (grid and windowed search along sorted x, 1-D ``x`` and ``y`` only), or ``"auto"``
        (``"sorted"`` for 1-D ``x`` and ``y`` with n ≥ 1000, ``"brute"`` otherwise). All give
        the same counts.
      dtype: ``"float32"`` or ``"float64"`` for the distances; by default float64 when JAX's
        x64 mode is on, float32 otherwise.
      jitter: ``None`` (no noise: discrete data are refused), or the relative size of the
        noise that breaks ties (see **Discrete data**; scikit-learn's is 1e-10).
      rng: the source of that noise: a non-negative int, a JAX key or a NumPy Generator
        (unused without ``jitter``).

    Returns:
      The estimate, a Python float (it can be slightly negative under independence).

    Raises:
      ValueError: on bad input (see ``check_pair``), k < 1 or k ≥ n, variant not 1 or 2, an
        unknown algorithm, ``"sorted"`` with multi-dimensional data, or points with k or more
        exact duplicates (discrete data; see ``jitter``).

    Example:
      >>> import numpy as np, hsic.mi
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=1000)
      >>> y = 0.8 * x + 0.6 * rng.normal(size=1000)   # true MI 0.5108 nats
      >>> round(hsic.mi.ksg(x, y, k=3), 2)
      0.51
      >>> round(hsic.mi.ksg(x, y, variant=2, base=2), 2)   # in bits
      0.73
      >>> labels = rng.integers(0, 3, size=1000)            # discrete: refused without jitter
      >>> noisy = (labels + rng.integers(0, 2, size=1000)) % 3   # MI = log 3 − log 2 = 0.405
      >>> round(hsic.mi.ksg(labels, noisy, jitter=1e-10, dtype="float64"), 1)
      0.4

    References:
      A. Kraskov, H. Stögbauer, P. Grassberger (2004). Estimating mutual information.
      Physical Review E 69, 066138.
    """
    k = check_positive_int(k, "k")
    variant = check_number(variant, "variant", "1 or 2", integer=True, low=1, high=2)
    check_base(base)
    check_choice(algorithm, "algorithm", ALGORITHMS)
    if jitter is not None:
        jitter = check_number(
            jitter, "jitter", "a positive number (the noise's size relative to each column's "
            "scale, e.g. 1e-10), or None", low=0, low_open=True,
        )
    xa, ya = check_pair(x, y, min_n=2, reason="ksg")
    if jitter is not None:
        noise = as_generator(rng)
        xa, ya = _jittered(xa, jitter, noise), _jittered(ya, jitter, noise)
    n = xa.shape[0]
    if k >= n:
        raise ValueError(f"`k` must be smaller than the number of samples n={n}; got {k}.")
    one_d = xa.shape[1] == 1 and ya.shape[1] == 1
    if algorithm == "sorted" and not one_d:
        raise ValueError(
            "`algorithm` 'sorted' needs 1-D `x` and `y`; got dimensions "
            f"{xa.shape[1]} and {ya.shape[1]}. Use 'brute' (or 'auto')."
        )
    dtype = float_dtype(dtype)
    window = _window(n, k)
    if algorithm == "auto":
        algorithm = "sorted" if one_d and n >= 1000 and window is not None else "brute"
    with precision(dtype):
        if algorithm == "sorted":
            nx, ny, eps = _sorted_counts(xa[:, 0], ya[:, 0], k, variant, dtype, window)
        else:
            nx, ny, eps = _brute_counts(xa, ya, k, variant, dtype)
    n_zero = int(np.sum(eps == 0))
    if n_zero:
        what = (
            f"ksg: {n_zero} of {n} points have at least k={k} exact duplicates (zero distance "
            "to their k-th neighbour in x and y together)"
        )
        if jitter is not None:
            raise ValueError(
                f"{what}, even after adding noise of relative size `jitter`={jitter!r}: it "
                f"vanished in the rounding to {np.dtype(dtype)}. Pass dtype='float64', or a "
                "larger `jitter`."
            )
        raise ValueError(
            f"{what}: the data look discrete (or heavily rounded), and the KSG estimators, "
            "made for continuous data, give meaningless values there (each such point adds "
            f"about ψ(n) = {digamma(n):.2g} nats). Pass jitter=1e-10 with dtype='float64' to "
            "break the ties with tiny noise, as scikit-learn does, or use an estimator for "
            "discrete data."
        )
    return to_base(_estimate(nx, ny, n, k, variant), base)


def _jittered(a: np.ndarray, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """``a`` plus Gaussian noise of standard deviation ``jitter · max(sd, mean |a|)`` per column
    (1 for an all-zero column): scikit-learn's tie-breaking rule, in the data's own units."""
    scale = np.maximum(a.std(axis=0), np.abs(a).mean(axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    return a + jitter * scale * rng.standard_normal(a.shape)


def _estimate(nx: np.ndarray, ny: np.ndarray, n: int, k: int, variant: int) -> float:
    """The KSG formula from the counts, in float64."""
    shift = 1 if variant == 1 else 0
    psi = _digamma_table(max(int(nx.max()), int(ny.max())) + shift)
    mean = np.mean(psi[nx + shift] + psi[ny + shift])
    if variant == 1:
        return float(digamma(k) + digamma(n) - mean)
    return float(digamma(k) - 1.0 / k + digamma(n) - mean)


def _digamma_table(top: int) -> np.ndarray:
    """ψ(0), ψ(1), ..., ψ(top), from ψ(m) = −γ + Σ_{j=1}^{m−1} 1/j for m ≥ 1.

    The counts are integers up to n: partial harmonic sums are much cheaper than
    ``scipy.special.digamma`` on 2n values, and agree with it to 1e-13 up to 10⁵ (a test checks it).
    """
    table = np.empty(top + 1)
    table[0] = digamma(0.0)
    if top:
        table[1] = -np.euler_gamma
        table[2:] = -np.euler_gamma + np.cumsum(1.0 / np.arange(1, top))
    return table


def _bucket(n: int, minimum: int = 16) -> int:
    """Round ``n`` up on a geometric grid (8 steps per doubling), so few sizes compile."""
    step = max(minimum, 1 << max(0, n.bit_length() - 4))
    return -(-n // step) * step


def _block(m: int) -> int:
    """Rows per tile: a power of two with block · m about ``_TILE_ELEMENTS``, in [8, 1024]."""
    b = max(8, min(1024, _TILE_ELEMENTS // max(m, 1)))
    return 1 << (b.bit_length() - 1)


def _window(n: int, k: int) -> int | None:
    """First half-width of the sorted-search windows (None when it would cover all points).

    About 0.7 √(k n) ranks: in two dimensions the k-th neighbour distance scales as √(k/n),
    and so the number of points in the x-strip it spans as √(k n); on Gaussian data 90 % of
    the points need fewer than 0.7 √(k n) ranks on either side. Rows whose neighbours lie
    further out go on to windows 4, 16, ... times wider, then to brute force.
    """
    w = 1 << max(4, round(math.log2(0.7 * math.sqrt(k * n))))
    return w if 3 * w <= n else None


def _kth_smallest(d, k, registers=None):
    """The k-th smallest entry of each row of ``d``, counting repeated values.

    k passes of (min over the entries above the last distinct value, count of its copies):
    cheaper on the CPU than ``lax.top_k``, which XLA lowers to a full sort of each row. ``k``
    may be traced, so a new k does not compile anew. With ``registers`` (static, ≥ k) the
    passes run on a shortlist, ``_smallest_by_lane``: fewer of the reductions, which are slow
    on the CPU.
    """
    if registers is not None and d.shape[1] > _SLICES * registers:
        d = _smallest_by_lane(d, registers, _SLICES)

    def step(_, carry):
        prev, seen, kth = carry
        t = jnp.min(jnp.where(d > prev[:, None], d, jnp.inf), axis=1)
        now = seen + jnp.sum(d == t[:, None], axis=1, dtype=jnp.int32)
        kth = jnp.where((seen < k) & (now >= k), t, kth)
        return t, now, kth

    rows = d.shape[:1]
    init = (
        jnp.full(rows, -jnp.inf, d.dtype),
        jnp.zeros(rows, jnp.int32),
        jnp.full(rows, jnp.inf, d.dtype),
    )
    return lax.fori_loop(0, k, step, init)[2]


def _smallest_by_lane(d, registers, slices):
    """A shortlist of each row of ``d`` that holds its ``registers`` smallest entries.

    The row is cut into ``slices`` contiguous slices of ``width`` entries; lane j holds
    entry j of every slice. The slices are inserted one by one into ``registers`` sorted
    registers per lane (elementwise min/max, which the CPU vectorises), which end up with the
    lane's smallest entries, repeats included. The k ≤ ``registers`` smallest of the row are
    among them. Returns a (rows, registers · width) array.
    """
    rows, n = d.shape
    width = -(-n // slices)
    d = jnp.pad(d, ((0, 0), (0, width * slices - n)), constant_values=jnp.inf)
    regs = [jnp.full((rows, width), jnp.inf, d.dtype)] * registers
    for j in range(slices):
        regs = _insert_sorted(regs, d[:, j * width : (j + 1) * width])
    return jnp.concatenate(regs, axis=1)


def _insert_sorted(regs, d) -> list:
    """Registers ``regs[0] <= regs[1] <= ...`` (elementwise) with ``d`` inserted: they keep
    the smallest values seen so far, repeats included; the largest drops out."""
    regs = list(regs)
    for r in range(len(regs) - 1, 0, -1):
        regs[r] = jnp.minimum(regs[r], jnp.maximum(regs[r - 1], d))
    regs[0] = jnp.minimum(regs[0], d)
    return regs


def _registers(k: int) -> int | None:
    """Registers for ``_smallest_by_lane``: 3 or 7 (the next 2^j − 1 ≥ k, so that a new k
    rarely compiles anew); None for k > 7, where the unrolled insertions would cost more
    compile time than they save."""
    r = max(4, 1 << k.bit_length()) - 1
    return r if r <= 7 else None


# ---------------------------------------------------------------------------------------------
# brute force: blocks of query rows against all points


@partial(jax.jit, static_argnames=("variant", "block", "registers"))
def _brute_kernel(x, y, rows, n_valid, *, k, variant, block, registers):
    """Thresholds and counts for the query ``rows`` (a multiple of ``block``) against all points.

    ``x`` (m, d_x) and ``y`` (m, d_y) hold ``n_valid`` real points, then padding. Returns
    ``(eps, ex, ey, nx, ny)`` per query row, with ``ex``/``ey`` the thresholds of the marginal
    counts (ε/2 for variant 1, ε_x/2 and ε_y/2 for variant 2).
    """
    m = x.shape[0]
    cols = jnp.arange(m)

    def maxnorm(a, rows_a):
        d = jnp.abs(rows_a[:, 0:1] - a[None, :, 0])
        for c in range(1, a.shape[1]):  # static, small: no (block, m, d) intermediate
            d = jnp.maximum(d, jnp.abs(rows_a[:, c : c + 1] - a[None, :, c]))
        return d

    def one_block(idx):
        dx = maxnorm(x, x[idx])
        dy = maxnorm(y, y[idx])
        other = (cols[None, :] < n_valid) & (cols[None, :] != idx[:, None])
        dz = jnp.where(other, jnp.maximum(dx, dy), jnp.inf)
        eps = _kth_smallest(dz, k, registers)
        if variant == 1:
            ex = ey = eps
            nx = jnp.sum(other & (dx < eps[:, None]), axis=1)
            ny = jnp.sum(other & (dy < eps[:, None]), axis=1)
        else:
            ball = other & (dz <= eps[:, None])
            ex = jnp.max(jnp.where(ball, dx, -jnp.inf), axis=1)
            ey = jnp.max(jnp.where(ball, dy, -jnp.inf), axis=1)
            nx = jnp.sum(other & (dx <= ex[:, None]), axis=1)
            ny = jnp.sum(other & (dy <= ey[:, None]), axis=1)
        return eps, ex, ey, nx, ny

    out = lax.map(one_block, rows.reshape(-1, block))
    return tuple(o.reshape(-1) for o in out)


def _pad_rows(a: np.ndarray, m: int) -> np.ndarray:
    return np.concatenate([a, np.zeros((m - a.shape[0],) + a.shape[1:], a.dtype)])


def _brute(x: np.ndarray, y: np.ndarray, rows: np.ndarray, k: int, variant: int, dtype):
    """Run ``_brute_kernel`` for query ``rows`` of the points ``x``, ``y`` (NumPy, unpadded)."""
    n = x.shape[0]
    m = _bucket(n)
    # The last few rows of the sorted search: padded to 8 or more, not 64, as each costs n.
    padded, block = _padded_rows(rows, _block(m), pow2=len(rows) < n, least=8)
    out = _brute_kernel(
        np.asarray(_pad_rows(x, m), dtype),
        np.asarray(_pad_rows(y, m), dtype),
        padded,
        np.int32(n),
        k=np.int32(k),
        variant=variant,
        block=block,
        registers=_registers(k),
    )
    return tuple(np.asarray(o)[: len(rows)] for o in out)


def _brute_counts(x, y, k, variant, dtype):
    eps, _, _, nx, ny = _brute(x, y, np.arange(x.shape[0]), k, variant, dtype)
    return nx, ny, eps


# ---------------------------------------------------------------------------------------------
# sorted: 1-D x and y, windowed k-NN along sorted x, binary-search counts


@partial(jax.jit, static_argnames=("variant", "w", "block", "registers"))
def _window_kernel(xs, ys, rows, n_valid, *, k, variant, w, block, registers):
    """k-NN thresholds of the query ``rows`` of x-sorted ``xs``, ``ys`` within a window of ranks.

    Row r looks at ranks [s, s + 2w + 1) with s = clip(r − w, 0, n − 2w − 1). Its result is
    proven right (``ok``) when every point outside the window is farther in x alone than the
    k-th distance found inside it (then it is farther in the max-norm too, and cannot be among
    the k nearest nor tie with the k-th); as x is sorted, that is a test on the two nearest
    outsiders, with the same floating-point differences as everywhere else.
    """
    m = xs.shape[0]
    width = 2 * w + 1
    offsets = jnp.arange(width)

    def window(a, s):  # contiguous slices: cheaper on the CPU than a gather of each entry
        return jax.vmap(lambda start: lax.dynamic_slice_in_dim(a, start, width))(s)

    def one_block(r):
        s = jnp.clip(r - w, 0, n_valid - width)
        dx = jnp.abs(window(xs, s) - xs[r][:, None])
        dy = jnp.abs(window(ys, s) - ys[r][:, None])
        other = s[:, None] + offsets[None, :] != r[:, None]
        dz = jnp.where(other, jnp.maximum(dx, dy), jnp.inf)
        eps = _kth_smallest(dz, k, registers)
        left = jnp.where(s > 0, xs[r] - xs[jnp.maximum(s - 1, 0)], jnp.inf)
        after = s + width
        right = jnp.where(after < n_valid, xs[jnp.minimum(after, m - 1)] - xs[r], jnp.inf)
        ok = jnp.minimum(left, right) > eps
        if variant == 1:
            return eps, eps, eps, ok
        ball = other & (dz <= eps[:, None])
        ex = jnp.max(jnp.where(ball, dx, -jnp.inf), axis=1)
        ey = jnp.max(jnp.where(ball, dy, -jnp.inf), axis=1)
        return eps, ex, ey, ok

    out = lax.map(one_block, rows.reshape(-1, block))
    return tuple(o.reshape(-1) for o in out)


@partial(jax.jit, static_argnames=("strict",))
def _count_kernel(sorted_vals, vals, thresholds, *, strict):
    """#{j ≠ i : |v_j − v_i| < t_i} (strict) or ≤ t_i, by binary searches in ``sorted_vals``.

    Exact: the predicate is evaluated on the computed differences fl(v_j − v_i), which are
    monotone in v_j, so the binary search finds the same set as a direct comparison.
    Entries past the real points hold +inf, and fail both predicates.
    """

    def search(pred):
        return first_false(sorted_vals, pred, vals.shape)

    if strict:
        upper = search(lambda v: (v - vals) < thresholds)  # j < upper: v_j − v_i < t
        lower = search(lambda v: (vals - v) >= thresholds)  # j < lower: v_i − v_j ≥ t
        count = upper - lower - 1  # minus the point itself
        return jnp.where(thresholds > 0, count, 0)
    upper = search(lambda v: (v - vals) <= thresholds)
    lower = search(lambda v: (vals - v) > thresholds)
    return upper - lower - 1


@partial(jax.jit, static_argnames=("variant", "h", "reach"))
def _grid_kernel(gx, gy, xs, n_valid, *, k, variant, h, reach):
    """k-NN thresholds of every point from a grid of x-rank columns, each sorted by y.

    ``gx``, ``gy`` (C, m): column c holds the points of x-ranks [c m, (c + 1) m), sorted by y
    (padding: +inf); ``xs`` is x sorted (padding: +inf). Point i of column c looks, in each
    column c − reach, ..., c + reach, at the 2h points nearest to it in y order (its own
    rank ± h in its own column, a binary search in the others). Its k-th distance among those
    is proven right (``ok``) when every other point is farther: the points of the searched
    columns outside the 2h (the larger of the nearest outsider's y-distance, above and
    below, and the x-distance to the column's nearest x) and the columns beyond ``reach``
    (the nearest x beyond, left and right), by the same floating-point
    differences as everywhere else. The k smallest distances are kept in h − 1 ≥ k sorted
    registers updated candidate by candidate (no sort: XLA's CPU sort is slow), in loops
    rather than unrolled code, so that it compiles in seconds. Returns
    ``(eps, ex, ey, ok)``, each (C, m).
    """
    c_cols, m = gx.shape
    width = 2 * h
    pad = ((reach, reach), (0, 0))
    py2 = jnp.pad(gy, pad, constant_values=jnp.inf)
    px = jnp.pad(gx, pad, constant_values=jnp.inf).reshape(-1)
    py = py2.reshape(-1)
    qx, qy = gx.reshape(-1), gy.reshape(-1)
    own = jnp.broadcast_to(jnp.arange(m), (c_cols, m))
    col = jnp.broadcast_to(jnp.arange(c_cols)[:, None], (c_cols, m)).reshape(-1)
    inf = jnp.full(qx.shape, jnp.inf, gx.dtype)
    last = xs.shape[0] - 1

    def window(delta):
        """First flat index of the 2h candidates of each point in column c + delta."""
        cy = lax.dynamic_slice_in_dim(py2, reach + delta, c_cols, axis=0)
        pos = jnp.where(delta == 0, own, jax.vmap(jnp.searchsorted)(cy, gy))
        lo = jnp.clip(pos - h, 0, m - width).reshape(-1)
        return lo, (col + delta + reach) * m + lo

    def candidate(delta, lo, base, o):
        dx = jnp.abs(px[base + o] - qx)
        dy = jnp.abs(py[base + o] - qy)
        self_ = (delta == 0) & (lo + o == own.reshape(-1))
        return jnp.where(self_, jnp.inf, jnp.maximum(dx, dy)), dx, dy

    def per_column(j, carry):  # loops, not unrolled code: compiles in a few seconds
        regs, bound = carry
        delta = j - reach
        lo, base = window(delta)
        below = jnp.where(lo > 0, qy - py[jnp.maximum(base - 1, 0)], jnp.inf)
        above_at = jnp.minimum(base + width, py.shape[0] - 1)
        above = jnp.where(lo + width < m, py[above_at] - qy, jnp.inf)
        # A point of column c + delta outside the 2h is at least as far as the nearest
        # outsider in y, and as the column's nearest x: the larger of the two bounds it.
        near_x = jnp.where(delta < 0, (col + delta + 1) * m - 1, (col + delta) * m)
        near_x = jnp.clip(near_x, 0, last)  # out of range: a padded column, bound already inf
        gap = jnp.where(delta < 0, qx - xs[near_x], xs[near_x] - qx)
        gap = jnp.where(delta == 0, -jnp.inf, gap)
        bound = jnp.minimum(bound, jnp.maximum(gap, jnp.minimum(below, above)))

        def per_point(o, regs):  # insert the candidate's distance into the sorted registers
            return tuple(_insert_sorted(regs, candidate(delta, lo, base, o)[0]))

        return lax.fori_loop(0, width, per_point, regs), bound

    regs, bound = lax.fori_loop(
        0, 2 * reach + 1, per_column, ((inf,) * (h - 1), inf)
    )  # regs: the h − 1 smallest distances, in increasing order
    eps = regs[0]
    for r in range(1, h - 1):
        eps = jnp.where(k == r + 1, regs[r], eps)
    left = (col - reach) * m - 1  # the largest x of the columns left of the reach
    right = (col + reach + 1) * m  # the smallest x of the columns right of it
    bound = jnp.minimum(bound, jnp.where(left >= 0, qx - xs[jnp.clip(left, 0, last)], jnp.inf))
    bound = jnp.minimum(
        bound, jnp.where(right < n_valid, xs[jnp.clip(right, 0, last)] - qx, jnp.inf)
    )
    ok = bound > eps
    shape = (c_cols, m)
    if variant == 1:
        return eps.reshape(shape), eps.reshape(shape), eps.reshape(shape), ok.reshape(shape)

    def widest(j, carry):  # variant 2: the largest marginal distances within the ball
        delta = j - reach
        lo, base = window(delta)

        def per_point(o, carry):
            ex, ey = carry
            d, dx, dy = candidate(delta, lo, base, o)
            return jnp.where(d <= eps, jnp.maximum(ex, dx), ex), jnp.where(
                d <= eps, jnp.maximum(ey, dy), ey
            )

        return lax.fori_loop(0, width, per_point, carry)

    ex, ey = lax.fori_loop(0, 2 * reach + 1, widest, (-inf, -inf))
    return eps.reshape(shape), ex.reshape(shape), ey.reshape(shape), ok.reshape(shape)


def _grid_shape(n: int, k: int) -> tuple[int, int, int]:
    """``(h, m, reach)`` of the grid search: half-window, points per column, columns aside.

    h − 1 ≥ k registers hold the smallest distances, h a power of two (at least 4), so
    that a new k rarely compiles anew; columns of about √(h n)/4 points (a power of two),
    searched 3 to each side. On Gaussian data with k = 3, about 92 % of the points are then
    settled by the grid.
    """
    h = max(4, 1 << k.bit_length())
    m = max(2 * h, 1 << round(math.log2(0.25 * math.sqrt(h * _bucket(n)))))
    return h, m, 3


def _grid_pass(xs: np.ndarray, ys: np.ndarray, k: int, variant: int, dtype):
    """Run ``_grid_kernel`` on x-sorted ``xs``, ``ys`` (float64, rounded to ``dtype``).

    Returns ``(eps, ex, ey, ok)`` in the order of ``xs``.
    """
    n = xs.shape[0]
    h, m, reach = _grid_shape(n, k)
    cols = -(-_bucket(n) // m)
    pad = np.full(cols * m - n, np.inf)
    xp, yp = np.concatenate([xs, pad]), np.concatenate([ys, pad])
    rank = np.argsort(yp.reshape(cols, m), axis=1) + m * np.arange(cols)[:, None]
    out = _grid_kernel(
        np.asarray(xp[rank], dtype),
        np.asarray(yp[rank], dtype),
        np.asarray(xp, dtype),
        np.int32(n),
        k=np.int32(k),
        variant=variant,
        h=h,
        reach=reach,
    )
    flat = rank.reshape(-1)
    back = []
    for o in out:
        a = np.empty(cols * m, o.dtype)
        a[flat] = np.asarray(o).reshape(-1)
        back.append(a[:n])
    return tuple(back)


def _padded_rows(
    rows: np.ndarray, block: int, *, pow2: bool = False, least: int = 64
) -> tuple[np.ndarray, int]:
    """Query rows padded (with row 0) to a multiple of a block no larger than needed.

    The number of rows is rounded up on the grid of ``_bucket``, or to a power of two (at
    least ``least``) for the leftover rows of a search, whose number varies from data set to
    data set: so few shapes compile.
    """
    r = max(least, 1 << (len(rows) - 1).bit_length()) if pow2 else _bucket(len(rows), minimum=8)
    block = min(block, 1 << (r.bit_length() - 1))
    r = -(-r // block) * block
    return _pad_rows(rows.astype(np.int32), r), block


def _sorted_counts(x: np.ndarray, y: np.ndarray, k: int, variant: int, dtype, w: int | None):
    """Counts for 1-D x and y: the grid, then windows of growing width along sorted x and
    along sorted y for the rows it leaves, brute force last; binary-search counts."""
    n = x.shape[0]
    m = _bucket(n)
    x = np.asarray(np.asarray(x, dtype), np.float64)  # round once, so every path sees the same
    y = np.asarray(np.asarray(y, dtype), np.float64)
    order = np.argsort(x)  # any order of ties: the counts are exact
    xs, ys = x[order], y[order]
    pad = np.full(m - n, np.inf)
    xs_pad = np.asarray(np.concatenate([xs, pad]), dtype)
    ys_pad = np.asarray(np.concatenate([ys, np.zeros(m - n)]), dtype)
    if w is None:  # too few points for a window: brute-force thresholds, sorted counts
        eps, ex, ey = (np.zeros(n, dtype) for _ in range(3))
        todo, w = np.arange(n), n
    else:
        eps, ex, ey, ok = _grid_pass(xs, ys, k, variant, dtype)
        todo = np.flatnonzero(~ok)
    # Wider windows for the rows left, while a window is well short of all the points: along
    # sorted x (proven by x-distances), then along sorted y (by y-distances), which settles
    # most of the points the x-window cannot (those with many x-neighbours within ε).
    by_y = np.argsort(ys)
    y_rank = np.empty(n, np.intp)
    y_rank[by_y] = np.arange(n)
    searches = (  # (sorted coordinate, other coordinate, row map, swap the thresholds)
        (xs_pad, ys_pad, None, False),
        (
            np.asarray(np.concatenate([ys[by_y], pad]), dtype),
            np.asarray(np.concatenate([xs[by_y], np.zeros(m - n)]), dtype),
            y_rank,
            True,
        ),
    )
    while todo.size and 4 * (2 * w + 1) <= n:
        for a, b, rank, swap in searches:
            if not todo.size:
                break
            query = todo if rank is None else rank[todo]
            rows, block = _padded_rows(query, _block(2 * w + 1), pow2=todo.size < n)
            out = _window_kernel(
                a,
                b,
                rows,
                np.int32(n),
                k=np.int32(k),
                variant=variant,
                w=w,
                block=block,
                registers=_registers(k),
            )
            t_eps, t_ea, t_eb, ok = (np.asarray(o)[: todo.size] for o in out)
            eps[todo] = t_eps
            ex[todo], ey[todo] = (t_eb, t_ea) if swap else (t_ea, t_eb)
            todo = todo[~ok]
        w *= 4
    if todo.size:
        b_eps, b_ex, b_ey, _, _ = _brute(xs[:, None], ys[:, None], todo, k, variant, dtype)
        eps[todo], ex[todo], ey[todo] = b_eps, b_ex, b_ey
    strict = variant == 1
    ysorted = searches[1][0]  # y sorted, padded with +inf

    def counts(sorted_vals, vals, t):
        t = np.asarray(np.concatenate([t, np.zeros(m - n, t.dtype)]), dtype)
        out = _count_kernel(sorted_vals, vals, t, strict=strict)
        return np.asarray(out)[:n]

    nx = counts(xs_pad, xs_pad, ex)
    ny = counts(ysorted, ys_pad, ey)
    return nx, ny, eps
