"""Tests of hsic.mi.tasks: every ground truth against an independent computation (Monte Carlo
over exact log-densities from scipy, or numerical integration), the transforms' invertibility,
sampling and input checks."""

import math

import jax
import numpy as np
import pytest
from scipy import integrate, stats

import hsic.mi
from hsic.mi import tasks


def monte_carlo_mi(log_joint, log_px, log_py, x, y):
    """E[log p(x, y) − log p(x) − log p(y)] over samples, with its standard error."""
    terms = log_joint(np.hstack([x, y])) - log_px(x) - log_py(y)
    return terms.mean(), terms.std() / math.sqrt(len(terms))


def designed_cov(dim_x, dim_y, rho, sparse, n_interacting):
    d = dim_x + dim_y
    if not sparse:
        return (1 - rho) * np.eye(d) + rho * np.ones((d, d))
    cov = np.eye(d)
    for i in range(n_interacting):
        cov[i, dim_x + i] = cov[dim_x + i, i] = rho
    return cov


@pytest.mark.parametrize(
    ("dims", "rho", "sparse", "m"),
    [((1, 1), 0.8, True, 1), ((2, 3), 0.3, False, 0), ((4, 4), -0.6, True, 3)],
)
def test_multinormal_against_monte_carlo(dims, rho, sparse, m):
    task = tasks.multinormal(*dims, rho=rho, sparse=sparse, n_interacting=m or None)
    cov = designed_cov(*dims, rho, sparse, m)
    x, y = task.sample(40000, rng=2)
    assert np.abs(np.cov(np.hstack([x, y]), rowvar=False) - cov).max() < 0.05
    p = dims[0]
    mean, se = monte_carlo_mi(
        stats.multivariate_normal(np.zeros(len(cov)), cov).logpdf,
        stats.multivariate_normal(np.zeros(p), cov[:p, :p]).logpdf,
        stats.multivariate_normal(np.zeros(dims[1]), cov[p:, p:]).logpdf,
        x,
        y,
    )
    assert abs(mean - task.mi) < 4 * se + 1e-3


def test_multinormal_closed_forms():
    assert tasks.multinormal(1, 1, rho=0.8).mi == pytest.approx(-0.5 * math.log(1 - 0.64))
    sparse = tasks.multinormal(5, 3, rho=0.5, sparse=True, n_interacting=2)
    assert sparse.mi == pytest.approx(-math.log(1 - 0.25))
    # dense equicorrelation: det of a d-dim block is (1 − ρ)^(d−1) (1 + (d − 1) ρ)
    det = lambda d, r: (1 - r) ** (d - 1) * (1 + (d - 1) * r)  # noqa: E731
    want = 0.5 * math.log(det(25, 0.5) ** 2 / det(50, 0.5))
    assert tasks.get("normal-dense-25x25-0.5").mi == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize(("dims", "dof", "rho"), [((1, 1), 3.0, 0.5), ((2, 2), 5.0, 0.0)])
def test_student_t_against_monte_carlo(dims, dof, rho):
    task = tasks.student_t(*dims, dof=dof, rho=rho)
    d = sum(dims)
    shape = np.eye(d)
    for i in range(min(dims)):
        shape[i, dims[0] + i] = shape[dims[0] + i, i] = rho
    p = dims[0]
    x, y = task.sample(40000, rng=3)
    mean, se = monte_carlo_mi(
        stats.multivariate_t(np.zeros(d), shape, df=dof).logpdf,
        stats.multivariate_t(np.zeros(p), shape[:p, :p], df=dof).logpdf,
        stats.multivariate_t(np.zeros(dims[1]), shape[p:, p:], df=dof).logpdf,
        x,
        y,
    )
    assert abs(mean - task.mi) < 4 * se + 1e-3
    assert task.mi > 0  # dependent even for rho = 0


@pytest.mark.parametrize("epsilon", [0.3, 1.0, 2.5])
def test_additive_uniform_against_numerical_integration(epsilon):
    # I = h(Y) − h(Y | X) = h(Y) − log ε, with Y's density (X ~ U(0,1), N ~ U(0, ε))
    # f(y) = (min(1, y) − max(0, y − ε))⁺ / ε integrated numerically.
    def f(v):
        return max(0.0, min(1.0, v) - max(0.0, v - epsilon)) / epsilon

    def integrand(v):
        p = f(v)
        return -p * math.log(p) if p > 0 else 0.0

    h_y = integrate.quad(integrand, 0.0, 1.0 + epsilon, points=sorted({epsilon, 1.0}), limit=200)[0]
    task = tasks.additive_uniform(epsilon)
    assert task.mi == pytest.approx(h_y - math.log(epsilon), abs=1e-8)
    x, y = task.sample(1000, rng=0)
    assert (y >= x).all() and (y <= x + epsilon).all()


