"""Pairwise distances and the median heuristic.

This module owns the squared Euclidean distances behind the distance-based kernels, and the
median heuristic: the median distance between distinct samples, on a bounded deterministic
subsample, with an O(m log m) path for 1-D data (NumPy for concrete inputs, JAX for traced
ones). [`hsic.kernels.median_distance`][hsic.kernels.median_distance] is its public face.
"""

from __future__ import annotations

import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from hsic._base.validation import is_traced

__all__ = [
    "MEDIAN_SUBSAMPLE",
    "batch_median_distance",
    "distance_quantiles",
    "first_false",
    "median_distance",
    "median_distance_columns",
    "median_distance_numpy",
    "pair_sq_dists",
    "safe_sqrt",
    "unit_scale",
    "warn_fallback",
]

MEDIAN_SUBSAMPLE = 1000
"""The median heuristic looks at no more than this many (evenly spaced) samples."""


def unit_scale(value: ArrayLike) -> jax.Array:
    """``2^−e`` for ``2^e <= value < 2^(e+1)``: the power of two that brings a positive float
    ``value`` (a bandwidth, a spread) into ``[1, 2)``, in ``value``'s dtype (clamped to its
    normal range). Traced or not; no gradient flows through it.

    Multiplying by a power of two is exact in floating point (short of overflow and
    underflow), so a computation on scaled data and a scaled bandwidth gives bit for bit the
    result of the unscaled one wherever that one stays within the dtype's range, and a
    result independent of the data's units everywhere else. The exponent is read from the
    float's bits (no ``log2`` or ``exp2``, whose rounding is up to the backend).

    Example:
      >>> from hsic._stats.distances import unit_scale
      >>> float(unit_scale(3.0)), round(float(unit_scale(1e-30) * 1e-30), 4)
      (0.5, 1.2677)
    """
    value = jax.lax.stop_gradient(jnp.asarray(value))
    if not jnp.issubdtype(value.dtype, jnp.floating):
        value = value.astype(jnp.zeros(()).dtype)
    info = jnp.finfo(value.dtype)
    int_type = {2: jnp.int16, 4: jnp.int32, 8: jnp.int64}[value.dtype.itemsize]
    bias = info.maxexp - 1
    bits = jax.lax.bitcast_convert_type(value, int_type)
    exponent = ((bits >> info.nmant) & (2 * info.maxexp - 1)) - bias  # value's e (biased field)
    power = jnp.clip(-exponent, info.minexp, info.maxexp - 1)  # a normal power of two
    return jax.lax.bitcast_convert_type(
        ((power + bias) << info.nmant).astype(int_type), value.dtype
    )


def _sq_dists(a: jax.Array, b: jax.Array, shift: ArrayLike) -> jax.Array:
    """Squared Euclidean distances ``||a_i - b_j||²``, computed after a common shift.

    Shifting both sides by the same point (the data mean) keeps the expansion
    ``|a|² + |b|² - 2 a·b`` accurate in float32 for data far from the origin. One-dimensional
    data need no expansion: ``(a_i − b_j)²`` directly (the shift is then unused).
    """
    if a.shape[1] == 1:  # 1-D: the differences themselves, exact and half the passes
        return jnp.square(a - b.T)
    a = a - shift
    b = b - shift
    d = jnp.sum(a * a, axis=1)[:, None] + jnp.sum(b * b, axis=1)[None, :] - 2.0 * (a @ b.T)
    return jnp.maximum(d, 0.0)


def _self_sq_dists(x: jax.Array, shift: ArrayLike | None = None) -> jax.Array:
    """Squared distances within ``x``, with an exactly zero diagonal; ``shift`` is by default
    the mean of ``x`` (padded data pass the mean of their samples)."""
    d = _sq_dists(x, x, jnp.mean(x, axis=0) if shift is None else shift)
    if x.shape[1] == 1:
        return d
    return jnp.where(jnp.eye(x.shape[0], dtype=bool), 0.0, d)


