"""Null distributions and p-values: the permutation engine and the gamma approximation.

**Permutation engine.** With ``K̄ = HKH`` and ``L̄ = HLH`` computed once, the statistic of the
permuted sample is ``HSIC_b(K, PLPᵀ) = Σ_ij K̄_ij L̄_{p(i)p(j)} / n²``, and no kernel is
ever recomputed. It is evaluated over blocks of ``PERMUTATION_ROWS`` rows,
``Σ_blocks Σ (K̄[block] ∘ L̄[p[block]][:, p])``: the gathered ``rows × n`` block stays in the
CPU's cache while its columns are gathered (a scattered gather of the whole ``L̄[p][:, p]``,
or a transposed read, misses the cache on nearly every access once n passes ~2000). The
permutations are drawn one after
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

from hsic._estimators import CentredSums, centre

__all__ = [
    "permutation_null", "permutation_pvalue", "gamma_law", "gamma_null"
]

#: Ties within this many machine epsilons (relative) count as extreme.
TIE_RTOL_EPS = 1000
#: Rows of ``K̄`` per block of the permuted sum (a ``128 × n`` float32 block is 512 KiB at
#: n = 1000). Measured per permutation on this 2-core CPU against 16 to 256 rows: the best or
#: near it at n = 1000, 2000 and 4000.
PERMUTATION_ROWS = 128


@jax.jit
def pad_rows(Kc: jax.Array) -> jax.Array:
    """``K̄`` (or a stack of them, ``(..., n, n)``) with zero rows appended up to a multiple of
    ``PERMUTATION_ROWS`` (done once per test; the zero rows add nothing to the permuted
    sums)."""
    n = Kc.shape[-2]
    return jnp.pad(Kc, [(0, 0)] * (Kc.ndim - 2) + [(0, -n % PERMUTATION_ROWS), (0, 0)])


@jax.jit
def permuted_stack_sums(Kp: jax.Array, Ls: jax.Array, perms: jax.Array) -> jax.Array:
    """``Σ_ij K̄^a_ij L̄^b_{p(i)p(j)}`` for every pair ``(a, b)`` of two stacks of centred Gram
    matrices and each row ``p`` of ``perms``: ``(P, A, B)``.

    The engine's blocks of rows for several matrices at once (many-pair and aggregated
    tests): ``Kp`` is ``pad_rows`` of the ``(A, n, n)`` stack, ``Ls`` the ``(B, n, n)`` stack.
    Each block of rows ``i`` of every ``L̄^b``, with its columns gathered by ``p``, meets the
    same rows of every ``K̄^a`` in one matrix product, so each permutation gathers every
    ``L̄^b`` once (``B·n²`` reads) whatever ``A``.
    """
    n, rows = Ls.shape[-1], PERMUTATION_ROWS
    a, b = Kp.shape[0], Ls.shape[0]

    def one(p):
        padded = jnp.concatenate([p, jnp.zeros(Kp.shape[1] - n, p.dtype)])

        def block(start):
            K_block = jax.lax.dynamic_slice_in_dim(Kp, start, rows, axis=1)
            block_rows = jax.lax.dynamic_slice_in_dim(padded, start, rows)
            # One 2-D gather per matrix (a batched 3-D gather measured ~1.7× slower)
            L_block = jax.lax.map(lambda L: L[block_rows][:, p], Ls)
            return K_block.reshape(a, -1) @ L_block.reshape(b, -1).T

        # map, then sum (not a scan with a zero carry, which shard_map's varying types reject)
        return jnp.sum(jax.lax.map(block, jnp.arange(0, Kp.shape[1], rows)), axis=0)

    return jax.lax.map(one, perms)


@jax.jit
def _permuted_sums(Kp: jax.Array, Lc: jax.Array, perms: jax.Array) -> jax.Array:
    """``Σ_ij K̄_ij L̄_{p(i)p(j)}`` for each row ``p`` of ``perms``: ``permuted_stack_sums``
    with one matrix on each side (as fast as a kernel of its own, n = 300 to 2000).

    ``Kp`` is ``pad_rows(K̄)``, ``Lc`` is ``L̄``.
    """
    return permuted_stack_sums(Kp[None], Lc[None], perms)[:, 0, 0]


def _draw_permutations(rng: np.random.Generator, count: int, n: int, size: int) -> np.ndarray:
    """``count`` permutations drawn one after another (so batching cannot change them),
    padded to ``size`` rows by repeating the last."""
    perms = np.empty((size, n), dtype=np.int32)
    for b in range(count):
        perms[b] = rng.permutation(n)
    perms[count:] = perms[count - 1]
    return perms


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
      rng: the source of the permutations (see ``hsic._base.rng.as_generator``).
      n_permutations: B.
      batch_size: permutations per device call. The result does not depend on it.
      progress: show a tqdm progress bar on stderr.

    Returns:
      A NumPy array of B null statistics (``HSIC_b`` of the permuted data).
    """
    n = Kc.shape[0]
    batch_size = min(batch_size, n_permutations)
    Kp, Lc = pad_rows(jax.device_put(Kc)), jax.device_put(Lc)

    def run_batch(perms):
        return _permuted_sums(Kp, Lc, jax.device_put(perms))

    return run_permutation_batches(
        run_batch, rng, n, n_permutations, batch_size, batch_size, progress=progress
    )


