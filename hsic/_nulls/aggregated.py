"""The aggregated HSIC test over a collection of bandwidths (HSICAgg, Schrab et al. 2022).

This module owns the null of ``hsic.test(x, y, method=hsic.Aggregated(...))``: the bandwidth
collection and its weights, the batched Gram matrices and permutations over all bandwidth
pairs, HSICAgg's level correction ``u_α`` by bisection, and the aggregated p-value. ``hsic.test``
validates the data and fits the kernels, then calls ``aggregated_null``. The linear-time
variant (HSICAggInc, ``hsic._nulls.incomplete``) shares the collection, the weights and the
aggregation (``aggregate``).

**The collection** (``bandwidths="auto"``, the default). For each variable separately, J
bandwidths spaced geometrically from half the 5 % quantile to twice the 95 % quantile of its
non-zero inter-sample distances, computed on the median heuristic's bounded, deterministic
subsample (``bandwidth_collection``): ``σ_j = σ_min (σ_max/σ_min)^{j/(J−1)}``. This follows the
data-driven collections of the later aggregated tests (MMDAgg/MMDAggInc, Schrab et al. 2023,
2022), which space about ten bandwidths geometrically across the range of inter-sample
distances, so that dependence at the scale of the nearest neighbours, and at the scale of the
whole sample, both fall inside the collection. The test then runs over the ``J_x · J_y`` pairs
(100 for the default J = 10), which is its cost: ``J_x + J_y`` Gram matrices and
``J_x · J_y`` sums per permutation. The older **factor grid** (``bandwidth_factors=``), the
default of the 2022 HSICAgg code, is ``λ_a = f_a σ_x`` and ``μ_b = f_b σ_y`` (``σ`` the fitted
bandwidth of each kernel, the median heuristic by default; ``f`` e.g. ``2^{-2}, …, 2^{2}``).

**Weights** ``w_ab`` of the pairs (normalised to sum 1): ``"uniform"``, or the product
``w_a^x w_b^y`` of MMDAgg's one-dimensional schemes over the ordered bandwidths (Schrab et al.
2023, section 5.1): ``"decreasing"`` ``w_j ∝ 1/j`` (favours small bandwidths),
``"increasing"`` ``w_j ∝ 1/(J + 1 − j)``, ``"centred"`` ``w_j ∝ 1/(|(J+1)/2 − j| + 1)`` for odd
J and ``1/(|(J+1)/2 − j| + 1/2)`` for even J; or an array (``pair_weights``).

**The test.** Let ``H_ab = HSIC_b`` with kernels ``k_{λ_a}`` and ``l_{μ_b}``. One set of B₁
permutations, shared by all pairs, gives each pair a p-value ``p̃_ab(H)``: by default
(``"fitted"``) the upper tail of the Pearson type III law matched to the mean, variance and
skewness of the pair's B₁ permuted statistics (``fitted_tail_pvalues``); or (``"empirical"``)
HSICAgg's rank ``p̂_ab(H) = (1 + #{b₁ : H_ab^{(b₁)} ≥ H}) / (1 + B₁)``, for which
``H_ab > q̂^{ab}_{1−u w_ab} ⟺ p̂_ab(H_ab) ≤ u w_ab`` defines HSICAgg's quantiles. The
aggregated test rejects when some pair's p-value is below its share of the corrected level,
i.e. when ``T = min_ab p̃_ab(H_ab) / w_ab ≤ u_α``. HSICAgg's level correction ``u_α`` is the
largest ``u`` at which a second, independent set of B₂ permuted samples (counted with the
observed one, the ``+1`` convention) rejects at rate ``≤ α``; it is found by bisection on ``u``
(50 steps, as in HSICAgg).

**The p-value** is the permutation p-value of the statistic ``T`` over the second set:
``p = (1 + #{b₂ : T^{(b₂)} ≤ T}) / (1 + B₂)``, ties within ``1000·eps`` (relative) counting as
extreme. It is valid for either kind of per-pair p-value: under independence, the observed
sample, the B₂ and the B₁ permuted samples are i.i.d. uniform draws from the orbit of the data
under permutations, so ``T`` and the ``T^{(b₂)}`` (all computed against the same B₁ set) are
exchangeable. It is also the smallest α at which the aggregated test rejects: the bisection
converges to the ``⌊α(1 + B₂)⌋``-th smallest ``T^{(b₂)}``, so ``p ≤ α`` exactly when
``T ≤ u_α`` (up to the bisection's resolution, ``2⁻⁵⁰`` of the search interval).

**Why fitted tails (the default).** Ranks lie on the grid ``k/(1 + B₁)``, so with them ``T``
cannot go below ``J/(1 + B₁)`` with J uniformly weighted pairs, and permuted samples that reach
that floor tie with the observed one (ties count as extreme): below ``B₁ ≈ J/α`` (2000 for the
default 100 pairs) the test is conservative and loses power, and a strong dependence gets a
p-value of about ``J_eff/(1 + B₁)`` at best (``J_eff ≤ J`` the nearly independent pairs;
measured 0.0045–0.015 on ``docs/beyond-one-pair.md``'s sine with B₁ = 2000). The fitted tail
is continuous, so it has no floor: B₁ only estimates three moments per pair, and the p-value
reaches ``1/(1 + B₂)`` (0.0005 on the same sine). A poor fit costs power, never validity.

HSICAgg uses the unbiased (U-statistic) HSIC; this module uses the biased ``HSIC_b`` of the rest
of the package. Both give valid permutation tests, and the aggregation only uses each pair's
p-value, never the scale of its statistic.
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np

from hsic._base.validation import check_fits_in_memory
from hsic._nulls.permutation import pad_rows, permuted_stack_sums, run_permutation_batches
from hsic._nulls.pvalues import Outcome, fitted_tail_pvalues, pvalues_against
from hsic._stats import kernels as _kernels
from hsic._stats.distances import distance_quantiles
from hsic._stats.gram import centre

__all__ = [
    "COLLECTION_QUANTILES",
    "DEFAULT_FACTORS",
    "DEFAULT_N_BANDWIDTHS",
    "N_BISECTIONS",
    "PAIR_PVALUES",
    "WEIGHT_SCHEMES",
    "Aggregation",
    "aggregate",
    "aggregated_null",
    "aggregated_outcome",
    "bandwidth_collection",
    "bandwidth_kernels",
    "check_bandwidths",
    "check_factors",
    "check_pair_pvalues",
    "check_weights",
    "pair_weights",
    "weight_vector",
]

#: The factor grid of the 2022 HSICAgg code: these multiples of each variable's fitted bandwidth.
DEFAULT_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)
#: Bandwidths per variable in the data-driven collection.
DEFAULT_N_BANDWIDTHS = 10
#: The collection spans ``[q_low / 2, 2 q_high]`` for these quantiles of the distances.
COLLECTION_QUANTILES = (0.05, 0.95)
#: The weight schemes, over bandwidths ordered from small to large.
WEIGHT_SCHEMES = ("uniform", "increasing", "decreasing", "centred")
#: The per-pair p-values that ``T`` aggregates: fitted tails (default) or HSICAgg's ranks.
PAIR_PVALUES = ("fitted", "empirical")
#: Bisection steps for ``u_α`` (HSICAgg's default B₃).
N_BISECTIONS = 50


def check_factors(factors: Any) -> np.ndarray:
    """Check a bandwidth grid: distinct positive finite numbers."""
    try:
        arr = np.asarray(factors, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr) & (arr > 0)):
        raise ValueError(
            "`bandwidth_factors` must be a non-empty sequence of positive finite numbers; "
            f"got {factors!r}."
        )
    if len(np.unique(arr)) != arr.size:
        raise ValueError(f"`bandwidth_factors` must not repeat a value; got {factors!r}.")
    return arr


def check_pair_pvalues(pair_pvalues: Any) -> str:
    """Check the kind of per-pair p-values: one of ``PAIR_PVALUES``."""
    if not isinstance(pair_pvalues, str) or pair_pvalues not in PAIR_PVALUES:
        raise ValueError(
            f"`pair_pvalues` must be one of {', '.join(map(repr, PAIR_PVALUES))}; "
            f"got {pair_pvalues!r}."
        )
    return pair_pvalues


def check_bandwidths(bandwidths: Any) -> str | tuple[tuple[float, ...], tuple[float, ...]]:
    """Check ``bandwidths``: ``"auto"``, or a pair ``(bandwidths_x, bandwidths_y)`` of
    non-empty sequences of distinct positive finite numbers (in the data's units)."""
    if isinstance(bandwidths, str):
        if bandwidths != "auto":
            raise ValueError(
                "`bandwidths` must be 'auto' or a pair (bandwidths_x, bandwidths_y) of "
                f"sequences of positive numbers; got {bandwidths!r}."
            )
        return bandwidths
    pair = []
    try:
        parts = list(bandwidths)
    except TypeError:
        parts = []
    if len(parts) == 2:
        for part in parts:
            try:
                arr = np.asarray(part, dtype=np.float64)
            except (TypeError, ValueError):
                break
            if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr) & (arr > 0)):
                break
            if len(np.unique(arr)) != arr.size:
                break
            pair.append(tuple(float(v) for v in arr))
    if len(pair) != 2:
        raise ValueError(
            "`bandwidths` must be 'auto' or a pair (bandwidths_x, bandwidths_y) of non-empty "
            f"sequences of distinct positive finite numbers; got {bandwidths!r}."
        )
    return pair[0], pair[1]