def safe_sqrt(d: jax.Array) -> jax.Array:
    """``sqrt(d)`` whose gradient at 0 is 0 rather than NaN."""
    positive = d > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, d, 1.0)), 0.0)


def pair_sq_dists(x: jax.Array, z: jax.Array | None, shift: ArrayLike | None) -> jax.Array:
    if z is None:
        return _self_sq_dists(x, shift)
    return _sq_dists(x, z, jnp.mean(z, axis=0) if shift is None else shift)


def _order_statistic(values: jax.Array, rank: int) -> jax.Array:
    """The ``rank``-th smallest (1-based) of non-negative floats, exactly, without sorting.

    Non-negative IEEE floats are ordered like their bit patterns read as integers, so a
    bisection over those integers (31 steps for float32, 63 for float64), each counting the
    values at or below the midpoint, lands exactly on the order statistic. It costs a few
    dozen passes over the data, where a sort of ~10⁶ values costs far more on a CPU.
    """
    int_type = jnp.int32 if values.dtype == jnp.float32 else jnp.int64
    bits = jax.lax.bitcast_convert_type(values, int_type)

    def step(_, bounds):
        lo, hi = bounds
        mid = lo + (hi - lo) // 2
        found = jnp.sum(bits <= mid, dtype=int_type) >= rank
        return jnp.where(found, lo, mid + 1), jnp.where(found, mid, hi)

    start = (jnp.zeros((), int_type), jnp.max(bits))
    lo, _ = jax.lax.fori_loop(0, 8 * values.dtype.itemsize - 1, step, start)
    return jax.lax.bitcast_convert_type(lo, values.dtype)


def _bisection_steps(dtype) -> int:
    """Bisection steps that pin a non-negative float's bit pattern down from ``[0, +inf]``."""
    return 31 if np.dtype(dtype) == np.float32 else 63


#: ``_median_1d_numpy`` brackets the median pair distance by these quantiles of the distances
#: between ``_BRACKET_ROWS`` evenly spaced (sorted) values.
_BRACKET_QUANTILES = (0.4, 0.6)


_BRACKET_ROWS = 64


#: At most this many halvings of that bracket, while it holds more than 2m pairs.
_BRACKET_HALVINGS = 12


