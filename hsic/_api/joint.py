"""Joint independence of d ≥ 2 variables: dHSIC and ``hsic.joint_test`` (Pfister et al. 2018).

This module owns the d-variable HSIC (dHSIC), its three nulls (permutation, bootstrap, gamma)
and the [`JointTestResult`][hsic.JointTestResult]. For d = 2, dHSIC is the biased HSIC of
[`hsic.test`][hsic.test], and the permutation null draws the same permutations from the same
seed, so the two agree.

**Computation.** The d Gram matrices are computed once. A resampled statistic (a permutation,
or a bootstrap draw) only re-indexes them, ``K_j[i][:, i]``; no kernel is ever recomputed (for
d = 2 the permutation null is the engine of ``hsic._nulls``, shared with ``hsic.test``). The
resampling indices come from NumPy's PCG64 seeded by ``seed``, drawn one replicate after
another, so the null does not depend on the batching. The sum is taken over entries whose mean
is ~0 (see ``_dhsic``), which keeps float32 accurate.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special
from jax.typing import ArrayLike

from hsic._api.results import describe_kernel
from hsic._base.rng import as_generator
from hsic._base.validation import (
    as_samples,
    check_choice,
    check_fits_in_memory,
    check_positive_int,
    float_dtype,
    is_constant,
    precision,
)
from hsic._nulls.permutation import permutation_null
from hsic._nulls.pvalues import permutation_pvalue
from hsic._stats import kernels as _kernels
from hsic._stats.gram import centre

__all__ = ["JointTestResult", "joint_test", "dhsic", "METHODS"]

METHODS = ("permutation", "bootstrap", "gamma")


def _min_n(method: str, d: int) -> int:
    """Smallest n each method accepts (the gamma variance needs n ≥ 4d − 2)."""
    return 4 * d - 2 if method == "gamma" else 5


@dataclasses.dataclass(frozen=True, repr=False)
class JointTestResult:
    """Result of a joint independence test ([`hsic.joint_test`][hsic.joint_test]).

    Attributes:
      statistic: the observed dHSIC (a V-statistic; for d = 2 the biased HSIC).
      pvalue: the p-value of "x_1, ..., x_d are jointly independent".
      null_distribution: dHSIC of each permuted or bootstrapped sample, or ``None`` (gamma).
      method: ``"permutation"``, ``"bootstrap"`` or ``"gamma"``.
      n: the number of samples.
      kernels: the fitted kernel of each variable (bandwidths are the ones actually used).
      n_permutations: the number of permutations or bootstrap draws, or ``None`` (gamma).
      gamma_shape: shape of the gamma law approximating the null of ``statistic`` (gamma only).
      gamma_scale: scale of that law (gamma only); ``n·statistic`` has scale
        ``n·gamma_scale``, as in Pfister et al. (2018).
      info: method-specific details (plain JSON-serialisable values): ``d``, and for the
        gamma method ``null_mean`` and ``null_variance``, the estimated null moments of
        ``statistic``.
    """

    statistic: float
    pvalue: float
    null_distribution: np.ndarray | None
    method: str
    n: int
    kernels: tuple[_kernels.Kernel, ...]
    n_permutations: int | None = None
    gamma_shape: float | None = None
    gamma_scale: float | None = None
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def d(self) -> int:
        """The number of variables."""
        return len(self.kernels)

    @property
    def bandwidths(self) -> tuple[float | None, ...]:
        """The bandwidth used for each variable (``None`` for kernels without one)."""
        return tuple(
            None if getattr(k, "bandwidth", None) is None else float(k.bandwidth)
            for k in self.kernels
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary (without the null distribution)."""
        return {
            "statistic": self.statistic,
            "pvalue": self.pvalue,
            "method": self.method,
            "n": self.n,
            "d": self.d,
            "n_permutations": self.n_permutations,
            "kernels": [_kernels.kernel_params(k) for k in self.kernels],
            "gamma_shape": self.gamma_shape,
            "gamma_scale": self.gamma_scale,
            "info": dict(self.info),
        }

    def __repr__(self) -> str:
        if self.method == "gamma":
            detail = f"shape={self.gamma_shape:.4g}, scale={self.gamma_scale:.4g}"
        else:
            what = "permutations" if self.method == "permutation" else "bootstrap draws"
            detail = f"{self.n_permutations} {what}"
        lines = [
            f"JointTestResult(method={self.method!r}, {detail})",
            f"  n          = {self.n}",
            f"  d          = {self.d}",
            f"  statistic  = {self.statistic:.6g}   (dHSIC)",
            f"  pvalue     = {self.pvalue:.4g}",
        ]
        lines += [f"  kernel[{j}]  = {describe_kernel(k)}" for j, k in enumerate(self.kernels)]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The statistic on Gram matrices