def bandwidth_collection(x: Any, count: int) -> np.ndarray:
    """The data-driven collection of one variable: ``count`` bandwidths spaced geometrically
    from half the 5 % quantile to twice the 95 % quantile of the non-zero distances between
    its samples (on the median heuristic's subsample, so deterministic and bounded in cost).

    Args:
      x: concrete ``(n, d)`` samples of one variable.
      count: J, the number of bandwidths (1: the geometric middle of the range).

    Returns:
      The J bandwidths, increasing, float64.

    Example:
      >>> import numpy as np
      >>> from hsic._nulls.aggregated import bandwidth_collection
      >>> x = np.linspace(0.0, 1.0, 201)[:, None]
      >>> np.round(bandwidth_collection(x, 3), 4).tolist()
      [0.015, 0.153, 1.56]
    """
    low, high = distance_quantiles(x, np.asarray(COLLECTION_QUANTILES))
    low, high = 0.5 * low, 2.0 * high
    if count == 1:
        return np.array([float(np.sqrt(low * high))])
    return low * (high / low) ** (np.arange(count) / (count - 1.0))


def weight_vector(scheme: str, count: int) -> np.ndarray:
    """MMDAgg's weights of ``count`` ordered bandwidths (Schrab et al. 2023, section 5.1),
    normalised to sum 1.

    Example:
      >>> from hsic._nulls.aggregated import weight_vector
      >>> weight_vector("decreasing", 3).round(4).tolist()
      [0.5455, 0.2727, 0.1818]
    """
    j = np.arange(1, count + 1, dtype=np.float64)
    if scheme == "uniform":
        raw = np.ones(count)
    elif scheme == "decreasing":
        raw = 1.0 / j
    elif scheme == "increasing":
        raw = 1.0 / (count + 1 - j)
    elif scheme == "centred":
        raw = 1.0 / (np.abs((count + 1) / 2.0 - j) + (1.0 if count % 2 else 0.5))
    else:
        raise ValueError(
            f"`weights` must be one of {', '.join(map(repr, WEIGHT_SCHEMES))} or an array of "
            f"positive weights; got {scheme!r}."
        )
    return raw / raw.sum()


