"""Joint independence of d ≥ 2 variables: ``hsic.dhsic`` and ``hsic.joint_test``
(Pfister et al. 2018).

This module owns the joint test: its three methods (permutation, bootstrap, gamma), the
resampling of the Gram matrices and the gamma approximation of dHSIC's null. The statistic
itself is ``hsic._stats.dhsic``. For d = 2, dHSIC is the biased HSIC of
[`hsic.test`][hsic.test], and the permutation null draws the same permutations from the same
``rng`` (with the engine of ``hsic._nulls.permutation``), so the two agree.

The resampling indices come from NumPy's PCG64 seeded by ``rng``, drawn one replicate after
another, so the null does not depend on the batching.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special
from jax.typing import ArrayLike

from hsic._api.methods import DEFAULT_BATCH_SIZE, Bootstrap, Gamma, Method, Permutation, as_method
from hsic._api.results import JointTestResult
from hsic._base.progress import make_bar, resolve_progress
from hsic._base.rng import RNGLike, as_generator, seed_of
from hsic._base.validation import (
    as_samples,
    check_fits_in_memory,
    float_dtype,
    precision,
    transposed_hint,
    warn_if_beyond_permutations,
)
from hsic._nulls.permutation import permutation_null
from hsic._nulls.pvalues import Outcome, check_finite, permutation_pvalue
from hsic._stats import kernels as _kernels
from hsic._stats.dhsic import (
    bootstrapped_statistics,
    centred_pair,
    grams_and_statistic,
    permuted_statistics,
)
from hsic._stats.inputs import check_not_constant

__all__ = ["METHODS", "dhsic", "joint_test"]

#: The methods of ``hsic.joint_test``, by name.
METHODS: dict[str, type[Method]] = {cls.name: cls for cls in (Permutation, Bootstrap, Gamma)}
#: Resamples per device call when the method object leaves ``batch_size`` to the test.
DEFAULT_BATCH = DEFAULT_BATCH_SIZE  # one default for every test


def _min_n(method: str, d: int) -> int:
    """Smallest n each method accepts (the gamma variance needs n ≥ 4d − 2)."""
    return 4 * d - 2 if method == "gamma" else 5


# --------------------------------------------------------------------------------------------
# The nulls
# --------------------------------------------------------------------------------------------


def _resampling_null(
    grams, rng, method: str, count: int, batch_size: int, progress: bool = False
) -> np.ndarray:
    """The permutation or bootstrap null, ``count`` replicates drawn one after another from
    ``rng`` (variables 2..d permuted for a permutation; all d resampled with replacement for a
    bootstrap), evaluated in batches of ``batch_size`` (which cannot change the result).
    """
    n, d = grams[0].shape[0], len(grams)
    permute = method == "permutation"
    per_replicate = d - 1 if permute else d
    run = permuted_statistics if permute else bootstrapped_statistics
    bar = make_bar(progress, count, f"joint_test ({method})", unit="resample")
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
        if bar is not None:
            chunks[-1].block_until_ready()
            bar.update(size)
    if bar is not None:
        bar.close()
    host = jax.device_get(chunks)
    return np.concatenate([c[:k] for c, k in zip(host, counts, strict=True)])


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


def _resampled(
    method: Permutation | Bootstrap, grams, statistic, rng, progress: bool = False
) -> Outcome:
    """The permutation or bootstrap test."""
    count = method.n_resamples
    batch = min(DEFAULT_BATCH if method.batch_size is None else method.batch_size, count)
    if method.name == "permutation" and len(grams) == 2:
        # dHSIC is HSIC_b: hsic.test's permutation engine, with the same draws
        Kc, Lc, statistic = centred_pair(*grams)
        null = permutation_null(Kc, Lc, rng, count, batch_size=batch, progress=progress)
    else:
        null = _resampling_null(grams, rng, method.name, count, batch, progress)
    statistic = float(statistic)
    info = {"d": len(grams), "n_resamples": count}
    return Outcome(statistic, permutation_pvalue(null, statistic), null, info)


def _gamma(method: Gamma, grams, statistic, rng, progress: bool = False) -> Outcome:
    """The gamma approximation (no resampling: ``rng`` is unused)."""
    n = grams[0].shape[0]
    statistic = float(statistic)
    check_finite(statistic)
    diagonals = [float(jnp.mean(jnp.diagonal(K))) for K in grams]
    pvalue, shape, scale, mean, var = _gamma_null(grams, diagonals, n, statistic)
    info = {
        "d": len(grams), "gamma_shape": float(shape), "gamma_scale": float(scale),
        "null_mean": float(mean), "null_variance": float(var),
    }
    return Outcome(statistic, pvalue, None, info)


#: The runner of each method: ``runner(method, grams, statistic, rng, progress) -> Outcome``.
RUNNERS: dict[str, Callable[..., Outcome]] = {
    "permutation": _resampled, "bootstrap": _resampled, "gamma": _gamma
}


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
        return float(grams_and_statistic(fitted, xs)[1])


def _prepare(
    xs, kernels, dtype, *, min_n: int, reason: str, constant: str
) -> tuple[list[jax.Array], list[_kernels.Kernel], np.dtype]:
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
                hint = transposed_hint({f"xs[{i}]": tuple(a.shape) for i, a in enumerate(arrays)})
                raise ValueError(
                    f"Every variable must have the same number of samples (rows): `xs[0]` has "
                    f"{n} and `xs[{j}]` has {arr.shape[0]}.{hint}"
                )
        if n < min_n:
            raise ValueError(f"{reason} needs at least {min_n} samples; got n={n}.")
        for j, arr in enumerate(arrays):
            check_not_constant(
                arr, f"xs[{j}]", constant=constant, hypothesis="joint independence",
                zero="dHSIC is 0", stacklevel=4,
            )
        fitted = [
            _kernels.as_python_floats(k.fit(arr, name=f"xs[{j}]"))
            for j, (k, arr) in enumerate(zip(specs, arrays, strict=True))
        ]
    return arrays, fitted, dtype


def joint_test(
    xs: Sequence[ArrayLike],
    *,
    method: str | Method = "permutation",
    kernels: str | _kernels.Kernel | Sequence[str | _kernels.Kernel] = "gaussian",
    rng: RNGLike = None,
    dtype: str | np.dtype | None = None,
    progress: bool | None = None,
) -> JointTestResult:
    """Test whether d ≥ 2 variables are jointly independent, with dHSIC.

    The statistic is [`dhsic`][hsic.dhsic]; the Gram matrices are computed once, and a
    resampled statistic only re-indexes them. The method is a method object, or its name for
    its defaults:

    * [`hsic.Permutation`][hsic.Permutation] (``"permutation"``, the default): each resample
      permutes the samples of variables 2, …, d independently (the first stays in place). The
      p-value is ``(1 + #{null ≥ observed}) / (1 + B)``, ties within ``1000·eps`` (relative)
      counting as extreme. For d = 2 the permutations are those of [`hsic.test`][hsic.test]
      with the same ``rng``, so the null distributions and p-values agree.
    * [`hsic.Bootstrap`][hsic.Bootstrap] (``"bootstrap"``): each resample draws every
      variable's samples with replacement, independently (the bootstrap of Pfister et al.
      2018; their R package holds the first variable fixed), with the same p-value formula.
    * [`hsic.Gamma`][hsic.Gamma] (``"gamma"``): the paper's gamma approximation to the null of
      ``n·dHSIC``, matched to its estimated null mean and variance; no resampling, but
      approximate.

    A method object's ``batch_size`` (resamples per device call; ``None``: 250) bounds memory
    only: it cannot change the result.

    Joint independence is stronger than pairwise independence: x, y iid ±1 and z = x·y are
    pairwise independent, but z is a function of (x, y), and this test detects it.

    Args:
      xs: a list of d ≥ 2 variables, each ``(n,)`` or ``(n, d_j)``, with the same n; lists,
        NumPy, pandas or JAX arrays.
      method: a method object (above), or its name for its defaults.
      kernels: one kernel (name or [`Kernel`][hsic.kernels.Kernel]) for all variables, or a
        list of d; ``"gaussian"`` uses the median heuristic on each variable separately.
      rng: the source of the permutations or bootstrap draws: None (default: fresh entropy),
        an int seed, a ``numpy.random.Generator`` (a seed is drawn from it) or a JAX key;
        see the guide's *Randomness*. The seed used is recorded in ``res.info["rng"]``, and
        passing it back repeats the run exactly.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.
      progress: show a progress bar over the resamples; ``None`` (default): only when stderr
        is a terminal and the work is long (``hsic._base.progress``).

    Returns:
      A [`JointTestResult`][hsic.JointTestResult]; its ``info`` holds ``d``, ``n_resamples``
      (B) for the resampling methods, and the gamma law and null moments for ``"gamma"``.

    Raises:
      ValueError: on fewer than 2 variables, mismatched n, too few samples, NaN or inf, a
        constant variable, a wrong number of kernels, a method that is not one of the above,
        n too large for memory, or a NaN or infinite statistic or null value.

    Example:
      >>> import numpy as np, hsic
      >>> rng = np.random.default_rng(0)
      >>> x, y = rng.choice([-1.0, 1.0], size=(2, 200))
      >>> z = x * y                      # pairwise independent of x and of y
      >>> method = hsic.Permutation(n_resamples=200)
      >>> res = hsic.joint_test([x, y, z], kernels="delta", method=method)
      >>> res.pvalue                     # no permutation beat it: 1/201
      0.004975124378109453
      >>> hsic.test(x, z, kernel_x="delta", kernel_y="delta").pvalue > 0.05
      True

    References:
      Pfister, Bühlmann, Schölkopf, Peters (2018), "Kernel-based tests for joint independence",
      JRSS-B 80(1), 5–31.
    """
    method = as_method(method, METHODS, test="hsic.joint_test")
    seed = seed_of(rng)
    generator = as_generator(seed)
    d = len(_check_variables(xs))
    xs, fitted, dtype = _prepare(
        xs, kernels, dtype, min_n=_min_n(method.name, d),
        reason=f"hsic.joint_test with method={method.name!r} and d={d}", constant="raise",
    )
    n = xs[0].shape[0]
    check_fits_in_memory(
        n, d + 4, dtype, what=f"hsic.joint_test with d={d}",
        instead="Test a random subsample of the rows.",
    )
    if method.name == "permutation":  # variables 2..d are permuted
        count = cast(Permutation, method).n_resamples
        warn_if_beyond_permutations(count, n, variables=d - 1)
    with precision(dtype):
        grams, statistic = grams_and_statistic(fitted, xs)
        resamples = getattr(method, "n_resamples", 0)
        show = resolve_progress(progress, float(resamples) * d * n * n)
        out = RUNNERS[method.name](method, grams, statistic, generator, show)
    return JointTestResult(
        statistic=out.statistic, pvalue=out.pvalue, null_distribution=out.null_distribution,
        method=method.name, n=n, kernels=tuple(fitted), info={**out.info, "rng": seed},
    )