def test_monotone_transforms_are_strictly_increasing():
    grid = np.linspace(-8, 8, 200001)[:, None]
    for name in ("half_cube", "asinh", "normal_cdf", "wiggly"):
        out = tasks.TRANSFORMS[name](grid)[:, 0]
        inner = np.abs(grid[:, 0]) < 5  # normal_cdf saturates in float64 far in the tails
        assert (np.diff(out[inner]) > 0).all(), name


def test_spiral_is_invertible():
    z = np.random.default_rng(0).normal(size=(1000, 3))
    s = tasks.TRANSFORMS["spiral"](z)
    np.testing.assert_allclose(np.linalg.norm(s, axis=1), np.linalg.norm(z, axis=1), rtol=1e-12)
    angle = -0.5 * np.sum(s * s, axis=1)  # rotate back by the same angle
    back = s.copy()
    back[:, 0] = np.cos(angle) * s[:, 0] - np.sin(angle) * s[:, 1]
    back[:, 1] = np.sin(angle) * s[:, 0] + np.cos(angle) * s[:, 1]
    np.testing.assert_allclose(back, z, atol=1e-12)


@pytest.mark.parametrize(
    "name", ["half-cube-normal-1d-0.8", "wiggly-normal-1d-0.8", "asinh-student-t-1x1-dof2-0.5"]
)
def test_transforms_keep_mi_by_ksg(name):
    # MI is invariant under the transforms; KSG, nearly so: it lands near the same truth.
    task = tasks.get(name)
    x, y = task.sample(2000, rng=5)
    assert hsic.mi.ksg(x, y) == pytest.approx(task.mi, abs=0.06)


def test_standard_suite():
    assert 10 <= len(tasks.TASKS) <= 14
    families = {t.family for t in tasks.TASKS.values()}
    assert families == {"normal", "student-t", "additive-uniform", "independent"}
    assert max(t.dim_x for t in tasks.TASKS.values()) == 25
    names = set(tasks.TASKS)
    for prefix in ("half-cube", "asinh", "normal-cdf", "wiggly", "spiral"):
        assert any(n.startswith(prefix) for n in names), prefix
    for name, task in tasks.TASKS.items():
        assert tasks.get(name) is task and task.name == name
        x, y = task.sample(7, rng=0)
        assert x.shape == (7, task.dim_x) and y.shape == (7, task.dim_y)
        assert np.isfinite(x).all() and np.isfinite(y).all()
    assert tasks.get("independent-normal-3x3").mi == 0.0


def test_rng():
    task = tasks.get("spiral-normal-sparse-5x5-0.8")
    a, b = task.sample(50, rng=3), task.sample(50, rng=3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    c = task.sample(50, rng=4)
    assert not np.array_equal(a[0], c[0])
    # An int is np.random.default_rng(int); a Generator is used as is; a JAX key seeds one.
    d = task.sample(50, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], d[0])
    e, f = task.sample(50, rng=jax.random.key(3)), task.sample(50, rng=jax.random.key(3))
    np.testing.assert_array_equal(e[0], f[0])


def test_task_is_frozen():
    task = tasks.get("normal-1d-0.8")
    with pytest.raises(AttributeError):
        task.mi = 1.0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: tasks.get("nope"), r"`name` must be one of 'normal-1d-0.8'"),
        (lambda: tasks.get("normal-1d-0.8").sample(0), r"`n` must be a positive integer; got 0"),
        (lambda: tasks.get("normal-1d-0.8").sample(5, rng=-1), r"`rng` must be a non-negative"),
        (lambda: tasks.get("normal-1d-0.8").sample(5, rng=1.5), r"`rng` must be a non-negative"),
        (lambda: tasks.multinormal(0, 1), r"`dim_x` must be a positive integer; got 0"),
        (lambda: tasks.multinormal(1, 1, rho=1.0, sparse=True), r"`rho` must be in \(-1, 1\)"),
        (lambda: tasks.multinormal(2, 2, rho=-0.5), r"`rho` must be in \(-1/\(d-1\), 1\)"),
        (lambda: tasks.multinormal(2, 2, rho="a"), r"`rho` must be a number"),
        (
            lambda: tasks.multinormal(2, 3, sparse=True, n_interacting=3),
            r"`n_interacting` must be an integer in \[1, min\(dim_x, dim_y\)\] = \[1, 2\]",
        ),
        (lambda: tasks.student_t(dof=0), r"`dof` must be a positive number; got 0"),
        (lambda: tasks.additive_uniform(-1.0), r"`epsilon` must be a positive number"),
        (lambda: tasks.independent(distribution="t"), r"`distribution` must be one of"),
        (lambda: tasks.transformed("normal", "asinh"), r"`base` must be a Task; got str"),
        (
            lambda: tasks.transformed(tasks.get("normal-1d-0.8"), "cube"),
            r"`transform` must be one of 'half_cube'",
        ),
        (
            lambda: tasks.transformed(tasks.get("normal-1d-0.8"), "spiral"),
            r"`transform` 'spiral' needs dim_x and dim_y >= 2; got 1 and 1",
        ),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