def check_weights(weights: Any, shape: tuple[int, int]) -> np.ndarray:
    """Check the ``shape`` weights of the bandwidth pairs (``None``: uniform); normalised."""
    if weights is None:
        return np.full(shape, 1.0 / (shape[0] * shape[1]))
    try:
        arr = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape != shape:
        got = "an array of shape " + str(arr.shape) if arr is not None else repr(weights)
        raise ValueError(
            f"`weights` must be an array of shape {shape} (one weight per pair of bandwidths "
            f"of x and y), or a scheme's name; got {got}."
        )
    if not np.all(np.isfinite(arr) & (arr > 0)):
        raise ValueError("`weights` must be positive and finite.")
    return arr / arr.sum()


def pair_weights(weights: Any, shape: tuple[int, int]) -> np.ndarray:
    """The normalised ``shape`` weights of the bandwidth pairs: a scheme's name (the outer
    product of ``weight_vector`` for x and for y; ``None`` is ``"uniform"``) or an array
    (``check_weights``)."""
    if weights is None or isinstance(weights, str):
        if weights is None or weights == "uniform":
            return check_weights(None, shape)
        return np.outer(weight_vector(weights, shape[0]), weight_vector(weights, shape[1]))
    return check_weights(weights, shape)


def bandwidth_kernels(
    x: Any, y: Any, kx: _kernels.Kernel, ky: _kernels.Kernel, *, bandwidths: Any,
    n_bandwidths: int, bandwidth_factors: Any,
) -> tuple[Any, Any, np.ndarray, np.ndarray, dict[str, Any]]:
    """The kernels and scales of a collection: ``(kx, ky, scales_x, scales_y, info)``, where the
    bandwidths are ``kx.bandwidth · scales_x`` (and so for y).

    With ``bandwidth_factors``, the kernels are the fitted ones and the scales the factors
    (the bit-exact grid of earlier versions); otherwise unit-bandwidth kernels of the same
    family and scales equal to the collection (``"auto"``) or to the given bandwidths.
    """
    for kernel, name in ((kx, "kernel_x"), (ky, "kernel_y")):
        if not isinstance(kernel, (_kernels.Gaussian, _kernels.Laplace)):
            raise ValueError(
                f"`{name}` must be a Gaussian or Laplace kernel for an aggregated test, which "
                f"aggregates over bandwidths; got {type(kernel).__name__}."
            )
    if bandwidth_factors is not None:
        factors = np.asarray(bandwidth_factors, dtype=np.float64)
        info: dict[str, Any] = {
            "bandwidths": "factors", "bandwidth_factors": [float(f) for f in factors]
        }
        return kx, ky, factors, factors, info
    if isinstance(bandwidths, str):
        xs = bandwidth_collection(np.asarray(x), n_bandwidths)
        ys = bandwidth_collection(np.asarray(y), n_bandwidths)
        info = {"bandwidths": "auto", "n_bandwidths": int(n_bandwidths)}
    else:
        xs, ys = (np.asarray(b, dtype=np.float64) for b in bandwidths)
        info = {"bandwidths": "given"}
    unit_x = cast(Any, kx).__class__(bandwidth=1.0)
    unit_y = cast(Any, ky).__class__(bandwidth=1.0)
    return unit_x, unit_y, xs, ys, info


