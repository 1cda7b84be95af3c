"""The sums behind centred kernel alignment (CKA) of layer activations.

Two computations, both jitted:

* ``linear_sums``: linear-kernel CKA from features, never an ``n × n`` Gram matrix. It streams
  over blocks of rows and accumulates the ``d × d`` products ``ȦᵀḂ``, ``ȦᵀȦ``, ``ḂᵀḂ`` of the
  centred features (O(n·d²) time, O(d²) memory beyond the inputs), and, for the unbiased
  estimator, the row norms and column sums that turn them into the unbiased HSIC of Song et al.
  (2012) (see ``unbiased_terms``).
* ``batch_hsic_matrix``: for the layers of one minibatch, their U-centred Gram matrices stacked,
  and the unbiased HSIC of every pair of layers as one matrix product (the minibatch CKA of
  Nguyen, Raghu & Kornblith 2021 averages these over batches).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from hsic._stats.gram import centre
from hsic._stats.kernels import Linear

__all__ = [
    "LinearSums",
    "batch_hsic_matrix",
    "chunk_rows",
    "linear_cka_from_sums",
    "linear_sums",
    "ratio",
    "unbiased_terms",
]


class LinearSums(NamedTuple):
    """What linear CKA needs from the centred features ``Ȧ`` (n × p) and ``Ḃ`` (n × q).

    ``ab = ‖ȦᵀḂ‖²_F``, ``aa = ‖ȦᵀȦ‖²_F``, ``bb = ‖ḂᵀḂ‖²_F``. For the unbiased estimator, with
    ``α_i = ‖ȧ_i‖²`` and ``β_i = ‖ḃ_i‖²`` the row norms and ``s_a = Ȧᵀ1``, ``s_b = Ḃᵀ1`` the
    column sums (zero up to rounding): ``t_ab = 1ᵀK̃L̃1``, ``t_aa``, ``t_bb`` (the row sums of
    the zero-diagonal Gram matrices multiplied), ``k_tot = 1ᵀK̃1``, ``l_tot = 1ᵀL̃1``, and the
    diagonal products ``d_ab = αᵀβ``, ``d_aa = αᵀα``, ``d_bb = βᵀβ``. ``finite_a``/``finite_b``
    say whether the inputs held only finite values, ``constant_a``/``constant_b`` whether every
    row was identical.
    """

    ab: jax.Array
    aa: jax.Array
    bb: jax.Array
    t_ab: jax.Array
    t_aa: jax.Array
    t_bb: jax.Array
    k_tot: jax.Array
    l_tot: jax.Array
    d_ab: jax.Array
    d_aa: jax.Array
    d_bb: jax.Array
    finite_a: jax.Array
    finite_b: jax.Array
    constant_a: jax.Array
    constant_b: jax.Array


def chunk_rows(m: int, d: int) -> int:
    """Rows per block of ``linear_sums``: a power of two near ``2²² / d`` (4 MiB of float32
    per block and input), from 64 to 8192, and no more than ``m``."""
    rows = 2 ** round(math.log2(max(2**22 / max(d, 1), 1)))
    return int(min(m, min(8192, max(64, rows))))


def _scale_of(x: jax.Array, valid: jax.Array) -> jax.Array:
    """A power of two near ``1 / max|x|`` over the valid rows (1 for zeros): CKA does not
    depend on the scale of either input, and the fourth powers in ``‖ȦᵀḂ‖²`` stay within
    float32's range whatever the data's units."""
    top = jnp.max(jnp.where(valid[:, None], jnp.abs(x), 0.0))
    safe = jnp.where(top > 0, top, 1.0)
    return jnp.exp2(-jnp.round(jnp.log2(safe)))


@functools.partial(jax.jit, static_argnames=("rows", "unbiased"))
def linear_sums(a: jax.Array, b: jax.Array, n: Any, *, rows: int, unbiased: bool) -> LinearSums:
    """The ``LinearSums`` of the first ``n`` rows of ``a`` (m × p) and ``b`` (m × q); the rows
    from ``n`` to ``m`` are padding, masked out. Two passes over blocks of ``rows`` rows: the
    column means (with finiteness and constancy), then the centred products. The last block
    starts at ``m − rows`` and skips the rows that the one before it summed."""
    m = a.shape[0]
    valid = jnp.arange(m) < n
    n_float = jnp.asarray(n, a.dtype)
    finite_a = jnp.all(jnp.isfinite(a) | ~valid[:, None])
    finite_b = jnp.all(jnp.isfinite(b) | ~valid[:, None])
    a = a * _scale_of(a, valid)
    b = b * _scale_of(b, valid)
    mean_a = jnp.sum(jnp.where(valid[:, None], a, 0.0), axis=0) / n_float
    mean_b = jnp.sum(jnp.where(valid[:, None], b, 0.0), axis=0) / n_float
    first_a = a[0]
    first_b = b[0]
    constant_a = jnp.all(jnp.where(valid[:, None], a == first_a, True))
    constant_b = jnp.all(jnp.where(valid[:, None], b == first_b, True))
    p, q = a.shape[1], b.shape[1]
    n_blocks = -(-m // rows)
    zeros = jnp.zeros

    def block(i, acc):
        start = jnp.minimum(i * rows, m - rows)
        ids = start + jnp.arange(rows)
        keep = ((ids >= i * rows) & (ids < n))[:, None]
        ab = jnp.where(keep, jax.lax.dynamic_slice_in_dim(a, start, rows) - mean_a, 0.0)
        bb = jnp.where(keep, jax.lax.dynamic_slice_in_dim(b, start, rows) - mean_b, 0.0)
        out = dict(acc)
        out["ab"] = acc["ab"] + ab.T @ bb
        out["aa"] = acc["aa"] + ab.T @ ab
        out["bb"] = acc["bb"] + bb.T @ bb
        if unbiased:
            alpha = jnp.sum(ab * ab, axis=1)
            beta = jnp.sum(bb * bb, axis=1)
            out["s_a"] = acc["s_a"] + jnp.sum(ab, axis=0)
            out["s_b"] = acc["s_b"] + jnp.sum(bb, axis=0)
            out["a_alpha"] = acc["a_alpha"] + ab.T @ alpha
            out["a_beta"] = acc["a_beta"] + ab.T @ beta
            out["b_alpha"] = acc["b_alpha"] + bb.T @ alpha
            out["b_beta"] = acc["b_beta"] + bb.T @ beta
            out["sum_alpha"] = acc["sum_alpha"] + jnp.sum(alpha)
            out["sum_beta"] = acc["sum_beta"] + jnp.sum(beta)
            out["d_ab"] = acc["d_ab"] + alpha @ beta
            out["d_aa"] = acc["d_aa"] + alpha @ alpha
            out["d_bb"] = acc["d_bb"] + beta @ beta
        return out

    dtype = a.dtype
    acc = {"ab": zeros((p, q), dtype), "aa": zeros((p, p), dtype), "bb": zeros((q, q), dtype)}
    if unbiased:
        acc.update(
            s_a=zeros(p, dtype), s_b=zeros(q, dtype), a_alpha=zeros(p, dtype),
            a_beta=zeros(p, dtype), b_alpha=zeros(q, dtype), b_beta=zeros(q, dtype),
            sum_alpha=zeros((), dtype), sum_beta=zeros((), dtype), d_ab=zeros((), dtype),
            d_aa=zeros((), dtype), d_bb=zeros((), dtype),
        )
    acc = jax.lax.fori_loop(0, n_blocks, block, acc)
    ab2, aa2, bb2 = (jnp.sum(acc[k] * acc[k]) for k in ("ab", "aa", "bb"))
    zero = jnp.zeros((), dtype)
    if not unbiased:
        return LinearSums(ab2, aa2, bb2, *(zero,) * 8, finite_a, finite_b, constant_a, constant_b)
    s_a, s_b = acc["s_a"], acc["s_b"]
    # 1ᵀK̃L̃1 = (Ȧs_a − α)ᵀ(Ḃs_b − β), expanded so that only d-vectors are needed
    t_ab = s_a @ acc["ab"] @ s_b - s_a @ acc["a_beta"] - s_b @ acc["b_alpha"] + acc["d_ab"]
    t_aa = s_a @ acc["aa"] @ s_a - 2.0 * (s_a @ acc["a_alpha"]) + acc["d_aa"]
    t_bb = s_b @ acc["bb"] @ s_b - 2.0 * (s_b @ acc["b_beta"]) + acc["d_bb"]
    k_tot = s_a @ s_a - acc["sum_alpha"]
    l_tot = s_b @ s_b - acc["sum_beta"]
    return LinearSums(
        ab2, aa2, bb2, t_ab, t_aa, t_bb, k_tot, l_tot, acc["d_ab"], acc["d_aa"], acc["d_bb"],
        finite_a, finite_b, constant_a, constant_b,
    )


def unbiased_terms(
    frob: jax.Array, diag: jax.Array, k_tot: jax.Array, l_tot: jax.Array, t: jax.Array, n: Any
) -> jax.Array:
    """``n(n−3)·HSIC_u`` from feature-space sums (Song et al. 2012, eq. 5).

    With ``K̃ = K − diag(K)``: ``tr(K̃L̃) = ‖ȦᵀḂ‖² − αᵀβ`` (``frob − diag``), then
    ``tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1``.
    """
    n = jnp.asarray(n, frob.dtype)
    return frob - diag + k_tot * l_tot / ((n - 1) * (n - 2)) - 2.0 * t / (n - 2)


def linear_cka_from_sums(s: LinearSums, n: Any, *, unbiased: bool) -> jax.Array:
    """Linear CKA from ``LinearSums``: ``ab / sqrt(aa · bb)`` (biased, clipped to [0, 1]), or
    the ratio of the unbiased HSIC terms (not clipped: it can fall slightly below 0); 0 where a
    denominator is not positive."""
    if unbiased:
        kl = unbiased_terms(s.ab, s.d_ab, s.k_tot, s.l_tot, s.t_ab, n)
        kk = unbiased_terms(s.aa, s.d_aa, s.k_tot, s.k_tot, s.t_aa, n)
        ll = unbiased_terms(s.bb, s.d_bb, s.l_tot, s.l_tot, s.t_bb, n)
    else:
        kl, kk, ll = s.ab, s.aa, s.bb
    return ratio(kl, kk, ll, clip=not unbiased)


def ratio(kl: jax.Array, kk: jax.Array, ll: jax.Array, *, clip: bool) -> jax.Array:
    """``kl / sqrt(kk · ll)``, 0 unless both ``kk`` and ``ll`` are positive; clipped to
    [0, 1] with ``clip`` (the biased estimator, for which this holds up to rounding)."""
    safe = (kk > 0) & (ll > 0)
    denom = jnp.sqrt(jnp.where(safe, kk, 1.0)) * jnp.sqrt(jnp.where(safe, ll, 1.0))
    value = jnp.where(safe, kl / denom, 0.0)
    return jnp.clip(value, 0.0, 1.0) if clip else value


@jax.jit
def batch_hsic_matrix(
    kernels_a: list, acts_a: list, kernels_b: list | None, acts_b: list | None
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """``n(n−3)·HSIC_u`` of every pair of layers of one minibatch of ``n`` rows.

    Returns ``(cross, self_a, self_b, finite_a, finite_b)``: ``cross[i, j] = Σ K̂_i∘L̂_j``
    with ``K̂`` the U-centred Gram matrices (see [`centre`][hsic.centre]); the layers of ``a``
    against those of ``b`` (or of ``a`` again when ``acts_b`` is ``None``); the self terms
    ``Σ K̂_i∘K̂_i``; and whether each layer held only finite values.
    """

    def gram(kernel, x):
        if isinstance(kernel, Linear):  # U-centring ignores the shift; it saves precision
            x = x - jnp.mean(x, axis=0)
        return centre(kernel.gram(x), unbiased=True)

    def stack(kernels, acts):
        grams = [gram(k, x) for k, x in zip(kernels, acts, strict=True)]
        flat = jnp.stack([g.reshape(-1) for g in grams])
        finite = jnp.stack([jnp.all(jnp.isfinite(x)) for x in acts])
        return flat, finite

    flat_a, finite_a = stack(kernels_a, acts_a)
    if acts_b is None:
        cross = flat_a @ flat_a.T
        self_a = jnp.diagonal(cross)
        return cross, self_a, self_a, finite_a, finite_a
    flat_b, finite_b = stack(kernels_b, acts_b)
    cross = flat_a @ flat_b.T
    self_a = jnp.sum(flat_a * flat_a, axis=1)
    self_b = jnp.sum(flat_b * flat_b, axis=1)
    return cross, self_a, self_b, finite_a, finite_b
