"""Null distributions and p-values: the permutation engine and the gamma approximation.

**Permutation engine.** With ``K̄ = HKH`` and ``L̄ = HLH`` computed once, the statistic of the
permuted sample is ``HSIC_b(K, PLPᵀ) = Σ_ij K̄_ij L̄_{p(i)p(j)} / n²``. It is evaluated as
``Σ (K̄[q]ᵀ ∘ L̄[p]) / n²`` with ``q = p⁻¹``: two contiguous row gathers instead of a scattered
``n × n`` gather, and no kernel is ever recomputed. Permutation ``b`` is drawn from the ``b``-th
key of ``jax.random.split(key, B)``, so the null does not depend on how the B permutations are
batched.

**P-value.** ``p = (1 + #{b : T_b ≥ T − tol}) / (1 + B)`` with ``tol = 1000·eps·|T|``: ties
within floating-point rounding count as at least as extreme (Phipson & Smyth 2010).

**Gamma approximation** (Gretton et al. 2008): ``n·HSIC_b`` is approximated under the null by
a gamma law matched to its null mean and variance.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from hsic._estimators import centre

__all__ = ["as_key", "permutation_null", "permutation_pvalue", "gamma_null"]

#: Ties within this many machine epsilons (relative) count as extreme.
TIE_RTOL_EPS = 1000


def as_key(seed) -> jax.Array:
    """A JAX PRNG key from ``seed``: a non-negative int, or a key (typed or raw uint32)."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"`seed` must be a non-negative integer or a JAX key; got {seed}.")
        return jax.random.key(int(seed))
    if isinstance(seed, jax.Array):
        if jnp.issubdtype(seed.dtype, jax.dtypes.prng_key) and seed.shape == ():
            return seed
        if seed.dtype == jnp.uint32 and seed.shape == (2,):
            return jax.random.wrap_key_data(seed)
    raise ValueError(
        f"`seed` must be a non-negative integer or a JAX key (jax.random.key(...)); got {seed!r}."
    )


def _inverse_permutation(p: jax.Array) -> jax.Array:
    return jnp.zeros_like(p).at[p].set(jnp.arange(p.shape[0], dtype=p.dtype))


@jax.jit
def _permuted_sums(Kc: jax.Array, Lc: jax.Array, keys: jax.Array) -> jax.Array:
    """``Σ_ij K̄_ij L̄_{p(i)p(j)}`` for the permutation drawn from each key (sequentially)."""
    n = Kc.shape[0]

    def one(key):
        p = jax.random.permutation(key, n)
        return jnp.sum(Kc[_inverse_permutation(p)].T * Lc[p])

    return jax.lax.map(one, keys)


def permutation_null(
    Kc: jax.Array,
    Lc: jax.Array,
    key: jax.Array,
    n_permutations: int,
    *,
    batch_size: int = 250,
    progress: bool = False,
) -> np.ndarray:
    """Biased HSIC of ``n_permutations`` random permutations of the sample.

    Args:
      Kc, Lc: double-centred Gram matrices, ``(n, n)``.
      key: a PRNG key.
      n_permutations: B.
      batch_size: permutations per device call. The result does not depend on it.
      progress: show a tqdm progress bar on stderr.

    Returns:
      A NumPy array of B null statistics (``HSIC_b`` of the permuted data).
    """
    n = Kc.shape[0]
    keys = jax.random.split(key, n_permutations)
    batch_size = min(batch_size, n_permutations)
    n_batches = -(-n_permutations // batch_size)
    pad = n_batches * batch_size - n_permutations
    keys = jnp.concatenate([keys, jnp.repeat(keys[-1:], pad, axis=0)]) if pad else keys
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_permutations, desc="permutations", unit="perm", leave=False)
    chunks = []
    for b in range(n_batches):
        chunks.append(_permuted_sums(Kc, Lc, keys[b * batch_size : (b + 1) * batch_size]))
        if bar is not None:
            chunks[-1].block_until_ready()
            bar.update(min(batch_size, n_permutations - b * batch_size))
    if bar is not None:
        bar.close()
    sums = np.concatenate([np.asarray(c) for c in chunks])[:n_permutations]
    return sums / float(n * n)