@jax.jit
def _centred_gram_stack(kernel, x, factors):
    """``H K_f H`` for each bandwidth factor ``f``: one vmapped pass, ``(F, n, n)``."""

    def one(f):
        return centre(jax.tree_util.tree_map(lambda b: b * f, kernel).gram(x))

    return jax.vmap(one)(factors)


@jax.jit
def _grid_sums(Kcs, Lcs):
    """``Σ_ij K̄^a_ij L̄^b_ij`` for every pair ``(a, b)``: an ``(A, B)`` matrix."""
    return jnp.einsum("aij,bij->ab", Kcs, Lcs)


def level_correction(
    level_pvalues: np.ndarray, weights: np.ndarray, alpha: float, *, steps: int = N_BISECTIONS
) -> float:
    """HSICAgg's ``u_α`` by bisection on ``u``.

    ``u_α`` is the largest ``u`` in ``[0, 1/min w]`` with
    ``(1 + #{b₂ : ∃ j, p̂_j^{(b₂)} ≤ u w_j}) / (1 + B₂) ≤ α`` (the rejection rate of the second
    permutation set, counted with the observed sample), found by ``steps`` bisection steps
    (the lower end is returned, so the condition holds at ``u_α``).
    """
    b2 = level_pvalues.shape[0]

    def rate(u):
        rejected = np.any(level_pvalues <= u * weights[None, :], axis=1)
        return (1.0 + np.count_nonzero(rejected)) / (1.0 + b2)

    low, high = 0.0, 1.0 / float(weights.min())
    if rate(low) > alpha:
        return 0.0
    for _ in range(steps):
        middle = 0.5 * (low + high)
        if rate(middle) <= alpha:
            low = middle
        else:
            high = middle
    return low


