"""Many-pair HSIC: ``hsic.pairwise``.

This module owns the tests of every column of X against every column of Y (or of X against
itself) and the multiple-testing adjustments (Benjamini–Hochberg, Bonferroni); the result is a
[`PairwiseResult`][hsic.PairwiseResult].

**How it is batched.** The median-heuristic bandwidths of all columns come from one vmapped
call of the O(m log m) 1-D selection (``hsic.kernels``; in the data's dtype). Each column's Gram
matrix is computed and centred once (vmapped over blocks of columns). With the centred Gram
matrices of a block of columns flattened to the rows of a matrix ``G``, the statistics of all
pairs of two blocks are one matrix product, ``n² HSIC_b = G_x G_yᵀ``, and the gamma test's
variance term ``Σ_{i≠j} (K̄_ij L̄_ij)²`` is another, on the squared entries. For the gamma
method the matrices are symmetric, so ``G`` holds only their upper block triangle (off-diagonal
blocks counted twice, an exact doubling), and only those blocks are ever computed: about half
the ``exp``s, half the memory and half the flops. These long, narrow products run in NumPy's
BLAS, about 3× faster than XLA's CPU dot for these shapes. Nothing loops over pairs in
Python; the loop is over blocks of columns (``block_size``, balanced so that no block is
mostly padding), which bounds memory.

**Permutations** are shared by all pairs: the same B permutations of the samples, drawn as in
[`hsic.test`][hsic.test] (NumPy's PCG64 seeded by ``rng``, one after another), are applied to
the Y side of every pair. Hence the entry ``(i, j)`` is exactly the p-value of
``hsic.test(X[:, i], Y[:, j], method=hsic.Permutation(n_resamples=B), rng=rng)`` (up to
floating-point rounding),
and with ``Y=None`` the entry ``(i, j)``, ``i < j``, that of ``hsic.test(X[:, i], X[:, j])``,
mirrored to ``(j, i)``. Each permutation gathers every Y Gram matrix of a block once, in
blocks of rows with their columns permuted (the engine of [`hsic.test`][hsic.test]), and meets
all the X matrices of a block in one matrix product: about ``B·n²`` reads per Y column and
``2·B·n²`` flops per pair.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Literal, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from hsic._api.methods import DEFAULT_BATCH_SIZE, Gamma, Method, Permutation, as_method
from hsic._api.results import PairwiseResult
from hsic._base.progress import make_bar, resolve_progress
from hsic._base.rng import RNGLike, as_generator, seed_of
from hsic._base.validation import (
    as_samples,
    check_choice,
    check_fits_in_memory,
    check_positive_int,
    float_dtype,
    precision,
    transposed_hint,
    warn_if_beyond_permutations,
)
from hsic._nulls.gamma import gamma_law
from hsic._nulls.permutation import draw_permutations, pad_rows, permuted_stack_sums
from hsic._nulls.pvalues import check_finite, tie_threshold
from hsic._stats import kernels as _kernels
from hsic._stats.distances import median_distance_columns, median_distance_numpy, warn_fallback
from hsic._stats.gram import centre, centre_entries, centring_means

__all__ = ["ADJUSTMENTS", "METHODS", "adjust_pvalues", "pairwise"]

#: The methods of ``hsic.pairwise``, by name.
METHODS: dict[str, type[Method]] = {cls.name: cls for cls in (Permutation, Gamma)}
#: Permutations per device call when the method object leaves ``batch_size`` to the test.
DEFAULT_BATCH = DEFAULT_BATCH_SIZE  # one default for every test
ADJUSTMENTS = ("bh", "bonferroni")
#: Smallest n each method accepts (as in ``hsic.test``).
MIN_N = {"permutation": 5, "gamma": 6}


def adjust_pvalues(pvalues: ArrayLike, *, method: Literal["bh", "bonferroni"]) -> np.ndarray:
    """Adjust a 1-D array of p-values for multiple testing.

    * ``"bonferroni"``: ``min(1, m·p_i)``; controls the family-wise error rate.
    * ``"bh"`` (Benjamini & Hochberg 1995): with ``p_(1) ≤ … ≤ p_(m)``,
      ``p̃_(k) = min_{j ≥ k} min(1, m·p_(j)/j)``; rejecting ``p̃ ≤ q`` controls the false
      discovery rate at ``q`` for independent or positively dependent tests.

    Args:
      pvalues: the m p-values.
      method: ``"bh"`` or ``"bonferroni"``.

    Returns:
      The adjusted p-values, in the input order.

    Example:
      >>> from hsic._api.pairwise import adjust_pvalues
      >>> adjust_pvalues([0.01, 0.04, 0.03], method="bh")
      array([0.03, 0.04, 0.04])
    """
    check_choice(method, "adjust", ADJUSTMENTS)
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(1.0, p * m)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out


def _names(data: Any, count: int, prefix: str) -> tuple[str, ...]:
    columns = getattr(data, "columns", None)
    if columns is not None:
        return tuple(str(c) for c in columns)
    name = getattr(data, "name", None)  # a pandas Series
    if name is not None and hasattr(data, "to_numpy") and count == 1:
        return (str(name),)
    return tuple(f"{prefix}{i}" for i in range(count))


def _columns(data: Any, arg: str, names: tuple[str, ...], dtype) -> jax.Array:
    arr = as_samples(data, arg, dtype=dtype)
    host = np.asarray(arr)
    constant = np.all(host == host[:1], axis=0)
    if constant.any():
        raise ValueError(
            f"Column {names[int(np.argmax(constant))]!r} of `{arg}` is constant: it carries no "
            "information, so its independence cannot be tested. Drop it first."
        )
    return arr


#: Diagonal blocks of the triangle split (``_triangle_pieces``) have fewer than
#: ``max(2·TRIANGLE_ROWS, n/4)`` rows.
TRIANGLE_ROWS = 128


def _triangle_pieces(n: int) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int]]]:
    """A split of an ``n × n`` symmetric matrix's upper block triangle into contiguous blocks:
    the off-diagonal blocks ``(r0, r1, c0, c1)`` (each standing for itself and its mirror
    image) and the diagonal blocks ``(r0, r1)``, by halving the index range until a part has
    fewer than ``s = max(2·TRIANGLE_ROWS, n/4)`` rows. For symmetric ``A`` and ``B``,
    ``Σ_ij A_ij B_ij = 2·Σ_off + Σ_diag`` over these blocks, which cover at most
    ``n²/2 + n·s/2`` entries instead of ``n²`` (about 9/16 of them for large n). There are at
    most 7 + 8 blocks whatever n: each is a separate piece of the compiled program, so more
    would cost compile time (about 15 s at n = 4000 with 127 blocks) for few saved ``exp``s.
    """
    smallest = max(2 * TRIANGLE_ROWS, n // 4)
    off: list[tuple[int, int, int, int]] = []
    diag: list[tuple[int, int]] = []
    parts = [(0, n)]
    while parts:
        lo, hi = parts.pop()
        if hi - lo < smallest:
            diag.append((lo, hi))
            continue
        mid = (lo + hi) // 2
        off.append((lo, mid, mid, hi))
        parts += [(mid, hi), (lo, mid)]
    return off, diag


@functools.partial(jax.jit, static_argnames="squares")
def _gram_block(kernels, cols, squares: bool):
    """Centred Gram matrices ``(c, n, n)``, their squares (``squares``, else ``None``), their
    diagonals ``(c, n)``, and the totals and traces ``(c,)`` of the uncentred ones, for a block
    of columns ``(c, n)`` with their (batched) kernels."""

    def one(kernel, col):
        K = kernel.gram(col[:, None])
        Kc = centre(K)
        return Kc, Kc * Kc if squares else None, jnp.diagonal(Kc), jnp.sum(K), jnp.trace(K)

    return jax.vmap(one)(kernels, cols)


@jax.jit
def _triangle_block(kernels, cols):
    """The gamma method's Gram data for a block of columns ``(c, n)``: each centred Gram
    matrix ``K̄`` split by ``_triangle_pieces`` into its off-diagonal blocks ``O`` and its
    diagonal blocks ``D`` (each flattened and concatenated, ``(c, ·)``), their squares, the
    diagonals ``(c, n)`` and the totals and traces ``(c,)`` of the uncentred matrices.

    The Gram matrices are symmetric, so only these pieces (about half of the entries) are
    ever computed: each off-diagonal piece adds its row sums to its rows and its column sums
    to its columns (the mirror image's row sums), which gives the row means for centring,
    ``K̄_ij = K_ij − m_i − m_j + g``.
    """
    n = cols.shape[1]
    off, diag = _triangle_pieces(n)

    def one(kernel, col):
        x = col[:, None]
        shift = jnp.mean(x, axis=0)
        upper = [kernel.gram(x[r0:r1], x[c0:c1], shift=shift) for r0, r1, c0, c1 in off]
        on_diagonal = [kernel.gram(x[r0:r1], shift=shift) for r0, r1 in diag]
        sums = jnp.zeros((n,), x.dtype)
        for (r0, r1, c0, c1), b in zip(off, upper, strict=True):
            sums = sums.at[r0:r1].add(jnp.sum(b, axis=1)).at[c0:c1].add(jnp.sum(b, axis=0))
        for (r0, r1), b in zip(diag, on_diagonal, strict=True):
            sums = sums.at[r0:r1].add(jnp.sum(b, axis=1))
        means, grand = centring_means(sums, n, False)
        o = jnp.concatenate(
            [centre_entries(b, means[r0:r1], means[c0:c1], grand, None).reshape(-1)
             for (r0, r1, c0, c1), b in zip(off, upper, strict=True)], dtype=x.dtype,
        ) if off else jnp.zeros((0,), x.dtype)
        centred = [centre_entries(b, means[r0:r1], means[r0:r1], grand, None)
                   for (r0, r1), b in zip(diag, on_diagonal, strict=True)]
        d = jnp.concatenate([b.reshape(-1) for b in centred])
        diagonal = jnp.concatenate([jnp.diagonal(b) for b in centred])
        trace = sum(jnp.trace(b) for b in on_diagonal)
        return o, d, o * o, d * d, diagonal, jnp.sum(sums), trace

    return jax.vmap(one)(kernels, cols)


@jax.jit
def _products(Gx, Gy):
    """``vec(G_x[a]) · vec(G_y[b])`` for every ``a`` and ``b``: one matrix product."""
    return Gx.reshape(Gx.shape[0], -1) @ Gy.reshape(Gy.shape[0], -1).T


def _block_sums(x_block, y_block):
    """``Σ K̄∘L̄`` and ``Σ_{i≠j}(K̄_ij L̄_ij)²`` for every pair of two ``_triangle_block``
    blocks: ``2·O_x O_yᵀ + D_x D_yᵀ`` (the symmetric halves; doubling is exact), for the
    entries and for their squares (minus the diagonal's part).

    The products run in NumPy: its BLAS does these shapes (dozens of rows, n²/2 long) about
    3× faster than XLA's CPU dot (see ``benchmarks/README.md``).
    """
    ox, dx, sox, sdx, diag_x = (np.asarray(a) for a in jax.device_get(x_block[:5]))
    oy, dy, soy, sdy, diag_y = (np.asarray(a) for a in jax.device_get(y_block[:5]))
    kl = 2 * (ox @ oy.T) + dx @ dy.T
    ss = 2 * (sox @ soy.T) + sdx @ sdy.T
    dx2 = np.square(diag_x, dtype=np.float64)
    dy2 = np.square(diag_y, dtype=np.float64)
    return kl, ss - dx2 @ dy2.T


@jax.jit
def _block_counts(Kp, Gy, thresholds, perms, valid):
    """``#{b valid : n² HSIC_b^{(b)}(i, j) ≥ threshold_ij}`` over a batch of permutations, for
    every pair of a block of x columns (``Kp``: their centred Gram matrices, ``pad_rows``-ed)
    and a block of y columns (``Gy``), from the engine's ``permuted_stack_sums``."""
    sums = permuted_stack_sums(Kp, Gy, perms)
    return jnp.sum((sums >= thresholds) & valid[:, None, None], axis=0, dtype=jnp.int32)


def _fit_kernels(kernel: _kernels.Kernel, cols: jax.Array, arg: str, names) -> list:
    """Each column's kernel. Median-heuristic bandwidths come from one batched call over all
    columns, in the data's dtype (in float64 exactly ``kernel.fit``'s value; in float32 within
    a few float32 roundings of it)."""
    if not (isinstance(kernel, _kernels.Gaussian | _kernels.Laplace)
            and kernel.bandwidth == "median"):
        host = np.asarray(cols, dtype=np.float64)
        return [kernel.fit(host[:, j], name=f"{arg}[{names[j]!r}]") for j in range(len(names))]
    sigmas, fallback = (np.array(a) for a in median_distance_columns(cols))
    for j in np.flatnonzero(fallback):
        # rare: settle it on the host, which also sees distances far below the spread
        sigmas[j], fallback[j] = median_distance_numpy(np.asarray(cols[:, j : j + 1]))
        if fallback[j]:
            warn_fallback(f"{arg}[{names[j]!r}]", float(sigmas[j]), stacklevel=4)
    return [
        dataclasses.replace(kernel, bandwidth=kernel.factor * float(sigma), factor=1.0)
        for sigma in sigmas
    ]


def _stack(kernels: list, dtype) -> Any:
    return jax.tree_util.tree_map(lambda *leaves: jnp.asarray(leaves, dtype=dtype), *kernels)


def _blocks(cols: jax.Array, kernels: list, block: int, dtype, squares: bool) -> list:
    """The Gram data of each block of ``block`` columns, the last block padded by repetition:
    the split centred matrices of ``_triangle_block`` for the gamma method (``squares``), the
    full ones of ``_gram_block`` for the permutation engine."""
    out = []
    count = cols.shape[1]
    for start in range(0, count, block):
        idx = np.minimum(np.arange(start, start + block), count - 1)
        batch = _stack([kernels[i] for i in idx], dtype)
        block_cols = jnp.asarray(cols[:, idx].T)
        out.append(_triangle_block(batch, block_cols) if squares
                   else _gram_block(batch, block_cols, squares=False))
    return out


def _bandwidths(kernels: list) -> np.ndarray | None:
    values = [getattr(k, "bandwidth", None) for k in kernels]
    return None if any(v is None for v in values) else np.asarray(values, dtype=np.float64)


def _check_kernel(kernel: Any, name: str) -> _kernels.Kernel:
    kern = _kernels.get_kernel(kernel, name)
    if isinstance(kern, _kernels.Precomputed):
        raise ValueError(
            f"`{name}` cannot be 'precomputed' in hsic.pairwise, which computes one Gram matrix "
            "per column; use hsic.test for precomputed Gram matrices."
        )
    return kern


def _prepare(X, Y, method: Method, dtype):
    """The checked columns and names of X and Y (Y is X when ``Y`` is ``None``)."""
    symmetric = Y is None
    arr_x = as_samples(X, "X", dtype=dtype)
    names_x = _names(X, arr_x.shape[1], "x")
    cols_x = _columns(arr_x, "X", names_x, dtype)
    if symmetric:
        names_y, cols_y = names_x, cols_x
    else:
        arr_y = as_samples(Y, "Y", dtype=dtype)
        names_y = _names(Y, arr_y.shape[1], "y")
        cols_y = _columns(arr_y, "Y", names_y, dtype)
        if cols_y.shape[0] != cols_x.shape[0]:
            hint = transposed_hint({"X": tuple(cols_x.shape), "Y": tuple(cols_y.shape)})
            raise ValueError(
                "`X` and `Y` must have the same number of samples (rows); "
                f"got {cols_x.shape[0]} and {cols_y.shape[0]}.{hint}"
            )
    n, p = cols_x.shape
    if symmetric and p < 2:
        raise ValueError(f"`X` must have at least 2 columns when `Y` is None; got {p}.")
    if n < MIN_N[method.name]:
        raise ValueError(
            f"hsic.pairwise with method={method.name!r} needs at least {MIN_N[method.name]} "
            f"samples; got n={n}."
        )
    return cols_x, names_x, cols_y, names_y


def _sums_and_counts(blocks_x, blocks_y, p, q, block, symmetric, perms, batch, dtype, bar=None):
    """``n²·HSIC_b`` of every tested pair, and either the gamma test's ``Σ_{i≠j}(K̄L̄)²``
    (``perms`` is ``None``) or the permutation test's exceedance counts, block by block."""
    kl = np.full((p, q), np.nan)
    sq = np.full((p, q), np.nan)
    counts = np.zeros((p, q), dtype=np.int64)
    for bi, x_block in enumerate(blocks_x):
        rows = slice(bi * block, min((bi + 1) * block, p))
        for bj, y_block in enumerate(blocks_y):
            if symmetric and bj < bi:
                continue
            cols = slice(bj * block, min((bj + 1) * block, q))
            shape = (rows.stop - rows.start, cols.stop - cols.start)
            if perms is None:
                k, s = _block_sums(x_block, y_block)
                sq[rows, cols] = s[: shape[0], : shape[1]]
            else:
                k = np.asarray(_products(x_block[0], y_block[0]))
                thresholds = tie_threshold(k, dtype)
                c = _count(x_block[0], y_block[0], thresholds, perms, batch)
                counts[rows, cols] = c[: shape[0], : shape[1]]
            kl[rows, cols] = k[: shape[0], : shape[1]]
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return kl, sq, counts


def _check_pairs_finite(kl, symmetric: bool, names_x, names_y) -> None:
    """Raise (``check_finite``, naming the first pair) if a tested pair's statistic is not
    finite."""
    tested = np.triu(np.ones(kl.shape, dtype=bool), 1) if symmetric else np.ones(kl.shape, bool)
    bad = tested & ~np.isfinite(kl)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        check_finite(kl[i, j], what=f"statistic of the pair {names_x[i]!r}, {names_y[j]!r}")


def _gamma_pvalues(kl, sq, blocks_x, blocks_y, n, symmetric, names_x, names_y) -> np.ndarray:
    p, q = kl.shape
    totals_x, traces_x = _per_column(blocks_x, p)
    totals_y, traces_y = _per_column(blocks_y, q)
    _, _, pvalue = gamma_law(
        kl, sq, totals_x[:, None], totals_y[None, :], traces_x[:, None], traces_y[None, :], n,
    )
    tested = np.ones((p, q), dtype=bool)
    if symmetric:
        tested = np.triu(tested, 1)
    if np.isnan(pvalue[tested]).any():
        i, j = np.argwhere(np.isnan(pvalue) & tested)[0]
        raise ValueError(
            f"The gamma approximation is undefined for the pair {names_x[i]!r}, "
            f"{names_y[j]!r} (its null mean or variance is 0); use method='permutation'."
        )
    return pvalue


def pairwise(
    X: ArrayLike,
    Y: ArrayLike | None = None,
    *,
    method: str | Method = "permutation",
    adjust: Literal["bh", "bonferroni"] | None = None,
    kernel_x: str | _kernels.Kernel = "gaussian",
    kernel_y: str | _kernels.Kernel | None = None,
    rng: RNGLike = None,
    block_size: int = 128,
    dtype: str | np.dtype | None = None,
    progress: bool | None = None,
) -> PairwiseResult:
    """HSIC independence tests of every column of X against every column of Y, or of X itself.

    For each pair of columns ``(x_i, y_j)``, the statistic is ``HSIC_b = tr(K H L H)/n²`` with
    each column's own kernel (Gaussian with the median heuristic by default) and the p-value that
    of [`hsic.test`][hsic.test] with the same method, a method object or its name:

    * [`hsic.Permutation`][hsic.Permutation] (``"permutation"``, the default): B shared
      permutations of the samples; with ``method=hsic.Permutation(n_resamples=B)``, entry
      ``(i, j)`` equals ``hsic.test(X[:, i], Y[:, j], method=method, rng=rng).pvalue``: the
      p-value is ``(1 + #{null ≥ observed}) / (1 + B)``, ties within ``1000·eps`` (relative)
      counting as extreme. Its ``batch_size`` (permutations per device call; ``None``: 250)
      bounds memory only. The smallest p-value is ``1/(1 + B)``, which a Bonferroni or BH
      adjustment over many pairs may never bring below your level: use ``"gamma"`` to screen
      many columns.
    * [`hsic.Gamma`][hsic.Gamma] (``"gamma"``): Gretton et al. (2008)'s gamma approximation,
      about B times faster.

    All pairs are computed together: one centred Gram matrix per column, then matrix products
    over blocks of ``block_size`` columns. With ``Y=None`` each unordered pair ``i < j`` is
    tested once; the matrices are symmetric with a NaN diagonal.

    Args:
      X: ``(n, p)`` samples (a NumPy array, pandas DataFrame, ...); each column is a variable.
      Y: ``(n, q)`` samples with the same n, or ``None`` to test the columns of X pairwise.
      method: a method object (above), or its name for its defaults.
      adjust: ``None``, ``"bh"`` (Benjamini–Hochberg) or ``"bonferroni"``, over the
        ``n_tests`` distinct pairs; the result's ``pvalue_adjusted``.
      kernel_x: a kernel name or [`Kernel`][hsic.kernels.Kernel] for the columns of X,
        fitted to each column separately (not ``"precomputed"``), as ``hsic.test``'s
        ``kernel_x``.
      kernel_y: the same for the columns of Y; ``None`` (default): ``kernel_x``. With
        ``Y=None`` it must be left ``None``.
      rng: the source of the permutations: None (default: fresh entropy), an int seed, a
        ``numpy.random.Generator`` (a seed is drawn from it) or a JAX key; see the guide's
        *Randomness*. The seed used is recorded in ``res.info["rng"]``, and passing it back
        repeats the run exactly.
      block_size: columns per block (memory and speed only; results depend on it only
        through the order of floating-point sums). Lower it if memory is short.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.
      progress: show a progress bar over the blocks of pairs; ``None`` (default): only when
        stderr is a terminal and the work is long (``hsic._base.progress``).

    Returns:
      A [`PairwiseResult`][hsic.PairwiseResult]; its ``info`` holds ``n_resamples`` (B) for
      the permutation method.

    Raises:
      ValueError: on bad shapes, NaN or inf, a constant column, mismatched n, too few
        samples, unknown names, a method that is not one of the above, Gram matrices too
        large for memory, or a pair whose statistic is NaN or infinite (named). Errors about
        a DataFrame's columns use their names.

    Example:
      >>> import numpy as np, hsic
      >>> rng = np.random.default_rng(0)
      >>> X = rng.normal(size=(100, 3))
      >>> X[:, 2] = np.cos(2 * X[:, 0]) + 0.1 * rng.normal(size=100)
      >>> res = hsic.pairwise(X, method="gamma", adjust="bh")
      >>> bool(res.pvalue_adjusted[0, 2] < 1e-6), bool(res.pvalue_adjusted[0, 1] > 0.05)
      (True, True)
      >>> best = res.pairs()[0]           # the pairs, most significant first
      >>> best["x"], best["y"]
      ('x0', 'x2')

    References:
      Gretton, Fukumizu, Teo, Song, Schölkopf, Smola (2008), "A kernel statistical test of
      independence", NIPS 20. Benjamini & Hochberg (1995), "Controlling the false discovery
      rate", JRSS-B 57.
    """
    method = as_method(method, METHODS, test="hsic.pairwise")
    if adjust is not None:
        check_choice(adjust, "adjust", ADJUSTMENTS)
    block_size = check_positive_int(block_size, "block_size")
    kern = _check_kernel(kernel_x, "kernel_x")
    if Y is None and kernel_y is not None:
        raise ValueError(
            "`kernel_y` applies to the columns of Y; with Y=None the columns of X are tested "
            f"against each other with `kernel_x`. Drop `kernel_y`; got {kernel_y!r}."
        )
    kern_y = kern if kernel_y is None else _check_kernel(kernel_y, "kernel_y")
    seed = seed_of(rng)
    generator = as_generator(seed)
    dtype = float_dtype(dtype)
    symmetric = Y is None
    permutation = method.name == "permutation"
    with precision(dtype):
        cols_x, names_x, cols_y, names_y = _prepare(X, Y, method, dtype)
        (n, p), q = cols_x.shape, cols_y.shape[1]
        # balanced blocks (100 columns in blocks of 64: two of 50, not 64 and 36 padded to 64)
        widest = max(p, q)
        block = -(-widest // -(-widest // block_size))
        columns = p if symmetric else p + q
        check_fits_in_memory(
            n, columns * (1 if permutation else 2) + 4 * block, dtype,
            what=f"hsic.pairwise of {columns} columns",
            instead="Pass a smaller `block_size`, test fewer columns at a time, or a random "
            "subsample of the rows.",
        )
        kernels_x = _fit_kernels(kern, cols_x, "X", names_x)
        blocks_x = _blocks(cols_x, kernels_x, block, dtype, squares=not permutation)
        if symmetric:
            kernels_y, blocks_y = kernels_x, blocks_x
        else:
            kernels_y = _fit_kernels(kern_y, cols_y, "Y", names_y)
            blocks_y = _blocks(cols_y, kernels_y, block, dtype, squares=not permutation)

        perms, batch, info = None, 0, {}
        if permutation:
            resampling = cast(Permutation, method)  # method.name == "permutation"
            B = resampling.n_resamples
            warn_if_beyond_permutations(B, n)
            perms = jax.device_put(draw_permutations(generator, B, n, B))
            batch = DEFAULT_BATCH if resampling.batch_size is None else resampling.batch_size
            info = {"n_resamples": B}
        pairs = p * (p - 1) // 2 if symmetric else p * q
        work = float(pairs) * (1 if perms is None else perms.shape[0]) * n * n
        nb = len(blocks_x)
        tiles = nb * (nb + 1) // 2 if symmetric else nb * len(blocks_y)
        bar = make_bar(resolve_progress(progress, work), tiles, "pairwise", unit="block")
        kl, sq, counts = _sums_and_counts(
            blocks_x, blocks_y, p, q, block, symmetric, perms, batch, dtype, bar
        )
        _check_pairs_finite(kl, symmetric, names_x, names_y)
        statistic = kl / float(n * n)
        if permutation:
            pvalue = (1.0 + counts) / (1.0 + cast(Permutation, method).n_resamples)
        else:
            pvalue = _gamma_pvalues(kl, sq, blocks_x, blocks_y, n, symmetric, names_x, names_y)
    tested_idx: tuple[np.ndarray, ...]
    if symmetric:
        upper = np.triu(np.ones((p, p), dtype=bool), 1)
        statistic = np.where(upper, statistic, statistic.T)
        pvalue = np.where(upper, pvalue, pvalue.T)
        np.fill_diagonal(statistic, np.nan)
        np.fill_diagonal(pvalue, np.nan)
        tested_idx = np.triu_indices(p, 1)
    else:
        tested_idx = tuple(np.indices((p, q)).reshape(2, -1))
    adjusted = None
    if adjust is not None:
        adjusted = np.full((p, q), np.nan)
        adjusted[tested_idx] = adjust_pvalues(pvalue[tested_idx], method=adjust)
        if symmetric:
            adjusted[tested_idx[1], tested_idx[0]] = adjusted[tested_idx]
    return PairwiseResult(
        statistic=statistic,
        pvalue=pvalue,
        null_distribution=None,
        method=method.name,
        n=n,
        info={**info, "rng": seed},
        pvalue_adjusted=adjusted,
        adjust=adjust,
        names_x=names_x,
        names_y=names_y,
        bandwidths_x=_bandwidths(kernels_x),
        bandwidths_y=_bandwidths(kernels_y),
        n_tests=len(tested_idx[0]),
        symmetric=symmetric,
    )


def _count(Gx, Gy, thresholds, perms, batch_size: int) -> np.ndarray:
    """Exceedance counts over all permutations, in batches of ``batch_size`` (the last batch
    padded with masked repeats, so that every batch has one shape and compiles once)."""
    B = perms.shape[0]
    size = min(batch_size, B)
    thresholds = jnp.asarray(thresholds, dtype=Gx.dtype)
    Kp = pad_rows(Gx)
    chunks = []
    for start in range(0, B, size):
        positions = np.arange(start, start + size)
        idx = np.minimum(positions, B - 1)
        valid = jnp.asarray(positions < B)
        chunks.append(_block_counts(Kp, Gy, thresholds, perms[idx], valid))
    return np.sum(np.asarray(jax.device_get(chunks), dtype=np.int64), axis=0)


def _per_column(blocks: list, count: int) -> tuple[np.ndarray, np.ndarray]:
    totals = np.concatenate([np.asarray(b[-2], dtype=np.float64) for b in blocks])[:count]
    traces = np.concatenate([np.asarray(b[-1], dtype=np.float64) for b in blocks])[:count]
    return totals, traces

