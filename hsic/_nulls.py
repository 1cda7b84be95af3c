"""Null distributions and p-values: the permutation engine and the gamma approximation.

**Permutation engine.** With ``K̄ = HKH`` and ``L̄ = HLH`` computed once, the statistic of the
permuted sample is ``HSIC_b(K, PLPᵀ) = Σ_ij K̄_ij L̄_{p(i)p(j)} / n²``. It is evaluated as
``Σ (K̄[q]ᵀ ∘ L̄[p]) / n²`` with ``q = p⁻¹``: two contiguous row gathers instead of a scattered
``n × n`` gather, and no kernel is ever recomputed. The permutations are drawn one after
another from NumPy's PCG64 seeded by ``seed`` (cheap on the host, nothing to compile), so the null
does not depend on how the B permutations are batched.

**P-value.** ``p = (1 + #{b : T_b ≥ T − tol}) / (1 + B)`` with ``tol = 1000·eps·|T|``: ties
within floating-point rounding count as at least as extreme (Phipson & Smyth 2010).

**Gamma approximation** (Gretton et al. 2008): ``n·HSIC_b`` is approximated under the null by
a gamma law matched to its null mean and variance.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special

from hsic._estimators import centre

__all__ = ["as_generator", "permutation_null", "permutation_pvalue", "gamma_null"]

#: Ties within this many machine epsilons (relative) count as extreme.
TIE_RTOL_EPS = 1000


def as_generator(seed) -> np.random.Generator:
    """The permutation source for ``seed``: a non-negative int, or a JAX key.

    A JAX key seeds NumPy's PCG64 with its key data, so equal keys give equal results.
    """
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"`seed` must be a non-negative integer or a JAX key; got {seed}.")
        return np.random.default_rng(int(seed))
    if isinstance(seed, jax.Array) and not isinstance(seed, jax.core.Tracer):
        if jnp.issubdtype(seed.dtype, jax.dtypes.prng_key) and seed.shape == ():
            return np.random.default_rng(np.asarray(jax.random.key_data(seed)).tolist())
        if seed.dtype == jnp.uint32 and seed.shape == (2,):
            return np.random.default_rng(np.asarray(seed).tolist())
    raise ValueError(
        f"`seed` must be a non-negative integer or a JAX key (jax.random.key(...)); got {seed!r}."
    )


@jax.jit
def _permuted_sums(Kc: jax.Array, Lc: jax.Array, perms: jax.Array, inverses: jax.Array):
    """``Σ_ij K̄_ij L̄_{p(i)p(j)}`` for each row ``p`` of ``perms`` (one at a time, in a scan)."""

    def one(p_and_q):
        p, q = p_and_q
        return jnp.sum(Kc[q].T * Lc[p])

    return jax.lax.map(one, (perms, inverses))


def _draw_permutations(rng: np.random.Generator, count: int, n: int, size: int):
    """``count`` permutations drawn one after another (so batching cannot change them),
    padded to ``size`` rows by repeating the last, with their inverses."""
    perms = np.empty((size, n), dtype=np.int32)
    for b in range(count):
        perms[b] = rng.permutation(n)
    perms[count:] = perms[count - 1]
    inverses = np.empty_like(perms)
    np.put_along_axis(inverses, perms, np.arange(n, dtype=np.int32)[None, :], axis=1)
    return perms, inverses


def permutation_null(
    Kc: jax.Array,
    Lc: jax.Array,
    rng: np.random.Generator,
    n_permutations: int,
    *,
    batch_size: int = 250,
    progress: bool = False,
) -> np.ndarray:
    """Biased HSIC of ``n_permutations`` random permutations of the sample.

    Args:
      Kc, Lc: double-centred Gram matrices, ``(n, n)``.
      rng: the source of the permutations (see ``as_generator``).
      n_permutations: B.
      batch_size: permutations per device call. The result does not depend on it.
      progress: show a tqdm progress bar on stderr.

    Returns:
      A NumPy array of B null statistics (``HSIC_b`` of the permuted data).
    """
    n = Kc.shape[0]
    batch_size = min(batch_size, n_permutations)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_permutations, desc="permutations", unit="perm", leave=False)
    chunks = []
    for start in range(0, n_permutations, batch_size):
        count = min(batch_size, n_permutations - start)
        perms, inverses = _draw_permutations(rng, count, n, batch_size)
        chunks.append(_permuted_sums(Kc, Lc, perms, inverses)[:count])
        if bar is not None:
            chunks[-1].block_until_ready()
            bar.update(count)
    if bar is not None:
        bar.close()
    return np.concatenate([np.asarray(c) for c in chunks]) / float(n * n)


def permutation_pvalue(null: np.ndarray, observed: float) -> float:
    """``(1 + #{null ≥ observed − tol}) / (1 + B)``, ``tol = 1000·eps·|observed|``."""
    eps = np.finfo(np.asarray(null).dtype).eps if np.asarray(null).dtype.kind == "f" else 0.0
    tol = TIE_RTOL_EPS * eps * abs(observed)
    count = int(np.sum(null >= observed - tol))
    return (1.0 + count) / (1.0 + len(null))


@jax.jit
def _gamma_moments(K: jax.Array, L: jax.Array):
    """``(n·HSIC_b, null mean, null variance of HSIC_b)`` as in Gretton's hsicTestGamma."""
    n = float(K.shape[0])  # a Python float: n⁴ overflows the integers JAX passes to XLA
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
    pvalue = float(scipy.special.gammaincc(shape, n_hsic / scale))  # the gamma upper tail
    return n_hsic / n, pvalue, shape, scale / n


@jax.jit
def centred_grams(kx, ky, x: jax.Array, y: jax.Array):
    """``(K̄, L̄, HSIC_b)`` for fitted kernels: the Gram matrices computed once per test."""
    Kc = centre(kx.gram(x))
    Lc = centre(ky.gram(y))
    return Kc, Lc, jnp.sum(Kc * Lc) / float(x.shape[0]) ** 2


@jax.jit
def grams(kx, ky, x: jax.Array, y: jax.Array):
    """``(K, L)`` for fitted kernels."""
    return kx.gram(x), ky.gram(y)
