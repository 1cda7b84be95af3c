"""NOCCO: the normalised cross-covariance operator statistic and its regularised projections.

``R = K̄(K̄ + εnI)⁻¹`` is computed with a symmetric positive-definite inverse written for XLA
(blocked Gauss–Jordan), whose gradient is given in closed form (``custom_vjp``), so the
HSIC-bottleneck objective can differentiate through it.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from hsic._base.validation import check_number
from hsic._stats.gram import centre

__all__ = ["nocco_from_gram", "nocco_projection", "spd_inverse"]

#: Block size of the Gauss–Jordan inverse. Each block step multiplies by the explicit inverse
#: of its pivot block, which loses accuracy on ill-conditioned matrices as the block grows: on
#: a 256 × 256 Gaussian Gram matrix of 4-dimensional data (cond 9e3, float32) the relative
#: error is 7e-5 with blocks of 8 (LAPACK's float32 inverse: 1e-5), 2e-4 with 16 and 1e-3
#: with 32. Larger blocks are not faster (see ``benchmarks/README.md``).
_GJ_BLOCK = 8


def _small_spd_inverse(P: jax.Array) -> jax.Array:
    """Inverse of a small SPD block by Gauss–Jordan elimination without pivoting.

    Step k maps ``P`` to ``P − c r / p`` with pivot ``p = P[k, k]``, row ``r = P[k]`` and
    column ``c = P[:, k]``, then writes ``1/p`` at ``(k, k)``, ``r/p`` in the rest of row k
    and ``−c/p`` in the rest of column k (in-place inversion; Higham 2002, "Accuracy and
    Stability of Numerical Algorithms", ch. 14). A ``fori_loop``, not unrolled: unrolling
    lengthens the compilation of the HSIC-bottleneck training step (see
    ``benchmarks/README.md``)."""
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


def spd_inverse(A: jax.Array, block: int | None = None) -> jax.Array:
    """``A⁻¹`` of a symmetric positive-definite ``(m, m)`` matrix by blocked Gauss–Jordan.

    The block version of `_small_spd_inverse`: for each diagonal block ``K`` (rows and columns
    ``K``, the others ``O``), with ``P = A[K, K]⁻¹``, ``C = A[:, K]`` and ``R = A[K, :]``:
    ``A[O, O] −= C_O P R_O``, ``A[K, O] = P R_O``, ``A[O, K] = −C_O P``, ``A[K, K] = P``.
    Without pivoting this is stable for SPD matrices (every pivot block is a Schur complement
    of ``A``, hence SPD). ``m`` is padded to a multiple of ``block`` with an identity block.

    Only matrix products and slices: XLA runs them on its own threads, where the LAPACK route
    (``jnp.linalg.solve``: LU, then two triangular solves with m right-hand sides, in
    OpenBLAS) runs OpenBLAS's worker threads beside XLA's (the comparison:
    ``benchmarks/bench_nocco_inverse.py``, ``benchmarks/README.md``). Its float32 error is of
    the order of the LU solve's (see ``_GJ_BLOCK``).
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
    """``A⁻¹ = (K̄ + ridge·I)⁻¹`` (`spd_inverse`, exactly symmetrised)."""
    inv = spd_inverse(Kc + ridge * jnp.eye(Kc.shape[0], dtype=Kc.dtype))
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
    epsilon = check_number(epsilon, "epsilon", "a positive number", low=0, low_open=True)
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
    epsilon = check_number(epsilon, "epsilon", "a positive number", low=0, low_open=True)
    K = jnp.asarray(K)
    L = jnp.asarray(L)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape != L.shape:
        raise ValueError(
            f"`K` and `L` must be square Gram matrices of the same shape; got {K.shape} and "
            f"{L.shape}."
        )
    return jnp.sum(nocco_projection(K, epsilon=epsilon) * nocco_projection(L, epsilon=epsilon))