def run_permutation_batches(
    run_batch, rng, n: int, n_permutations: int, batch_size: int, padded_size: int, *, progress
) -> np.ndarray:
    """The host loop of the permutation engine, shared by the one- and multi-device paths.

    Each batch of up to ``batch_size`` permutations is drawn in order from ``rng``, padded to
    ``padded_size`` rows, and passed to ``run_batch(perms)``, which places it on the
    device(s) explicitly and returns the permuted sums. Results are fetched once, at the end:
    nothing in the loop waits for the device, except the progress bar.
    """
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_permutations, desc="permutations", unit="perm", leave=False)
    chunks, counts = [], []
    for start in range(0, n_permutations, batch_size):
        count = min(batch_size, n_permutations - start)
        chunks.append(run_batch(_draw_permutations(rng, count, n, padded_size)))
        counts.append(count)
        if bar is not None:
            chunks[-1].block_until_ready()
            bar.update(count)
    if bar is not None:
        bar.close()
    host = jax.device_get(chunks)
    return np.concatenate([c[:k] for c, k in zip(host, counts, strict=True)]) / float(n * n)


def permutation_pvalue(null: np.ndarray, observed: float) -> float:
    """``(1 + #{null ≥ observed − tol}) / (1 + B)``, ``tol = 1000·eps·|observed|``."""
    eps = np.finfo(np.asarray(null).dtype).eps if np.asarray(null).dtype.kind == "f" else 0.0
    tol = TIE_RTOL_EPS * eps * abs(observed)
    count = int(np.sum(null >= observed - tol))
    return (1.0 + count) / (1.0 + len(null))


def gamma_law(kl, kl_sq_off, k_total, l_total, k_trace, l_trace, n: int):
    """The gamma approximation of [`gamma_null`][hsic._nulls.gamma_null], on arrays of sums.

    Each argument but ``n`` is a float or an array of the sums of one or many pairs (as in
    [`CentredSums`][hsic._estimators.CentredSums]); they broadcast together.

    Returns:
      ``(shape, scale, pvalue)`` arrays (float64): the gamma law of ``HSIC_b`` (scale ``v/μ``)
      and the upper tail probability of the observed ``HSIC_b = kl/n²``; NaN where the null mean
      or variance is not positive (the approximation is undefined there).
    """
    kl, kl_sq_off, k_total, l_total, k_trace, l_trace = (
        np.asarray(v, dtype=np.float64)
        for v in (kl, kl_sq_off, k_total, l_total, k_trace, l_trace)
    )
    pairs = n * (n - 1.0)
    var = kl_sq_off / 36.0 / pairs * 72.0 * (n - 4) * (n - 5) / (pairs * (n - 2) * (n - 3))
    mu_x, mu_y = (k_total - k_trace) / pairs, (l_total - l_trace) / pairs
    mean = (k_trace / n - mu_x) * (l_trace / n - mu_y) / n
    valid = (mean > 0) & (var > 0)
    mean, var = np.where(valid, mean, np.nan), np.where(valid, var, np.nan)
    shape = mean * mean / var
    scale = n * var / mean
    pvalue = scipy.special.gammaincc(shape, (kl / n) / scale)  # the gamma upper tail
    return shape, scale / n, pvalue


def gamma_null(sums: CentredSums, n: int) -> tuple[float, float, float, float]:
    """Gamma approximation to the null law of ``HSIC_b`` (Gretton et al. 2008).

    With double-centred ``K̄, L̄`` (the sums come from the tiled pass, so nothing ``n × n`` is
    stored), the null mean and variance of ``HSIC_b`` are, as in Gretton's hsicTestGamma:

    * ``v = 72(n−4)(n−5) / (n(n−1)(n−2)(n−3)) · Σ_{i≠j} (K̄_ij L̄_ij / 6)² / (n(n−1))``;
    * ``μ = (tr K/n − μ_x)(tr L/n − μ_y) / n``, with ``μ_x`` the mean off-diagonal entry of K.
      For kernels with a unit diagonal (Gaussian, Laplace) this is Gretton's
      ``(1 + μ_x μ_y − μ_x − μ_y)/n``.

    Then ``n·HSIC_b ≈ Gamma(shape = μ²/v, scale = n·v/μ)``.

    Returns:
      ``(statistic, pvalue, shape, scale)``: ``HSIC_b``, the upper tail probability, and the
      gamma law of ``HSIC_b`` itself (its scale is ``v/μ``, i.e. the ``n·HSIC_b`` scale / n).
    """
    kl = float(sums.kl)
    shape, scale, pvalue = gamma_law(
        kl, sums.kl_sq_off, sums.k_total, sums.l_total, sums.k_trace, sums.l_trace, n
    )
    if not np.isfinite(shape):
        raise ValueError(
            "The gamma approximation is undefined here (its null mean or variance is 0); "
            "use method='permutation'."
        )
    return kl / n / n, float(pvalue), float(shape), float(scale)


@jax.jit
def centred_grams(kx, ky, x: jax.Array, y: jax.Array):
    """``(K̄, L̄, HSIC_b)`` for fitted kernels: the Gram matrices computed once per test."""
    Kc = centre(kx.gram(x))
    Lc = centre(ky.gram(y))
    return Kc, Lc, jnp.sum(Kc * Lc) / float(x.shape[0]) ** 2
