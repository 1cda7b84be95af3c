"""Distributions with known mutual information, to check and compare estimators.

This module owns the [`Task`][hsic.mi.tasks.Task] type, its constructors and the standard
suite [`TASKS`][hsic.mi.tasks.TASKS], after the benchmark of Czyż et al. (2023):

* [`multinormal`][hsic.mi.tasks.multinormal]: Gaussian, dense or sparse correlation;
* [`student_t`][hsic.mi.tasks.student_t]: multivariate Student-t (dependent even with a
  block-diagonal scale, through the shared χ² variable);
* [`additive_uniform`][hsic.mi.tasks.additive_uniform]: X ~ U(0, 1), Y = X + U(0, ε);
* [`transformed`][hsic.mi.tasks.transformed]: an invertible map applied to x and to y
  separately (half-cube, asinh, normal CDF, wiggly, spiral), which keeps the MI;
* [`independent`][hsic.mi.tasks.independent]: MI = 0.

All MI values are in nats. Sampling uses only the NumPy generator made from ``rng``.

Example:
    >>> from hsic.mi import tasks
    >>> task = tasks.get("normal-1d-0.8")
    >>> round(task.mi, 4), task.dim_x, task.dim_y
    (0.5108, 1, 1)
    >>> x, y = task.sample(100, rng=1)
    >>> x.shape, y.shape
    ((100, 1), (100, 1))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from scipy.special import digamma, gammaln, ndtr

from hsic._base.rng import RNGLike, as_generator
from hsic._base.validation import check_choice, check_number, check_positive_int

__all__ = [
    "TASKS",
    "TRANSFORMS",
    "Task",
    "additive_uniform",
    "gaussian_mi",
    "get",
    "independent",
    "multinormal",
    "student_t",
    "transformed",
]

Sampler = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class Task:
    """A joint distribution of (X, Y) with known mutual information.

    Attributes:
      name: a short unique name, e.g. ``"normal-1d-0.8"``.
      family: the base distribution: ``"normal"``, ``"student-t"``, ``"additive-uniform"``
        or ``"independent"`` (transformed tasks keep their base's family).
      mi: the true MI in nats.
      dim_x: the dimension of X.
      dim_y: the dimension of Y.
    """

    name: str
    family: str
    mi: float
    dim_x: int
    dim_y: int
    _sampler: Sampler = dataclasses.field(repr=False, compare=False)

    def sample(self, n: int, *, rng: RNGLike = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` independent pairs.

        Args:
          n: the number of samples, ≥ 1.
          rng: None (default: fresh entropy), a non-negative int
            (``np.random.default_rng(rng)``), a JAX key (``jax.random.key(s)`` is the int s),
            or a NumPy ``Generator`` (used as is, and advanced). The same int or key gives the
            same samples.

        Returns:
          ``(x, y)``, float64 arrays of shapes ``(n, dim_x)`` and ``(n, dim_y)``.

        Raises:
          ValueError: if ``n`` is not a positive integer or ``rng`` is not one of the above.

        Example:
          >>> from hsic.mi import tasks
          >>> x, y = tasks.get("normal-1d-0.8").sample(3, rng=0)
          >>> x.shape, bool((x == tasks.get("normal-1d-0.8").sample(3, rng=0)[0]).all())
          ((3, 1), True)
        """
        n = check_positive_int(n, "n")
        x, y = self._sampler(as_generator(rng), n)
        return np.asarray(x, np.float64).reshape(n, self.dim_x), np.asarray(
            y, np.float64
        ).reshape(n, self.dim_y)


def _check_dims(dim_x: Any, dim_y: Any) -> tuple[int, int]:
    return check_positive_int(dim_x, "dim_x"), check_positive_int(dim_y, "dim_y")


def gaussian_mi(cov: np.ndarray, dim_x: int) -> float:
    """MI of a Gaussian (or the log-det part for elliptical laws) with covariance ``cov``.

    I = ½ (log det Σ_xx + log det Σ_yy − log det Σ), x being the first ``dim_x`` coordinates.

    Example:
      >>> import numpy as np
      >>> from hsic.mi.tasks import gaussian_mi
      >>> round(gaussian_mi(np.array([[1.0, 0.8], [0.8, 1.0]]), 1), 4)   # −½ log(1 − 0.64)
      0.5108
    """
    cov = np.asarray(cov, np.float64)
    logdet = lambda a: np.linalg.slogdet(a)[1]  # noqa: E731
    return 0.5 * float(
        logdet(cov[:dim_x, :dim_x]) + logdet(cov[dim_x:, dim_x:]) - logdet(cov)
    )


def _correlation(dim_x: int, dim_y: int, rho: float, sparse: bool, n_interacting: int | None):
    """Dense: every off-diagonal entry is ρ. Sparse: corr(x_i, y_i) = ρ for i < n_interacting."""
    d = dim_x + dim_y
    if not sparse:
        low = -1.0 / (d - 1)
        requirement = (
            f"in (-1/(d-1), 1) = ({low:.4g}, 1) for a dense correlation of dimension d={d}"
        )
        check_number(rho, "rho", requirement, low=low, high=1.0, low_open=True, high_open=True)
        return (1.0 - rho) * np.eye(d) + rho * np.ones((d, d))
    m = min(dim_x, dim_y)
    if n_interacting is not None:
        m = check_number(
            n_interacting, "n_interacting", f"an integer in [1, min(dim_x, dim_y)] = [1, {m}]",
            integer=True, low=1, high=m,
        )
    check_number(rho, "rho", "in (-1, 1)", low=-1.0, high=1.0, low_open=True, high_open=True)
    cov = np.eye(d)
    for i in range(m):
        cov[i, dim_x + i] = cov[dim_x + i, i] = rho
    return cov


def _check_rho(rho: Any) -> float:
    return check_number(rho, "rho", "a number")


def multinormal(
    dim_x: int = 1,
    dim_y: int = 1,
    *,
    rho: float = 0.8,
    sparse: bool = False,
    n_interacting: int | None = None,
    name: str | None = None,
) -> Task:
    """Gaussian (X, Y) with unit variances and a dense or sparse correlation.

    Dense: every pair of distinct coordinates (within x, within y and across) has correlation
    ρ. Sparse: only x_i and y_i for i < ``n_interacting`` (default min(d_x, d_y)) are
    correlated, with ρ. The MI is ½ (log det Σ_xx + log det Σ_yy − log det Σ); for the sparse
    case that is −(n_interacting/2) log(1 − ρ²).

    Example:
      >>> from hsic.mi import tasks
      >>> round(tasks.multinormal(2, 2, rho=0.5, sparse=True).mi, 4)   # −log(1 − 0.25)
      0.2877
    """
    dim_x, dim_y = _check_dims(dim_x, dim_y)
    rho = _check_rho(rho)
    cov = _correlation(dim_x, dim_y, rho, bool(sparse), n_interacting)
    chol = np.linalg.cholesky(cov)

    def sampler(rng: np.random.Generator, n: int):
        z = rng.standard_normal((n, dim_x + dim_y)) @ chol.T
        return z[:, :dim_x], z[:, dim_x:]

    kind = "sparse" if sparse else "dense"
    default = (
        f"normal-1d-{rho:g}"
        if dim_x == dim_y == 1
        else f"normal-{kind}-{dim_x}x{dim_y}-{rho:g}"
    )
    return Task(name or default, "normal", gaussian_mi(cov, dim_x), dim_x, dim_y, sampler)


def _student_t_correction(dof: float, dim_x: int, dim_y: int) -> float:
    """The part of a Student-t MI beyond the Gaussian log-det term (Czyż et al. 2023)."""

    def h(d: int) -> float:  # entropy terms that do not depend on the scale matrix
        a = (dof + d) / 2.0
        return gammaln(dof / 2.0) - gammaln(a) + a * (digamma(a) - digamma(dof / 2.0))

    return float(h(dim_x) + h(dim_y) - h(dim_x + dim_y))


def student_t(
    dim_x: int = 1,
    dim_y: int = 1,
    *,
    dof: float = 3.0,
    rho: float = 0.5,
    sparse: bool = True,
    n_interacting: int | None = None,
    name: str | None = None,
) -> Task:
    r"""Multivariate Student-t (X, Y) with ``dof`` degrees of freedom and a correlation scale.

    (X, Y) = Z / √(W/ν) with Z Gaussian with the correlation Σ of
    [`multinormal`][hsic.mi.tasks.multinormal] and W ~ χ²_ν. Marginals of a multivariate t
    are multivariate t with the same ν, so from the entropies

        I = I_Gauss(Σ) + c(d_x) + c(d_y) − c(d_x + d_y),
        c(d) = log Γ(ν/2) − log Γ((ν + d)/2) + (ν + d)/2 · [ψ((ν + d)/2) − ψ(ν/2)].

    The correction is positive: X and Y are dependent even for ρ = 0.

    Example:
      >>> from hsic.mi import tasks
      >>> task = tasks.student_t(1, 1, dof=3, rho=0.0)
      >>> task.mi > 0
      True
    """
    dim_x, dim_y = _check_dims(dim_x, dim_y)
    dof = check_number(dof, "dof", "a positive number", low=0, low_open=True)
    rho = _check_rho(rho)
    if sparse and rho == 0.0:
        cov = np.eye(dim_x + dim_y)
    else:
        cov = _correlation(dim_x, dim_y, rho, bool(sparse), n_interacting)
    chol = np.linalg.cholesky(cov)
    mi = gaussian_mi(cov, dim_x) + _student_t_correction(dof, dim_x, dim_y)

    def sampler(rng: np.random.Generator, n: int):
        z = rng.standard_normal((n, dim_x + dim_y)) @ chol.T
        z = z / np.sqrt(rng.chisquare(dof, size=(n, 1)) / dof)
        return z[:, :dim_x], z[:, dim_x:]

    default = f"student-t-{dim_x}x{dim_y}-dof{dof:g}-{rho:g}"
    return Task(name or default, "student-t", mi, dim_x, dim_y, sampler)


def additive_uniform(epsilon: float = 0.5, *, name: str | None = None) -> Task:
    r"""X ~ U(0, 1) and Y = X + N with N ~ U(0, ε) independent of X.

    Y's density is a trapezoid, whose entropy gives

        I = ε/2 − log ε  for ε ≤ 1,    I = 1/(2ε)  for ε ≥ 1.

    Example:
      >>> from hsic.mi import tasks
      >>> round(tasks.additive_uniform(1.0).mi, 4)
      0.5
    """
    eps = check_number(epsilon, "epsilon", "a positive number", low=0, low_open=True)
    mi = eps / 2.0 - np.log(eps) if eps <= 1.0 else 1.0 / (2.0 * eps)

    def sampler(rng: np.random.Generator, n: int):
        x = rng.uniform(0.0, 1.0, size=n)
        return x, x + rng.uniform(0.0, eps, size=n)

    return Task(name or f"additive-uniform-{eps:g}", "additive-uniform", float(mi), 1, 1, sampler)


def independent(
    dim_x: int = 1,
    dim_y: int = 1,
    *,
    distribution: Literal["normal", "uniform"] = "normal",
    name: str | None = None,
) -> Task:
    """Independent X and Y (standard normal or U(0, 1) coordinates): MI = 0.

    Example:
      >>> from hsic.mi import tasks
      >>> tasks.independent(2, 3).mi
      0.0
    """
    dim_x, dim_y = _check_dims(dim_x, dim_y)
    check_choice(distribution, "distribution", ("normal", "uniform"))

    def sampler(rng: np.random.Generator, n: int):
        if distribution == "normal":
            z = rng.standard_normal((n, dim_x + dim_y))
        else:
            z = rng.uniform(size=(n, dim_x + dim_y))
        return z[:, :dim_x], z[:, dim_x:]

    default = f"independent-{distribution}-{dim_x}x{dim_y}"
    return Task(name or default, "independent", 0.0, dim_x, dim_y, sampler)


# --- invertible transforms -------------------------------------------------------------------


def half_cube(a: np.ndarray) -> np.ndarray:
    """x ↦ sign(x) |x|^{3/2}, strictly increasing."""
    return np.sign(a) * np.abs(a) ** 1.5


def wiggly(a: np.ndarray) -> np.ndarray:
    """x ↦ x + 0.4 sin x + 0.2 sin(1.7x + 1) + 0.03 sin(3.3x + 2.5).

    Strictly increasing: its derivative is ≥ 1 − 0.4 − 0.34 − 0.099 > 0.
    """
    return a + 0.4 * np.sin(a) + 0.2 * np.sin(1.7 * a + 1.0) + 0.03 * np.sin(3.3 * a + 2.5)


def spiral(a: np.ndarray, speed: float = 0.5) -> np.ndarray:
    """Rotate the first two coordinates by the angle ``speed``·‖a‖² (needs dimension ≥ 2).

    A diffeomorphism: the rotation keeps ‖a‖, so rotating back by the same angle inverts it.
    """
    angle = speed * np.sum(a * a, axis=1)
    c, s = np.cos(angle), np.sin(angle)
    out = a.copy()
    out[:, 0] = c * a[:, 0] - s * a[:, 1]
    out[:, 1] = s * a[:, 0] + c * a[:, 1]
    return out


TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "half_cube": half_cube,
    "asinh": np.arcsinh,
    "normal_cdf": ndtr,
    "wiggly": wiggly,
    "spiral": spiral,
}