class Aggregation(NamedTuple):
    """What ``aggregate`` returns: the aggregated p-value, ``T`` (the smallest weighted
    per-pair p-value), ``u_α``, the per-pair permutation p-values, the per-pair p-values
    behind ``T`` (the fitted tails, or the permutation p-values again) and the index of the
    selected pair."""

    pvalue: float
    min_weighted_pvalue: float
    u_alpha: float
    pvalues: np.ndarray
    pair_pvalues: np.ndarray
    selected: int


def aggregate(
    observed: np.ndarray, null: np.ndarray, level: np.ndarray, weights: np.ndarray,
    alpha: float, *, pair_pvalues: str = "fitted",
) -> Aggregation:
    """HSICAgg's aggregation of J statistics (see the module notes), for any resampling null.

    Args:
      observed: ``(J,)`` observed statistics.
      null: ``(B₁, J)`` resampled statistics (the quantile set).
      level: ``(B₂, J)`` a second, independent set (the level set).
      weights: ``(J,)`` normalised weights.
      alpha: the level of the decision (``u_α``).
      pair_pvalues: ``"fitted"``, each pair's p-value from the Pearson type III law matched
        to its B₁ null (``fitted_tail_pvalues``), or ``"empirical"``, HSICAgg's rank among
        the B₁ (``pvalues_against``).
    """
    fitted = pair_pvalues == "fitted"
    score = fitted_tail_pvalues if fitted else pvalues_against
    p_perm = pvalues_against(null, observed.reshape(1, -1))[0]
    p_obs = score(null, observed.reshape(1, -1))[0] if fitted else p_perm
    p_level = score(null, level)
    weighted = p_obs / weights
    t_obs = float(np.min(weighted))
    t_level = np.min(p_level / weights[None, :], axis=1)
    pvalue = (1.0 + np.count_nonzero(t_level <= t_obs * (1 + 1e-12))) / (1.0 + level.shape[0])
    u_alpha = level_correction(p_level, weights, alpha)
    # ties (e.g. tails that underflow to 0): the pair farthest above its null, in null sds
    spread = null.std(axis=0)
    excess = (observed - null.mean(axis=0)) / np.where(spread > 0, spread, np.inf)
    selected = int(np.lexsort((-excess, weighted))[0])
    return Aggregation(float(pvalue), t_obs, u_alpha, p_perm, p_obs, selected)


def aggregated_outcome(
    observed: np.ndarray, null: np.ndarray, level: np.ndarray, weights: np.ndarray,
    alpha: float, pair_pvalues: str, kx: Any, ky: Any, bandwidths_x: np.ndarray,
    bandwidths_y: np.ndarray,
) -> Outcome:
    """``aggregate`` over a ``(J_x, J_y)`` grid of bandwidth pairs, as an ``Outcome``: the
    statistic, null and kernels (of ``kx``'s and ``ky``'s family) of the selected pair, the
    aggregated p-value, and the grid's details in ``info``. Shared by HSICAgg and HSICAggInc.

    Args:
      observed: ``(J_x, J_y)`` observed statistics.
      null: ``(B₁, J_x, J_y)`` resampled statistics (the quantile set).
      level: ``(B₂, J_x, J_y)`` the level set.
      weights: ``(J_x, J_y)`` normalised weights.
      alpha: the level of the reported decision.
      pair_pvalues: ``"fitted"`` or ``"empirical"`` (``aggregate``).
      kx, ky: kernels whose class (Gaussian or Laplace) the selected pair's kernels take.
      bandwidths_x, bandwidths_y: the grid's bandwidths, in the data's units.
    """
    shape = observed.shape
    b1, b2 = null.shape[0], level.shape[0]
    agg = aggregate(
        observed.reshape(-1), null.reshape(b1, -1), level.reshape(b2, -1),
        weights.reshape(-1), alpha, pair_pvalues=pair_pvalues,
    )
    a, b = np.unravel_index(agg.selected, shape)
    info: dict[str, Any] = {
        "bandwidths_x": [float(v) for v in bandwidths_x],
        "bandwidths_y": [float(v) for v in bandwidths_y],
        "weights": weights.tolist(),
        "statistics": observed.astype(np.float64).tolist(),
        "pvalues": agg.pvalues.reshape(shape).tolist(),
        "pair_pvalues": pair_pvalues,
        "aggregated_pvalues": agg.pair_pvalues.reshape(shape).tolist(),
        "selected": [int(a), int(b)],
        "min_weighted_pvalue": agg.min_weighted_pvalue,
        "alpha": alpha,
        "u_alpha": agg.u_alpha,
        "reject": bool(agg.min_weighted_pvalue <= agg.u_alpha),
        "n_resamples": int(b1),
        "n_resamples_level": int(b2),
        "n_bisections": N_BISECTIONS,
    }
    return Outcome(
        statistic=float(observed[a, b]),
        pvalue=agg.pvalue,
        null_distribution=null[:, a, b],
        info=info,
        kernel_x=kx.__class__(bandwidth=float(bandwidths_x[a])),
        kernel_y=ky.__class__(bandwidth=float(bandwidths_y[b])),
    )


