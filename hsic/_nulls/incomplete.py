"""HSICAggInc: the aggregated test on incomplete U-statistics (Schrab, Kim, Guedj, Gretton 2022).

This module owns the null of ``hsic.test(x, y, method=hsic.AggregatedIncomplete(...))``: the
incomplete U-statistics of every bandwidth pair over a design of pairs of rows, their wild
bootstrap, and the aggregation (``hsic._nulls.aggregated.aggregate``, shared with HSICAgg).

**The statistic.** The sample is split into halves, ``Z_i = (x_i, y_i, x_{N+i}, y_{N+i})``
for ``i < N = ⌊n/2⌋`` (an odd last row is left out). With
``h^x_ij = k(x_i, x_j) − k(x_i, x_{N+j}) − k(x_{N+i}, x_j) + k(x_{N+i}, x_{N+j})`` and
``h^y_ij`` the same for y, ``h(Z_i, Z_j) = h^x_ij h^y_ij`` is a symmetric kernel of order 2
whose mean is ``4 HSIC`` (the population HSIC of the two kernels). The incomplete
U-statistic averages it over a design ``D`` of pairs:
``Ĥ = (1/4|D|) Σ_{(i,j)∈D} h(Z_i, Z_j)``. The design is the first R superdiagonals,
``D = {(i, i + r) : 1 ≤ r ≤ R, i + r < N}``, ``|D| = RN − R(R + 1)/2`` pairs (about R·n/2);
with ``R ≥ N − 1`` it holds every pair and ``Ĥ`` is the complete U-statistic.

**The null** is the wild bootstrap with Rademacher signs ``ε_i``:
``Ĥ^ε = (1/4|D|) Σ_{(i,j)∈D} ε_i ε_j h(Z_i, Z_j)``, one draw of signs shared by every
bandwidth pair. Under independence, swapping ``x_i`` with ``x_{N+i}`` (and keeping the y's)
leaves the distribution of the sample unchanged and flips the sign of ``h^x_ij`` for every j,
so the observed ``Ĥ`` and the bootstrapped ones are exchangeable: the test is exact, as a
permutation test is. B₁ draws give the per-pair p-values, B₂ more the level correction and
the p-value, with HSICAgg's definitions (``hsic._nulls.aggregated``).

**Cost.** For each superdiagonal r the kernel values of the ``J_x + J_y`` bandwidths on its
pairs are computed once per batch of draws, and one matrix product
``(signs_i signs_{i+r}) · (h^x h^y)ᵀ`` gives every draw's sum for every pair of bandwidths:
``O(n·R·(J_x J_y)·B)`` operations, and ``O(n·(J_x J_y + batch))`` memory, linear in n.
"""

from __future__ import annotations

import functools
import math
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np

from hsic._nulls.aggregated import aggregated_outcome
from hsic._nulls.pvalues import Outcome, check_finite
from hsic._stats import kernels as _kernels

__all__ = ["SIGN_ROWS", "design_size", "incomplete_null", "incomplete_sums"]

#: Draws per matrix product inside ``incomplete_sums`` (fixed, so that batching cannot change
#: the sums).
SIGN_ROWS = 16


def design_size(half: int, diagonals: int) -> int:
    """``|D|``, the pairs in the first ``diagonals`` superdiagonals of ``half`` rows."""
    r = min(diagonals, half - 1)
    return r * half - r * (r + 1) // 2


def _pair_values(kind: str, a: jax.Array, b: jax.Array, bandwidths: jax.Array) -> jax.Array:
    """``k(a_i, b_i)`` for each bandwidth: ``(J, N)``."""
    sq = jnp.sum((a - b) ** 2, axis=1)
    if kind == "gaussian":
        return jnp.exp(-sq[None, :] / (2.0 * bandwidths[:, None] ** 2))
    return jnp.exp(-jnp.sqrt(sq)[None, :] / bandwidths[:, None])


def _h_values(kind, u, v, bandwidths, r, valid):
    """``h_ij`` of one variable on the pairs ``(i, i + r)``, zero where ``i + r ≥ N``."""
    ur, vr = jnp.roll(u, -r, axis=0), jnp.roll(v, -r, axis=0)
    h = (
        _pair_values(kind, u, ur, bandwidths) - _pair_values(kind, u, vr, bandwidths)
        - _pair_values(kind, v, ur, bandwidths) + _pair_values(kind, v, vr, bandwidths)
    )
    return jnp.where(valid[None, :], h, 0.0)