def transformed(
    base: Task,
    transform: Literal["half_cube", "asinh", "normal_cdf", "wiggly", "spiral"],
    *,
    name: str | None = None,
) -> Task:
    """``base`` with an invertible map applied to x and to y separately: the MI is unchanged.

    ``half_cube``, ``asinh``, ``normal_cdf`` and ``wiggly`` act on each coordinate and are
    strictly increasing; ``spiral`` rotates the first two coordinates by an angle growing with
    the squared norm, and needs dim_x, dim_y ≥ 2. For an injective differentiable f, g,
    I(f(X); g(Y)) = I(X; Y) (the Jacobians cancel between the joint and the marginal
    densities).

    Example:
      >>> from hsic.mi import tasks
      >>> t = tasks.transformed(tasks.get("normal-1d-0.8"), "asinh")
      >>> t.name, t.mi == tasks.get("normal-1d-0.8").mi
      ('asinh-normal-1d-0.8', True)
    """
    if not isinstance(base, Task):
        raise ValueError(f"`base` must be a Task; got {type(base).__name__}.")
    check_choice(transform, "transform", tuple(TRANSFORMS))
    if transform == "spiral" and min(base.dim_x, base.dim_y) < 2:
        raise ValueError(
            "`transform` 'spiral' needs dim_x and dim_y >= 2; got "
            f"{base.dim_x} and {base.dim_y}. Use a coordinatewise transform for 1-D tasks."
        )
    f = TRANSFORMS[transform]

    def sampler(rng: np.random.Generator, n: int):
        x, y = base._sampler(rng, n)
        x = np.asarray(x, np.float64).reshape(n, base.dim_x)
        y = np.asarray(y, np.float64).reshape(n, base.dim_y)
        return f(x), f(y)

    return Task(
        name or f"{transform.replace('_', '-')}-{base.name}",
        base.family,
        base.mi,
        base.dim_x,
        base.dim_y,
        sampler,
    )