# --------------------------------------------------------------------------------------------


def _dhsic(grams: Sequence[jax.Array], row_means: Sequence[jax.Array] | None = None,
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
    """``K[index][:, index]`` (measured faster here than two row gathers around a transpose,
    which pays off only in the two-matrix product of ``hsic._nulls``)."""
    return K[index][:, index]


@jax.jit
def _grams_and_statistic(fitted, xs):
    grams = [k.gram(x) for k, x in zip(fitted, xs, strict=True)]
    return grams, _dhsic(grams)


@jax.jit
def _permuted_statistics(grams, indices: jax.Array) -> jax.Array:
    """dHSIC with variable j ≥ 1 re-indexed by ``indices[b, j − 1]``, for each b."""
    row_means = [jnp.mean(K, axis=1) for K in grams]
    grand_means = [jnp.mean(m) for m in row_means]

    def one(index):
        gathered = [grams[0]] + [_gather(K, index[j]) for j, K in enumerate(grams[1:])]
        means = [row_means[0]] + [m[index[j]] for j, m in enumerate(row_means[1:])]
        return _dhsic(gathered, means, grand_means)

    return jax.lax.map(one, indices)


@jax.jit
def _bootstrapped_statistics(grams, indices: jax.Array) -> jax.Array:
    """dHSIC with every variable j re-indexed by ``indices[b, j]``, for each b."""

    def one(index):
        return _dhsic([_gather(K, index[j]) for j, K in enumerate(grams)])

    return jax.lax.map(one, indices)


def _resampling_null(grams, rng, method: str, count: int, batch_size: int) -> np.ndarray:
    """The permutation or bootstrap null, ``count`` replicates drawn one after another from
    ``rng`` (variables 2..d permuted for a permutation; all d resampled with replacement for a
    bootstrap), evaluated in batches of ``batch_size`` (which cannot change the result).
    """
    n, d = grams[0].shape[0], len(grams)
    permute = method == "permutation"
    per_replicate = d - 1 if permute else d
    run = _permuted_statistics if permute else _bootstrapped_statistics
    chunks, counts = [], []
    for start in range(0, count, batch_size):
        size = min(batch_size, count - start)
        indices = np.empty((batch_size, per_replicate, n), dtype=np.int32)
        for b in range(size):
            for j in range(per_replicate):
                indices[b, j] = rng.permutation(n) if permute else rng.integers(0, n, size=n)
        indices[size:] = indices[size - 1]  # pad: one compiled shape per batch size
        chunks.append(run(grams, jax.device_put(indices)))
        counts.append(size)
    host = jax.device_get(chunks)
    return np.concatenate([c[:k] for c, k in zip(host, counts, strict=True)])


@jax.jit
def _centred_pair(K: jax.Array, L: jax.Array):
    """``(K̄, L̄, HSIC_b)``: for d = 2, dHSIC is HSIC_b."""
    Kc, Lc = centre(K), centre(L)
    return Kc, Lc, jnp.sum(Kc * Lc) / float(K.shape[0]) ** 2


def _gamma_null(grams, diagonals, n: int, statistic: float):
    """Pfister et al. (2018)'s gamma approximation to the null law of ``n·dHSIC``.

    With ``a_j = 1ᵀK_j1/n²``, ``b_j = Σ K_j²/n²``, ``c_j = ‖K_j1‖²/n³`` and ``e_j`` the mean
    of ``diag K_j``, and ``∏_{-j}`` a product over all variables but j:

    * mean ``μ = [∏ e_j − Σ_j e_j ∏_{-j} a + (d − 1) ∏ a] / n``; for unit-diagonal kernels
      (Gaussian, Laplace) this is the paper's ``[1 − Σ_j ∏_{-j} a + (d − 1)∏ a]/n``, and for
      d = 2 it is ``(e_1 − a_1)(e_2 − a_2)/n``;
    * variance ``v = 2·f·[∏b + (d−1)²∏a² + 2(d−1)∏c + Σ_j b_j ∏_{-j} a² − 2Σ_j b_j ∏_{-j} c
      − 2(d−1)Σ_j c_j ∏_{-j} a² + 2Σ_{r<s} c_r c_s ∏_{-r,s} a²]`` with
      ``f = (n−2d)(n−2d−1)…(n−4d+3) / (n(n−1)…(n−2d+1))``;

    the null mean and variance of dHSIC, and ``n·dHSIC ≈ Gamma(shape = μ²/v, scale = n·v/μ)``.
    """
    d = len(grams)
    sums = [
        (jnp.sum(K), jnp.sum(K * K), jnp.sum(jnp.sum(K, axis=1) ** 2)) for K in grams
    ]
    a = np.array([float(s[0]) for s in sums]) / n**2
    b = np.array([float(s[1]) for s in sums]) / n**2
    c = np.array([float(s[2]) for s in sums]) / n**3
    e = np.asarray(diagonals, dtype=np.float64)

    def without(values, *skip):
        return float(np.prod([v for j, v in enumerate(values) if j not in skip]))

    a2 = a * a
    mean = (np.prod(e) - sum(e[j] * without(a, j) for j in range(d)) + (d - 1) * np.prod(a)) / n
    terms = (
        np.prod(b)
        + (d - 1) ** 2 * np.prod(a2)
        + 2 * (d - 1) * np.prod(c)
        + sum(b[j] * without(a2, j) for j in range(d))
        - 2 * sum(b[j] * without(c, j) for j in range(d))
        - 2 * (d - 1) * sum(c[j] * without(a2, j) for j in range(d))
        + 2 * sum(c[r] * c[s] * without(a2, r, s) for r in range(d) for s in range(r + 1, d))
    )
    # f as a product of ratios (no overflow at large n)
    factor = np.prod([(n - 2 * d - j) / (n - j) for j in range(2 * d - 2)])
    factor /= (n - 2 * d + 2) * (n - 2 * d + 1)
    var = 2.0 * factor * terms
    if not (mean > 0 and var > 0):
        raise ValueError(
            "The gamma approximation is undefined here (its null mean or variance is not "
            "positive); use method='permutation'."
        )
    shape = mean * mean / var
    scale = n * var / mean
    pvalue = float(scipy.special.gammaincc(shape, n * statistic / scale))
    return pvalue, shape, scale / n, mean, var


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _check_variables(xs: Any) -> list:
    if isinstance(xs, (str, bytes)) or not isinstance(xs, Sequence) or hasattr(xs, "shape"):
        kind = f"an array of shape {tuple(xs.shape)}" if hasattr(xs, "shape") else repr(type(xs))
        raise ValueError(
            "`xs` must be a list of d >= 2 variables (one array per variable, each with one "
            f"row per sample); got {kind}. For the columns of a matrix X, pass list(X.T)."
        )
    xs = list(xs)
    if len(xs) < 2:
        raise ValueError(
            f"`xs` must hold at least 2 variables to test joint independence; got {len(xs)}."
        )
    return xs


def _check_kernels(kernels: Any, d: int) -> list[_kernels.Kernel]:
    if isinstance(kernels, (str, _kernels.Kernel)):
        return [_kernels.get_kernel(kernels, "kernels")] * d
    if not isinstance(kernels, Sequence) or len(kernels) != d:
        got = len(kernels) if isinstance(kernels, Sequence) else repr(kernels)
        raise ValueError(f"`kernels` must be one kernel or a list of d = {d} kernels; got {got}.")
    return [_kernels.get_kernel(k, f"kernels[{j}]") for j, k in enumerate(kernels)]


def dhsic(
    xs: Sequence[ArrayLike],
    *,
    kernels: str | _kernels.Kernel | Sequence[str | _kernels.Kernel] = "gaussian",
    dtype: str | np.dtype | None = None,
) -> float:
    """The d-variable HSIC (dHSIC) of Pfister et al. (2018).

    ``dHSIC = 1/n² Σ_ab ∏_j K_j[a,b] + 1/n^{2d} ∏_j Σ_ab K_j[a,b]
    − 2/n^{d+1} Σ_a ∏_j Σ_b K_j[a,b]``,

    the squared distance between the embeddings of the joint law and of the product of the
    marginals (a V-statistic). It is 0 when the variables are jointly independent (in
    population) and, for d = 2, equals the biased HSIC ``tr(KHLH)/n²``.

    Args:
      xs: a list of d ≥ 2 variables, each ``(n,)`` or ``(n, d_j)``.
      kernels: one kernel (name or [`Kernel`][hsic.kernels.Kernel]) for all variables, or a
        list of d; Gaussian kernels use the median heuristic on each variable separately.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.

    Returns:
      dHSIC, a Python float.

    Example:
      >>> import numpy as np, hsic
      >>> rng = np.random.default_rng(0)
      >>> x, y = rng.normal(size=(2, 100))
      >>> bool(np.isclose(hsic.dhsic([x, y]), float(hsic.hsic(x, y)), rtol=1e-4))
      True

    References:
      Pfister, Bühlmann, Schölkopf, Peters (2018), "Kernel-based tests for joint independence",
      JRSS-B 80(1).
    """
    xs, fitted, dtype = _prepare(xs, kernels, dtype, min_n=2, reason="dhsic", constant="warn")
    with precision(dtype):
        return float(_grams_and_statistic(fitted, xs)[1])


def _prepare(xs, kernels, dtype, *, min_n: int, reason: str, constant: str):
    """Validate the variables and fit their kernels (steps 1 and 2 of the API call)."""
    xs = _check_variables(xs)
    d = len(xs)
    specs = _check_kernels(kernels, d)
    dtype = float_dtype(dtype)
    with precision(dtype):
        arrays = [
            as_samples(x, f"xs[{j}]", dtype=dtype, square=isinstance(k, _kernels.Precomputed))
            for j, (x, k) in enumerate(zip(xs, specs, strict=True))
        ]
        n = arrays[0].shape[0]
        for j, arr in enumerate(arrays[1:], start=1):
            if arr.shape[0] != n:
                raise ValueError(
                    f"Every variable must have the same number of samples (rows): `xs[0]` has "
                    f"{n} and `xs[{j}]` has {arr.shape[0]}."
                )
        if n < min_n:
            raise ValueError(f"{reason} needs at least {min_n} samples; got n={n}.")
        for j, arr in enumerate(arrays):
            if is_constant(arr):
                message = f"`xs[{j}]` is constant (every row is identical)"
                if constant == "raise":
                    raise ValueError(
                        f"{message}: it carries no information, so joint independence cannot "
                        "be tested. Remove it, or check how it was loaded."
                    )
                warnings.warn(f"{message}, so dHSIC is 0.", RuntimeWarning, stacklevel=3)
        fitted = [
            _kernels.as_python_floats(k.fit(arr, name=f"xs[{j}]"))
            for j, (k, arr) in enumerate(zip(specs, arrays, strict=True))
        ]
    return arrays, fitted, dtype


def joint_test(
    xs: Sequence[ArrayLike],
    *,
    method: Literal["permutation", "bootstrap", "gamma"] = "permutation",
    n_permutations: int = 1000,
    kernels: str | _kernels.Kernel | Sequence[str | _kernels.Kernel] = "gaussian",
    seed: int | Any = 0,
    batch_size: int = 100,
    dtype: str | np.dtype | None = None,
) -> JointTestResult:
    """Test whether d ≥ 2 variables are jointly independent, with dHSIC.

    The statistic is [`dhsic`][hsic.dhsic]; the Gram matrices are computed once.

    * ``method="permutation"`` (default): each resample permutes the samples of variables
      2, …, d independently (the first stays in place). The p-value is
      ``(1 + #{null ≥ observed}) / (1 + B)``, ties within ``1000·eps`` (relative) counting as
      extreme. For d = 2 the permutations are those of [`hsic.test`][hsic.test] with the same
      seed, so the null distributions and p-values agree.
    * ``method="bootstrap"``: each resample draws every variable's samples with replacement,
      independently (the bootstrap of Pfister et al. 2018; their R package holds the first
      variable fixed), with the same p-value formula.
    * ``method="gamma"``: the paper's gamma approximation to the null of ``n·dHSIC``, matched
      to its estimated null mean and variance; no resampling, but approximate.

    Joint independence is stronger than pairwise independence: x, y iid ±1 and z = x·y are
    pairwise independent, but z is a function of (x, y), and this test detects it.

    Args:
      xs: a list of d ≥ 2 variables, each ``(n,)`` or ``(n, d_j)``, with the same n; lists,
        NumPy, pandas or JAX arrays.
      method: ``"permutation"``, ``"bootstrap"`` or ``"gamma"``.
      n_permutations: B, the number of permutations or bootstrap draws.
      kernels: one kernel (name or [`Kernel`][hsic.kernels.Kernel]) for all variables, or a
        list of d; ``"gaussian"`` uses the median heuristic on each variable separately.
      seed: a non-negative int or a JAX key. The same seed gives the same result.
      batch_size: resamples per device call (memory granularity only; it cannot change the
        result).
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.

    Returns:
      A [`JointTestResult`][hsic.JointTestResult].

    Raises:
      ValueError: on fewer than 2 variables, mismatched n, too few samples, NaN or inf, a
        constant variable, a wrong number of kernels, ``n_permutations < 1``, or n too large
        for memory.

    Example:
      >>> import numpy as np, hsic
      >>> rng = np.random.default_rng(0)
      >>> x, y = rng.choice([-1.0, 1.0], size=(2, 200))
      >>> z = x * y                      # pairwise independent of x and of y
      >>> res = hsic.joint_test([x, y, z], kernels="delta", n_permutations=200)
      >>> res.pvalue                     # no permutation beat it: 1/201
      0.004975124378109453
      >>> hsic.test(x, z, kernel_x="delta", kernel_y="delta").pvalue > 0.05
      True

    References:
      Pfister, Bühlmann, Schölkopf, Peters (2018), "Kernel-based tests for joint independence",
      JRSS-B 80(1), 5–31.
    """
    check_choice(method, "method", METHODS)
    if method != "gamma":
        check_positive_int(n_permutations, "n_permutations")
        check_positive_int(batch_size, "batch_size")
    rng = as_generator(seed, "seed")
    d = len(_check_variables(xs))
    xs, fitted, dtype = _prepare(
        xs, kernels, dtype, min_n=_min_n(method, d),
        reason=f"hsic.joint_test with method={method!r} and d={d}", constant="raise",
    )
    n = xs[0].shape[0]
    check_fits_in_memory(
        n, d + 4, dtype, what=f"hsic.joint_test with d={d}",
        instead="Test a random subsample of the rows.",
    )
    common = dict(method=method, n=n, kernels=tuple(fitted))
    with precision(dtype):
        grams, statistic = _grams_and_statistic(fitted, xs)
        statistic = float(statistic)
        if method == "gamma":
            diagonals = [float(jnp.mean(jnp.diagonal(K))) for K in grams]
            pvalue, shape, scale, mean, var = _gamma_null(grams, diagonals, n, statistic)
            return JointTestResult(
                statistic=statistic, pvalue=pvalue, null_distribution=None,
                gamma_shape=shape, gamma_scale=scale,
                info={"d": d, "null_mean": mean, "null_variance": var}, **common,
            )
        batch_size = min(batch_size, n_permutations)
        if method == "permutation" and d == 2:
            # dHSIC is HSIC_b: hsic.test's permutation engine, with the same draws
            Kc, Lc, statistic = _centred_pair(*grams)
            statistic = float(statistic)
            null = permutation_null(Kc, Lc, rng, n_permutations, batch_size=batch_size)
        else:
            null = _resampling_null(grams, rng, method, n_permutations, batch_size)
    return JointTestResult(
        statistic=statistic, pvalue=permutation_pvalue(null, statistic),
        null_distribution=null, n_permutations=n_permutations, info={"d": d}, **common,
    )