@functools.partial(jax.jit, static_argnames=("kind_x", "kind_y"))
def incomplete_sums(
    x: jax.Array, y: jax.Array, bandwidths_x: jax.Array, bandwidths_y: jax.Array,
    signs: jax.Array, offsets: jax.Array, *, kind_x: str, kind_y: str,
) -> jax.Array:
    """``Σ_{(i,j)∈D} ε_i ε_j h^x_ij h^y_ij`` for each row ``ε`` of ``signs`` and each pair of
    bandwidths: ``(S, J_x, J_y)``.

    Args:
      x, y: ``(2N, d)`` samples (first half ``i``, second half ``N + i``).
      bandwidths_x, bandwidths_y: ``(J_x,)`` and ``(J_y,)``.
      signs: ``(S, N)`` signs (rows of ones give the observed sums).
      offsets: the superdiagonals ``r`` of the design, ``(R,)``.
      kind_x, kind_y: ``"gaussian"`` or ``"laplace"``.
    """
    half = signs.shape[1]
    x1, x2, y1, y2 = x[:half], x[half:], y[:half], y[half:]
    jx, jy = bandwidths_x.shape[0], bandwidths_y.shape[0]
    rows = jnp.arange(half)

    # every draw goes through a product of SIGN_ROWS rows, whatever the batch: the sums do
    # not depend on how the draws are batched, to the last bit
    count = signs.shape[0]
    padded = jnp.pad(signs, ((0, -count % SIGN_ROWS), (0, 0)), constant_values=1.0)
    chunks = padded.reshape(-1, SIGN_ROWS, half)

    def step(acc, r):
        valid = rows + r < half
        hx = _h_values(kind_x, x1, x2, bandwidths_x, r, valid)
        hy = _h_values(kind_y, y1, y2, bandwidths_y, r, valid)
        h = (hx[:, None, :] * hy[None, :, :]).reshape(jx * jy, half)
        e = chunks * jnp.roll(chunks, -r, axis=2)
        return acc + jnp.einsum("csn,jn->csj", e, h), None

    acc = jnp.zeros((chunks.shape[0], SIGN_ROWS, jx * jy), dtype=signs.dtype)
    sums, _ = jax.lax.scan(step, acc, offsets)
    return sums.reshape(-1, jx, jy)[:count]


def _signs(rng: np.random.Generator, count: int, half: int, dtype) -> np.ndarray:
    """``count`` rows of Rademacher signs, drawn row after row (one double per sign, so the
    draws do not depend on how they are batched)."""
    return np.where(rng.random((count, half)) < 0.5, -1.0, 1.0).astype(dtype)


def incomplete_null(
    x: jax.Array,
    y: jax.Array,
    kx: _kernels.Kernel,
    ky: _kernels.Kernel,
    rng: np.random.Generator,
    *,
    n_resamples: int,
    n_resamples_level: int,
    n_diagonals: int,
    scales_x: np.ndarray,
    scales_y: np.ndarray,
    weights: np.ndarray,
    alpha: float,
    pair_pvalues: str,
    batch_size: int,
    progress: bool,
) -> Outcome:
    """HSICAggInc on validated data (see the module notes).

    Args:
      x, y: validated ``(n, d)`` samples.
      kx, ky: Gaussian or Laplace kernels (from ``bandwidth_kernels``).
      rng: the source of the signs.
      n_resamples: B₁, the wild-bootstrap draws of the quantile set.
      n_resamples_level: B₂, the draws of the level set.
      n_diagonals: R, the superdiagonals of the design (capped at ``N − 1``).
      scales_x, scales_y: the bandwidths are ``kx.bandwidth · scales_x`` (and so for y).
      weights: the normalised ``(J_x, J_y)`` weights.
      alpha: the level of the reported decision.
      pair_pvalues: ``"fitted"`` or ``"empirical"`` (``aggregate``).
      batch_size: draws per device call (the result does not depend on it).
      progress: show a progress bar.

    Returns:
      The statistic and null of the most significant pair, the aggregated p-value, ``info``.
    """
    kx = cast(_kernels.Gaussian | _kernels.Laplace, kx)
    ky = cast(_kernels.Gaussian | _kernels.Laplace, ky)
    n, dtype = x.shape[0], x.dtype
    half = n // 2
    r = min(n_diagonals, half - 1)
    size = design_size(half, r)
    sx, sy = float(kx.bandwidth), float(ky.bandwidth)
    bx = np.asarray(scales_x, dtype=np.float64) * sx
    by = np.asarray(scales_y, dtype=np.float64) * sy
    # data and bandwidths times the power of two that brings the middle bandwidth into [1, 2):
    # exact, and the squared distances neither overflow nor underflow whatever the units
    ux = math.ldexp(1.0, 1 - math.frexp(float(bx[len(bx) // 2]))[1])
    uy = math.ldexp(1.0, 1 - math.frexp(float(by[len(by) // 2]))[1])
    xs, ys = x[: 2 * half] * jnp.asarray(ux, dtype), y[: 2 * half] * jnp.asarray(uy, dtype)
    args = (xs, ys, jnp.asarray(bx * ux, dtype=dtype), jnp.asarray(by * uy, dtype=dtype))
    kinds = {"kind_x": kx.name, "kind_y": ky.name}
    offsets = jnp.arange(1, r + 1)
    scale = 1.0 / (4.0 * size)
    ones = jnp.ones((1, half), dtype=dtype)
    observed = np.asarray(incomplete_sums(*args, ones, offsets, **kinds))[0] * scale

    def draws(count: int, desc: str) -> np.ndarray:
        bar = None
        if progress:
            from tqdm.auto import tqdm  # deferred: only progress bars need it

            bar = tqdm(total=count, desc=desc, unit="draw", leave=False)
        chunks = []
        for start in range(0, count, batch_size):
            step = min(batch_size, count - start)
            signs = jax.device_put(_signs(rng, step, half, dtype))
            chunks.append(incomplete_sums(*args, signs, offsets, **kinds))
            if bar is not None:
                chunks[-1].block_until_ready()
                bar.update(step)
        if bar is not None:
            bar.close()
        return np.concatenate(jax.device_get(chunks)) * scale

    null = draws(n_resamples, "aggregated_incomplete, stage 1/2 (B1 wild-bootstrap draws)")
    level = draws(n_resamples_level, "aggregated_incomplete, stage 2/2 (B2 level draws)")
    check_finite(observed, null)
    out = aggregated_outcome(
        observed, null, level, weights, alpha, pair_pvalues, kx, ky, bx, by
    )
    return out._replace(info={**out.info, "n_diagonals": int(r), "design_size": int(size)})