def _standard_suite() -> dict[str, Task]:
    bivariate = multinormal(1, 1, rho=0.8)
    dense3 = multinormal(3, 3, rho=0.5, sparse=False)
    sparse5 = multinormal(5, 5, rho=0.8, sparse=True, n_interacting=2)
    suite = [
        bivariate,
        dense3,
        sparse5,
        multinormal(25, 25, rho=0.5, sparse=False),
        student_t(2, 2, dof=3, rho=0.5),
        additive_uniform(0.5),
        transformed(bivariate, "half_cube"),
        transformed(student_t(1, 1, dof=2, rho=0.5), "asinh"),
        transformed(dense3, "normal_cdf"),
        transformed(bivariate, "wiggly"),
        transformed(sparse5, "spiral"),
        independent(3, 3),
    ]
    return {t.name: t for t in suite}


TASKS: dict[str, Task] = _standard_suite()
"""The standard suite: twelve named tasks spanning the families (see the module docstring)."""


def get(name: str) -> Task:
    """The task of [`TASKS`][hsic.mi.tasks.TASKS] called ``name``.

    Example:
      >>> from hsic.mi import tasks
      >>> tasks.get("independent-normal-3x3").mi
      0.0
    """
    if not isinstance(name, str) or name not in TASKS:
        allowed = ", ".join(repr(k) for k in TASKS)
        raise ValueError(f"`name` must be one of {allowed}; got {name!r}.")
    return TASKS[name]
