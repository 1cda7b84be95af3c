"""dHSIC, the d-variable HSIC of Pfister et al. (2018), on Gram matrices.

``dHSIC = mean(∏_j K_j) + ∏_j g_j − 2·mean_a ∏_j m_j[a]`` (entrywise product; ``m_j`` the
row means and ``g_j`` the grand mean of ``K_j``). The d Gram matrices are computed once
(``grams_and_statistic``); a resampled statistic (a permutation of variables 2..d, or a
bootstrap draw of every variable) only re-indexes them, ``K_j[i][:, i]``, and no kernel is
recomputed (``permuted_statistics``, ``bootstrapped_statistics``). The sum is taken over
entries whose mean is ~0 (see ``dhsic_from_grams``), which keeps float32 accurate.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from hsic._stats.gram import centre

__all__ = [
    "bootstrapped_statistics",
    "centred_pair",
    "dhsic_from_grams",
    "grams_and_statistic",
    "permuted_statistics",
]


def dhsic_from_grams(grams: Sequence[jax.Array], row_means: Sequence[jax.Array] | None = None,
                     grand_means: Sequence[jax.Array] | None = None) -> jax.Array:
    """dHSIC of d Gram matrices (a list, so that some may be gathered and others not).

    With ``P = ∏_j K_j`` (entrywise), row means ``m_j = K_j 1/n`` and grand means
    ``g_j = 1ᵀK_j1/n²``, dHSIC is ``mean(P) + ∏_j g_j − 2·mean_a ∏_j m_j[a]``. It is summed as
    ``mean(P − E)`` with ``E_ab = ∏_j m_j[a] + ∏_j m_j[b] − ∏_j g_j``, whose mean is the last
    two terms: the summands then have mean ~0 and the running sum stays small. The means are
    computed from ``grams`` unless given (a permutation only re-indexes them).
    """
    n = grams[0].shape[0]
    if row_means is None:
        row_means = [jnp.mean(K, axis=1) for K in grams]
    if grand_means is None:
        grand_means = [jnp.mean(m) for m in row_means]
    prod = grams[0]
    for K in grams[1:]:
        prod = prod * K
    row = jnp.ones((n,), grams[0].dtype)
    grand = jnp.ones((), grams[0].dtype)
    for m, g in zip(row_means, grand_means, strict=True):
        row = row * m
        grand = grand * g
    E = row[:, None] + row[None, :] - grand
    return jnp.mean(prod - E)


def _gather(K: jax.Array, index: jax.Array) -> jax.Array:
    """``K[index][:, index]``: the Gram matrix of the re-indexed sample."""
    return K[index][:, index]


@jax.jit
def grams_and_statistic(fitted, xs):
    """The Gram matrix of each variable with its fitted kernel, and their dHSIC."""
    grams = [k.gram(x) for k, x in zip(fitted, xs, strict=True)]
    return grams, dhsic_from_grams(grams)


@jax.jit
def permuted_statistics(grams, indices: jax.Array) -> jax.Array:
    """dHSIC with variable j ≥ 1 re-indexed by ``indices[b, j − 1]``, for each b."""
    row_means = [jnp.mean(K, axis=1) for K in grams]
    grand_means = [jnp.mean(m) for m in row_means]

    def one(index):
        gathered = [grams[0]] + [_gather(K, index[j]) for j, K in enumerate(grams[1:])]
        means = [row_means[0]] + [m[index[j]] for j, m in enumerate(row_means[1:])]
        return dhsic_from_grams(gathered, means, grand_means)

    return jax.lax.map(one, indices)


@jax.jit
def bootstrapped_statistics(grams, indices: jax.Array) -> jax.Array:
    """dHSIC with every variable j re-indexed by ``indices[b, j]``, for each b."""

    def one(index):
        return dhsic_from_grams([_gather(K, index[j]) for j, K in enumerate(grams)])

    return jax.lax.map(one, indices)


@jax.jit
def centred_pair(K: jax.Array, L: jax.Array):
    """``(K̄, L̄, HSIC_b)``: for d = 2, dHSIC is HSIC_b, and the permutation engine of
    ``hsic._nulls.permutation`` takes the centred pair."""
    Kc, Lc = centre(K), centre(L)
    return Kc, Lc, jnp.sum(Kc * Lc) / float(K.shape[0]) ** 2