def _median_1d_numpy(col: np.ndarray) -> tuple[float, bool]:
    """The 1-D median heuristic in O(m log m) (float64): the same rule as ``_median_1d``.

    ``count(t)`` is the number of pairs ``i < j`` with ``s_j <= s_i + t`` (one
    ``searchsorted``), and the lower middle distance is the smallest float ``t`` with
    ``count(t) >= ⌈P/2⌉``. Rather than bisecting over all 63 bits of ``t``, a bracket
    ``lo < t <= hi`` comes from the distances between a few evenly spaced sorted values and is
    checked by two counts, and halved (by value) while it holds more than 2m pairs. The pairs
    counted at ``hi`` but not at ``lo`` (a contiguous run of j for each i) are listed, and the
    one of the needed rank among their differences ``s_j − s_i`` is within a few ulps of the
    answer, which a short bisection over the bit patterns in between then pins down exactly.
    Any check that fails widens the bisection back to ``[0, +inf]``, so the result is the same
    in every case.
    """
    col = np.asarray(col, dtype=np.float64)
    s = np.sort(col)
    s = s - s[len(s) // 2]
    m = len(s)
    pairs = m * (m - 1) // 2
    below = m * (m + 1) // 2

    def ends(t: float) -> np.ndarray:  # for each i, #{j : s_j <= s_i + t}
        return s.searchsorted(s + t, side="right")

    def count(t: float) -> int:  # pairs i < j with s_j <= s_i + t
        return int(ends(t).sum()) - below

    rank = (pairs + 1) // 2
    lo, hi = _median_1d_bracket(s, rank, ends, below)
    while lo < hi:  # the smallest t (as its bit pattern) with count(t) >= rank
        mid = lo + (hi - lo) // 2
        if count(float(np.int64(mid).view(np.float64))) >= rank:
            hi = mid
        else:
            lo = mid + 1
    lower = float(np.int64(lo).view(np.float64))
    upper = lower
    if pairs % 2 == 0 and count(lower) < pairs // 2 + 1:
        nxt = ends(lower)
        ok = nxt < m
        upper = max(lower, float(np.min(s[nxt[ok]] - s[ok])))
    median = 0.5 * (lower + upper)
    if median > 0:
        return median, False
    # The shift by the middle value rounds differences far below the spread (1e-123 next to
    # 0.25) to 0. Before falling back, count the truly equal pairs (runs of equal values); if
    # fewer than ⌊P/2⌋ + 1, the median is positive: take it from the distances themselves.
    runs = np.unique(col, return_counts=True)[1]
    if int((runs * (runs - 1) // 2).sum()) < pairs // 2 + 1:
        from scipy.spatial.distance import pdist  # deferred: scipy.spatial is slow to import

        lower, upper = _middle_order_statistics(pdist(col[:, None], "cityblock"))
        return 0.5 * (lower + upper), False
    positive = pairs - count(0.0)
    total = float(np.sum(s * (2.0 * np.arange(m) - (m - 1))))
    return (total / positive if positive else 1.0), True


def _median_1d_bracket(s: np.ndarray, rank: int, ends, below: int) -> tuple[int, int]:
    """Bit patterns ``lo <= hi`` of floats with ``count(lo − 1 ulp) < rank <= count(hi)``, a few
    ulps apart when the sampled bracket holds (see ``_median_1d_numpy``), else ``[0, +inf]``."""
    full = 0, int(np.array(np.inf).view(np.int64))
    m = len(s)
    if m < 2 * _BRACKET_ROWS:
        return full
    sample = s[np.linspace(0, m - 1, _BRACKET_ROWS).round().astype(np.int64)]
    gaps = (sample[None, :] - sample[:, None])[_pair_indices(_BRACKET_ROWS)]
    ranks = [int(q * (len(gaps) - 1)) for q in _BRACKET_QUANTILES]
    t_lo, t_hi = (float(t) for t in np.partition(gaps, ranks)[ranks])
    c_lo, c_hi = int(ends(t_lo).sum()) - below, int(ends(t_hi).sum()) - below
    if not c_lo < rank <= c_hi:
        return full
    for _ in range(_BRACKET_HALVINGS):  # halve the bracket while it holds many pairs
        mid = 0.5 * (t_lo + t_hi)
        if c_hi - c_lo <= 2 * m or not t_lo < mid < t_hi:
            break
        c_mid = int(ends(mid).sum()) - below
        if c_mid >= rank:
            t_hi, c_hi = mid, c_mid
        else:
            t_lo, c_lo = mid, c_mid
    first, last = ends(t_lo), ends(t_hi)
    # the pairs counted at t_hi but not at t_lo: j in [first_i, last_i) for each i
    lengths = last - first
    offsets = np.cumsum(lengths) - lengths
    j = np.arange(lengths.sum()) - np.repeat(offsets - first, lengths)
    gaps = s[j] - s[np.repeat(np.arange(m), lengths)]
    k = rank - c_lo - 1
    guess = float(np.partition(gaps, k)[k])
    # count(t) moves where s_i + t rounds past s_j, within a few ulps of s_j − s_i
    slack = 8.0 * np.finfo(np.float64).eps * (float(np.abs(s).max()) + abs(guess))
    near_lo, near_hi = max(guess - slack, t_lo), min(guess + slack, t_hi)
    if not (int(ends(near_lo).sum()) - below < rank <= int(ends(near_hi).sum()) - below):
        near_lo, near_hi = t_lo, t_hi
    lo_bits = int(np.float64(near_lo).view(np.int64)) + 1  # count(near_lo) < rank
    return lo_bits, int(np.float64(near_hi).view(np.int64))


def _median_1d(col: jax.Array, exact: bool = False) -> tuple[jax.Array, jax.Array]:
    """The 1-D median heuristic in O(m log m), jit- and vmap-able: ``(sigma, used_fallback)``.

    With the ``m`` values sorted, ``s_1 <= ... <= s_m``, the number of pairs ``i < j`` whose
    distance ``s_j − s_i`` is at most ``t`` is ``Σ_i (#{j : s_j <= s_i + t} − i)``, one
    vectorised ``searchsorted``. That count is monotone in ``t``, and so is the bit pattern of a
    non-negative float read as an integer, so a bisection over bit patterns (31 steps in
    float32, 63 in float64) finds the smallest ``t`` whose count reaches a rank: the order
    statistic itself, exact up to the one rounding of ``s_i + t`` (the values are first shifted
    by their middle one, so that this rounding is relative to their spread). The median of the
    ``P = m(m−1)/2`` distances is the mean of ranks ``⌈P/2⌉`` and ``⌊P/2⌋ + 1``; the second is
    the first, or the smallest distance past it. The fallback (median 0) is the mean non-zero
    distance, ``Σ_j s_j (2j − m − 1) / #{pairs with s_i < s_j}``, or 1.0.

    The shift rounds distances far below the spread to 0 (2e-123 beside 0.25). When that
    makes the median 0 although fewer than ``⌊P/2⌋ + 1`` pairs are truly equal, the bisection
    is redone on the unshifted values with the exact count ``#{j : fl(s_j − s_i) <= t}``
    (``_pairs_within``: the distances of ``pdist``) when ``exact`` is set; that is slower
    (see ``benchmarks/README.md``), so only then (a ``lax.cond``; under ``vmap`` both
    branches run, so ``median_distance_columns`` leaves ``exact`` off and the case to its
    caller).
    """
    u = jnp.sort(col)
    m = u.shape[0]
    pairs = m * (m - 1) // 2
    below = m * (m + 1) // 2
    s = u - u[m // 2]
    median, at_zero = _median_by_bisection(s, lambda t: jnp.searchsorted(s, s + t, side="right"))
    positive = pairs - (jnp.sum(at_zero) - below)
    total = jnp.sum(s * (2.0 * jnp.arange(m, dtype=s.dtype) - (m - 1)))
    fallback = jnp.where(positive > 0, total / jnp.maximum(positive, 1), 1.0).astype(s.dtype)
    use_fallback = median <= 0
    sigma = jnp.where(use_fallback, fallback, median)
    if not exact:
        return sigma, use_fallback
    equal = jnp.sum(jnp.searchsorted(u, u, side="right")) - below  # truly equal pairs
    lost = use_fallback & (equal < pairs // 2 + 1)

    def redo(_):
        median, _ = _median_by_bisection(u, lambda t: _pairs_within(u, t))
        return jnp.where(median > 0, median, sigma), median <= 0

    return jax.lax.cond(lost, redo, lambda _: (sigma, use_fallback), None)


def _pairs_within(u: jax.Array, t: jax.Array) -> jax.Array:
    """For each i, ``#{j : fl(u_j − u_i) <= t}`` in sorted ``u``: a binary search on that
    predicate (monotone in j), so that the distances are exactly those of ``pdist``."""
    return first_false(u, lambda v: (v - u) <= t, u.shape)


def first_false(values: jax.Array, predicate, shape) -> jax.Array:
    """For each of ``shape`` queries, the first index j with ``predicate(values[j])`` False,
    where the (elementwise, per-query) predicate is True and then False along ``values``.

    A binary search, unrolled (~log₂ m steps) into one fused pass rather than a loop (see
    ``benchmarks/README.md``). Exact for predicates on computed differences such as
    ``fl(v_j − v_i) <= t``, which are monotone in ``v_j``, where a ``searchsorted`` of
    ``v_i + t`` is not.
    """
    m = values.shape[0]
    lo = jnp.zeros(shape, jnp.int32)
    hi = jnp.full(shape, m, jnp.int32)
    for _ in range(max(1, m.bit_length())):
        mid = jnp.minimum((lo + hi) // 2, m - 1)
        go_right = predicate(values[mid])
        active = lo < hi
        lo = jnp.where(active & go_right, mid + 1, lo)
        hi = jnp.where(active & ~go_right, mid, hi)
    return lo


def _median_by_bisection(s: jax.Array, ends) -> tuple[jax.Array, jax.Array]:
    """The median pair distance of sorted ``s`` (``_median_1d``'s bisection), given ``ends(t)``,
    for each i the number of j with ``s_j − s_i <= t``; and ``ends(0)``, for the fallback."""
    m = s.shape[0]
    pairs = m * (m - 1) // 2
    below = m * (m + 1) // 2
    int_type = jnp.int32 if s.dtype == jnp.float32 else jnp.int64

    def step(_, bounds):
        lo, hi = bounds
        mid = lo + (hi - lo) // 2
        found = jnp.sum(ends(jax.lax.bitcast_convert_type(mid, s.dtype))) - below
        found = found >= (pairs + 1) // 2
        return jnp.where(found, lo, mid + 1), jnp.where(found, mid, hi)

    inf_bits = jax.lax.bitcast_convert_type(jnp.asarray(jnp.inf, s.dtype), int_type)
    start = (jnp.zeros((), int_type), inf_bits)
    lo, _ = jax.lax.fori_loop(0, _bisection_steps(s.dtype), step, start)
    lower = jax.lax.bitcast_convert_type(lo, s.dtype)
    # one more pass, at t = lower and at t = 0: the next distance up, and the zero distances
    nxt, at_zero = jax.vmap(ends)(jnp.stack([lower, jnp.zeros_like(lower)]))
    if pairs % 2 == 0:
        gaps = jnp.where(nxt < m, s[jnp.minimum(nxt, m - 1)] - s, jnp.inf)
        enough = jnp.sum(nxt) - below >= pairs // 2 + 1
        upper = jnp.where(enough, lower, jnp.maximum(lower, jnp.min(gaps)))
    else:
        upper = lower
    return 0.5 * (lower + upper), at_zero


@jax.jit
def median_distance_columns(cols: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The median heuristic of each column of ``cols`` ``(n, c)``: ``(sigmas, used_fallback)``,
    two ``(c,)`` arrays.

    The same rule as [`median_distance`][hsic.kernels.median_distance] (the same rows, the same
    fallback, no warning), by the O(m log m) 1-D selection vmapped over the columns. A column
    that falls back may hold distances far below its spread that the selection rounded to 0
    (see ``_median_1d``): the caller re-checks those columns on the host.
    """
    rows = _subsample_rows(cols.shape[0])
    return jax.vmap(_median_1d, in_axes=1)(cols[rows])


def _median_of_squares(sq: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The median heuristic from the ``(m, m)`` squared distances ``sq``:
    ``(sigma, used_fallback)``."""
    m = sq.shape[0]
    off_diagonal = ~jnp.eye(m, dtype=bool)
    # Each distinct pair appears twice off the diagonal and the diagonal is pushed past every
    # pair, so ranks P and P + 1 (P = m(m-1)/2) of the whole matrix are the two middle pairs.
    pairs = m * (m - 1) // 2
    masked = jnp.where(off_diagonal, sq, jnp.inf).ravel()
    lower = _order_statistic(masked, pairs)
    # rank P + 1 is the same value when it is repeated, else the next value up
    repeated = jnp.sum(masked <= lower) > pairs
    upper = jnp.where(repeated, lower, jnp.min(jnp.where(masked > lower, masked, jnp.inf)))
    median = 0.5 * (jnp.sqrt(lower) + jnp.sqrt(upper))
    positive = off_diagonal & (sq > 0)
    dist = safe_sqrt(sq)
    mean_positive = jnp.sum(jnp.where(positive, dist, 0.0)) / jnp.maximum(jnp.sum(positive), 1)
    fallback = jnp.where(jnp.any(positive), mean_positive, 1.0)
    use_fallback = median <= 0
    return jnp.where(use_fallback, fallback, median), use_fallback


def _exact_sq_dists(x: jax.Array) -> jax.Array:
    """``Σ_k (x_ik − x_jk)²`` from the differences themselves, one column at a time: exact
    for distances far below the data's spread, which the expansion rounds to 0."""

    def add(k, acc):
        col = jax.lax.dynamic_slice_in_dim(x, k, 1, axis=1)
        return acc + jnp.square(col - col.T)

    return jax.lax.fori_loop(0, x.shape[1], add, jnp.zeros((x.shape[0],) * 2, x.dtype))


@jax.jit
def _median_distance_impl(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    rows = _subsample_rows(x.shape[0])
    if x.shape[1] == 1:
        return _median_1d(jax.lax.stop_gradient(x)[rows, 0], exact=True)
    sub = jax.lax.stop_gradient(x)[rows]
    # Squared distances on data brought to a unit spread by a power of two (exact): no
    # overflow or underflow in float32 for data of any magnitude.
    scale = unit_scale(jnp.max(jnp.abs(sub - jnp.mean(sub, axis=0))))
    sub = sub * scale
    sigma, used_fallback = _median_of_squares(_self_sq_dists(sub))
    # A zero median may come from tiny distances that the expansion rounded to 0: then redo it
    # from the differences (only in that case: lax.cond runs one branch).
    sigma, used_fallback = jax.lax.cond(
        used_fallback, lambda: _median_of_squares(_exact_sq_dists(sub)),
        lambda: (sigma, used_fallback),
    )
    return sigma / scale, used_fallback


def batch_median_distance(x: jax.Array) -> jax.Array:
    """The median heuristic of a minibatch, for code that is traced (a training step): the
    rule of [`median_distance`][hsic.kernels.median_distance] (the same rows, the same
    fallback, no warning), under ``stop_gradient``.

    Every dimension takes the exact selection over the squared distances (``_median_of_squares``)
    on data brought to a unit spread by a power of two; there is no 1-D sort path, and a zero
    median is not redone from the differences (distances far below the spread, which the
    expansion rounds to 0, give the fallback). That keeps it cheap to compile and to run on a
    batch, and it is jit-, vmap- and grad-safe. ``x`` is ``(m, d)``.
    """
    x = jax.lax.stop_gradient(x)
    sub = x[_subsample_rows(x.shape[0])]
    scale = unit_scale(jnp.max(jnp.abs(sub - jnp.mean(sub, axis=0))))
    sigma, _ = _median_of_squares(_self_sq_dists(sub * scale))
    return jax.lax.stop_gradient(sigma / scale)


def _subsample_rows(n: int) -> np.ndarray:
    """The rows the median heuristic looks at: ``round(linspace(0, n − 1, m))``."""
    return np.linspace(0, n - 1, min(n, MEDIAN_SUBSAMPLE)).round().astype(np.int64)


@functools.lru_cache(maxsize=4)
def _pair_indices(m: int) -> tuple[np.ndarray, np.ndarray]:
    """The row indices ``(i, j)``, ``i < j``, of the distinct pairs among ``m`` rows."""
    return np.triu_indices(m, 1)


#: ``_middle_order_statistics`` partitions arrays shorter than this whole.
_SELECT_DIRECT = 4096


#: Its stride: every 32nd value goes into the sample that brackets the middle ranks.
_SELECT_STRIDE = 32


def _middle_order_statistics(values: np.ndarray) -> tuple[float, float]:
    """The two middle order statistics of ``P`` values: ranks ``⌈P/2⌉`` and ``⌊P/2⌋ + 1``
    (1-based; one and the same when P is odd), whose mean is the median.

    ``np.partition`` of all ~10⁵ pair distances is the slow part of a median heuristic. Instead
    a strided sample (every ``_SELECT_STRIDE``-th value, sorted) gives a bracket ``[lo, hi]``
    that should hold both ranks: its ends are ``2√s`` sample ranks (four binomial standard
    deviations) either side of the sample's middle, for a sample of ``s``. One pass counts the
    values below ``lo`` and gathers those inside, and only those few thousand are partitioned.
    The result is exact whatever the data: when the counts show that the bracket missed a rank,
    the whole array is partitioned instead.
    """
    size = values.size
    low, high = (size - 1) // 2, size // 2  # 0-based
    if size >= _SELECT_DIRECT:
        sample = np.sort(values[::_SELECT_STRIDE])
        middle = low * sample.size // size
        margin = 2 * math.isqrt(sample.size)
        lo = sample[max(middle - margin, 0)]
        hi = sample[min(middle + margin, sample.size - 1)]
        below = np.count_nonzero(values < lo)
        inside = values[(values >= lo) & (values <= hi)]
        if below <= low and below + inside.size > high:
            part = np.partition(inside, (low - below, high - below))
            return float(part[low - below]), float(part[high - below])
    part = np.partition(values, (low, high))
    return float(part[low]), float(part[high])


def median_distance_numpy(x: np.ndarray) -> tuple[float, bool]:
    """The same rule as ``_median_distance_impl``, in float64 NumPy: nothing to compile.

    1-D data take ``_median_1d_numpy``. Otherwise the ``m(m−1)/2`` distinct squared distances
    come from ``scipy.spatial.distance.pdist`` (d ≤ 8: from the differences, accurate; larger d:
    the Gram expansion ``‖a‖² + ‖b‖² − 2aᵀb`` after a common shift, one BLAS call, redone from
    the differences when it gives a zero median), and their two middle values from
    ``_middle_order_statistics``. The samples are first brought to a unit spread by a power of
    two (exact), so that squared distances neither overflow nor underflow, whatever the units.
    """
    sub = np.asarray(x, dtype=np.float64)[_subsample_rows(len(x))]
    spread = float(np.max(np.abs(sub - sub.mean(axis=0)))) if sub.size else 0.0
    if not 0.0 < spread < math.inf:
        return _median_distance_numpy(sub)
    scale = math.ldexp(1.0, -math.frexp(spread)[1])
    sigma, used_fallback = _median_distance_numpy(sub * scale)
    return sigma / scale, used_fallback


def _median_distance_numpy(sub: np.ndarray) -> tuple[float, bool]:
    """``median_distance_numpy`` on the (scaled) subsample ``sub``."""
    from scipy.spatial.distance import pdist  # deferred: scipy.spatial is slow to import

    if sub.shape[1] == 1:
        return _median_1d_numpy(sub[:, 0])
    if sub.shape[1] <= 8:
        sq = pdist(sub, "sqeuclidean")  # from the differences: no shift, no rounding to 0
    else:
        shifted = sub - sub.mean(axis=0)  # the expansion is accurate after a common shift
        i, j = _pair_indices(len(sub))
        norms = np.einsum("ij,ij->i", shifted, shifted)
        sq = np.maximum((norms[:, None] + norms[None, :] - 2.0 * (shifted @ shifted.T))[i, j], 0.0)
    lower, upper = _middle_order_statistics(sq)
    if upper == 0 and sub.shape[1] > 8:  # the expansion may have rounded tiny distances to 0
        sq = pdist(sub, "sqeuclidean")
        lower, upper = _middle_order_statistics(sq)
    median = 0.5 * (math.sqrt(lower) + math.sqrt(upper))
    if median > 0:
        return median, False
    positive = sq[sq > 0]
    return (float(np.sqrt(positive).mean()) if positive.size else 1.0), True


def distance_quantiles(x: ArrayLike, levels: ArrayLike) -> np.ndarray:
    """Quantiles of the non-zero Euclidean distances between distinct samples of ``x``, on the
    median heuristic's subsample (at most ``MEDIAN_SUBSAMPLE`` evenly spaced rows), in float64.

    The quantiles are NumPy's default (linear interpolation between order statistics). Zero
    distances (duplicated rows) are left out; if every distance is 0, the result is all 1.0
    (the median heuristic's last fallback).

    Args:
      x: concrete samples, ``(n, d)`` or ``(n,)``, ``n >= 2``.
      levels: the quantile levels, in ``[0, 1]``.

    Returns:
      The quantiles, one per level.

    Example:
      >>> from hsic._stats.distances import distance_quantiles
      >>> distance_quantiles([[0.0], [1.0], [3.0]], [0.0, 0.5, 1.0]).tolist()
      [1.0, 2.0, 3.0]
    """
    from scipy.spatial.distance import pdist  # deferred: scipy.spatial is slow to import

    arr = np.asarray(x, dtype=np.float64)
    arr = arr[:, None] if arr.ndim == 1 else arr
    dists = pdist(arr[_subsample_rows(len(arr))], "euclidean")
    dists = dists[dists > 0]
    if dists.size == 0:
        return np.ones(np.shape(levels))
    return np.quantile(dists, np.asarray(levels, dtype=np.float64))


def median_distance(x: ArrayLike, *, name: str = "x") -> jax.Array | float:
    """The median heuristic: the median Euclidean distance between distinct samples of ``x``.

    At most [`MEDIAN_SUBSAMPLE`][hsic.kernels.MEDIAN_SUBSAMPLE] evenly spaced rows are used
    (rows ``round(linspace(0, n - 1, m))``), so the cost is bounded whatever ``n`` is and the
    result is deterministic.

    **Fallback.** If the median is 0 (constant data, or more than half of the pairs
    duplicated), the mean of the non-zero distances is used instead, or 1.0 if every distance is
    zero, and a ``RuntimeWarning`` is issued (only for concrete, non-traced inputs).

    Concrete inputs are handled in float64 NumPy (no compilation, which keeps a first call
    fast); traced inputs (under ``jax.jit``, ``jax.grad`` or ``jax.vmap``) in JAX, by an exact
    selection that needs no sort. The traced result is wrapped in ``stop_gradient``: gradients
    of HSIC treat the bandwidth as fixed.

    **1-D data** (``d = 1``) take an O(m log m) path in both: with the values sorted, the number
    of pairs at distance ``<= t`` is one vectorised ``searchsorted``, and a bisection over the
    bit patterns of ``t`` (31 steps in float32, 63 in float64) lands on the two middle order
    statistics. The result is the same median (to the rounding of ``s_i + t``), in
    O(m log m) instead of a selection over m(m−1)/2 distances. Distances so far
    below the spread that this rounding makes them 0 do not trigger the fallback: both paths
    then take the median from the exact distances.

    Args:
      x: samples, shape ``(n, d)`` with ``n >= 2``.
      name: the variable's name, for the warning.

    Returns:
      The bandwidth, a Python float for concrete input, a traced scalar otherwise.

    Example:
      >>> from hsic.kernels import median_distance
      >>> median_distance([[0.0], [1.0], [3.0]])
      2.0
    """
    if is_traced(x):
        x = x[:, None] if x.ndim == 1 else x
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.zeros(()).dtype)
        return jax.lax.stop_gradient(_median_distance_impl(x)[0])
    x = np.asarray(x)
    sigma, used_fallback = median_distance_numpy(x[:, None] if x.ndim == 1 else x)
    if used_fallback:
        warn_fallback(name, sigma, stacklevel=5)
    return sigma


def warn_fallback(name: str, sigma: float, *, stacklevel: int) -> None:
    warnings.warn(
        f"The median distance between samples of `{name}` is 0 (constant or mostly "
        f"duplicated values); using bandwidth {sigma:.6g} (the mean non-zero "
        "distance, or 1.0) instead. Pass a fixed bandwidth to silence this.",
        RuntimeWarning,
        stacklevel=stacklevel,
    )