def aggregated_null(
    x: jax.Array,
    y: jax.Array,
    kx: _kernels.Kernel,
    ky: _kernels.Kernel,
    rng: np.random.Generator,
    *,
    n_resamples: int,
    n_resamples_level: int,
    scales_x: np.ndarray,
    scales_y: np.ndarray,
    weights: np.ndarray,
    alpha: float,
    pair_pvalues: str,
    batch_size: int,
    progress: bool,
) -> Outcome:
    """The aggregated test on validated data (see the module notes).

    Args:
      x, y: validated ``(n, d)`` samples.
      kx, ky: Gaussian or Laplace kernels (from ``bandwidth_kernels``).
      rng: the source of the permutations.
      n_resamples: B₁, the shared permutations (the quantile set).
      n_resamples_level: B₂, the second, independent set.
      scales_x, scales_y: the bandwidths are ``kx.bandwidth · scales_x`` (and so for y).
      weights: the normalised ``(J_x, J_y)`` weights (``pair_weights``).
      alpha: the level of the reported decision.
      pair_pvalues: ``"fitted"`` or ``"empirical"`` (``aggregate``).
      batch_size: permutations per device call (the result does not depend on it).
      progress: show a progress bar.

    Returns:
      The ``statistic``, ``null_distribution`` and kernels of the most significant bandwidth
      pair (smallest ``p̂_ab / w_ab``), the aggregated ``pvalue``, and ``info``.
    """
    b2 = n_resamples_level
    # checked by bandwidth_kernels: kernels with a bandwidth
    kx = cast(_kernels.Gaussian | _kernels.Laplace, kx)
    ky = cast(_kernels.Gaussian | _kernels.Laplace, ky)
    fx, fy = scales_x, scales_y
    w = weights
    n = x.shape[0]
    check_fits_in_memory(
        n, len(fx) + len(fy) + 4, x.dtype, what="method='aggregated'",
        instead="Use fewer bandwidths, method='aggregated_incomplete' (O(n) memory), or test "
        "a random subsample of the rows.",
    )
    dtype = x.dtype
    Kcs = _centred_gram_stack(kx, x, jnp.asarray(fx, dtype=dtype))
    Lcs = _centred_gram_stack(ky, y, jnp.asarray(fy, dtype=dtype))
    observed = np.asarray(_grid_sums(Kcs, Lcs)) / float(n * n)  # (A, B)

    Kp = pad_rows(Kcs)

    def run_batch(perms):
        return permuted_stack_sums(Kp, Lcs, jax.device_put(perms))

    def null_set(count, desc):
        size = min(batch_size, count)
        return run_permutation_batches(
            run_batch, rng, n, count, size, size, progress=progress, desc=desc
        )

    # (B1, A, B): the quantile set; then (B2, A, B): the second, independent set, for u_α and
    # the p-value. The progress bar names the stage.
    null = null_set(n_resamples, "aggregated, stage 1/2 (B1 null permutations)")
    level = null_set(b2, "aggregated, stage 2/2 (B2 level permutations)")
    sx, sy = float(kx.bandwidth), float(ky.bandwidth)
    return aggregated_outcome(
        observed, null, level, w, alpha, pair_pvalues, kx, ky,
        np.array([sx * float(f) for f in fx]), np.array([sy * float(f) for f in fy]),
    )