def permutation_pvalue(null: np.ndarray, observed: float) -> float:
    """``(1 + #{null ≥ observed − tol}) / (1 + B)``, ``tol = 1000·eps·|observed|``."""
    eps = np.finfo(np.asarray(null).dtype).eps if np.asarray(null).dtype.kind == "f" else 0.0
    tol = TIE_RTOL_EPS * eps * abs(observed)
    count = int(np.sum(null >= observed - tol))
    return (1.0 + count) / (1.0 + len(null))


@jax.jit
def _gamma_moments(K: jax.Array, L: jax.Array):
    """``(n·HSIC_b, null mean, null variance of HSIC_b)`` as in Gretton's hsicTestGamma."""
    n = K.shape[0]
    Kc, Lc = centre(K), centre(L)
    product = Kc * Lc
    n_hsic = jnp.sum(product) / n
    v = (product / 6.0) ** 2
    var = (jnp.sum(v) - jnp.sum(jnp.diag(v))) / (n * (n - 1))
    var = var * 72.0 * (n - 4) * (n - 5) / (n * (n - 1) * (n - 2) * (n - 3))
    diag_k, diag_l = jnp.mean(jnp.diag(K)), jnp.mean(jnp.diag(L))
    mu_x = (jnp.sum(K) - jnp.trace(K)) / (n * (n - 1))
    mu_y = (jnp.sum(L) - jnp.trace(L)) / (n * (n - 1))
    mean = (diag_k - mu_x) * (diag_l - mu_y) / n
    return n_hsic, mean, var


def gamma_null(K: jax.Array, L: jax.Array) -> tuple[float, float, float, float]:
    """Gamma approximation to the null law of ``HSIC_b``.

    With ``μ`` and ``v`` the null mean and variance of ``HSIC_b`` from Gretton et al. (2008),
    ``n·HSIC_b ≈ Gamma(shape = μ²/v, scale = n·v/μ)``. For general kernels the mean is
    ``(mean k(x_i, x_i) − μ_x)(mean l(y_i, y_i) − μ_y)/n`` with ``μ_x`` the mean off-diagonal
    entry of K; for the Gaussian kernel this is Gretton's ``(1 + μ_x μ_y − μ_x − μ_y)/n``.

    Returns:
      ``(statistic, pvalue, shape, scale)``: ``HSIC_b``, the upper tail probability, and the
      gamma law of ``HSIC_b`` itself (its scale is ``v/μ``, i.e. the ``n·HSIC_b`` scale / n).
    """
    n = K.shape[0]
    n_hsic, mean, var = (float(v) for v in _gamma_moments(K, L))
    if not (mean > 0 and var > 0):
        raise ValueError(
            "The gamma approximation is undefined here (its null mean or variance is 0); "
            "use method='permutation'."
        )
    shape = mean * mean / var
    scale = n * var / mean
    pvalue = float(scipy.stats.gamma.sf(n_hsic, shape, scale=scale))
    return n_hsic / n, pvalue, shape, scale / n


@jax.jit
def centred_grams(kx, ky, x: jax.Array, y: jax.Array):
    """``(K̄, L̄, HSIC_b)`` for fitted kernels: the Gram matrices computed once per test."""
    Kc = centre(kx.gram(x))
    Lc = centre(ky.gram(y))
    return Kc, Lc, jnp.sum(Kc * Lc) / (x.shape[0] ** 2)


@jax.jit
def grams(kx, ky, x: jax.Array, y: jax.Array):
    """``(K, L)`` for fitted kernels."""
    return kx.gram(x), ky.gram(y)
