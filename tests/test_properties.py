"""Hypothesis properties of the package, each against an independent reference.

* The median heuristic equals the median of ``scipy.spatial.distance.pdist``.
* Centring: ``hsic.centre(K)`` is ``HKH``, its rows and columns sum to 0, it is idempotent, and
  ``hsic_from_gram`` is ``tr(KHLH)/n²``.
* Permutation-type p-values lie on the grid ``k/(B + 1)`` within ``[1/(B + 1), 1]``.
* Every statistic that does not depend on the order of the rows is unchanged by a common
  permutation of the rows of x and y.
* No test's result depends on ``batch_size``.

Examples are few and shapes are drawn from small sets, so that compilation stays bounded.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
import scipy.spatial.distance
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import hsic

# derandomize: the same examples on every run, so that CI is reproducible.
SETTINGS = settings(
    max_examples=12, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)


def samples(n: int, d: int):
    return arrays(np.float64, (n, d), elements=finite)


@SETTINGS
@given(data=st.data(), n=st.integers(2, 60), d=st.integers(1, 3))
def test_median_heuristic_is_the_median_of_pdist(data, n, d):
    x = data.draw(samples(n, d))
    reference = float(np.median(scipy.spatial.distance.pdist(x)))
    assume(reference > 0)  # a zero median falls back (and warns); tested in test_kernels.py
    assert hsic.kernels.median_distance(x) == pytest.approx(reference, rel=1e-9)


@SETTINGS
@given(data=st.data(), n=st.integers(2, 12))
def test_centring_identities(data, n):
    a = data.draw(arrays(np.float64, (n, n), elements=st.floats(-10, 10)))
    b = data.draw(arrays(np.float64, (n, n), elements=st.floats(-10, 10)))
    K, L = a + a.T, b + b.T
    H = np.eye(n) - np.ones((n, n)) / n
    with jax.enable_x64(True):
        Kc = np.asarray(hsic.centre(K))
        np.testing.assert_allclose(Kc, H @ K @ H, atol=1e-9)
        np.testing.assert_allclose(Kc.sum(axis=0), 0.0, atol=1e-9)
        np.testing.assert_allclose(Kc.sum(axis=1), 0.0, atol=1e-9)
        np.testing.assert_allclose(np.asarray(hsic.centre(Kc)), Kc, atol=1e-9)
        expected = np.trace(K @ H @ L @ H) / n**2
        assert float(hsic.hsic_from_gram(K, L)) == pytest.approx(expected, abs=1e-9)


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.sampled_from([8, 12]),
    B=st.sampled_from([9, 19]),
    method=st.sampled_from(["permutation", "wild_bootstrap", "rff"]),
)
def test_pvalues_lie_on_the_resampling_grid(seed, n, B, method):
    gen = np.random.default_rng(seed)
    x, y = gen.normal(size=n), gen.normal(size=n)
    spec = {
        "permutation": hsic.Permutation(n_resamples=B),
        "wild_bootstrap": hsic.WildBootstrap(n_resamples=B),
        "rff": hsic.RFF(n_features=4, n_resamples=B),
    }[method]
    p = hsic.test(x, y, method=spec, rng=seed % 1000).pvalue
    assert 1 / (B + 1) <= p <= 1
    assert p * (B + 1) == pytest.approx(round(p * (B + 1)))


STATISTICS = {
    "biased": lambda x, y: hsic.hsic(x, y),
    "unbiased": lambda x, y: hsic.hsic(x, y, estimator="unbiased"),
    "nhsic": lambda x, y: hsic.nhsic(x, y),
    "rff": lambda x, y: hsic.hsic(x, y, estimator="rff", n_features=10, rng=3),
    "dhsic": lambda x, y: hsic.dhsic([x, y, x + y]),
    "gamma test": lambda x, y: hsic.test(x, y, method="gamma").statistic,
}


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), name=st.sampled_from(sorted(STATISTICS)))
def test_statistics_ignore_a_common_row_permutation(seed, name):
    # Block HSIC (blocks of consecutive rows) and Nyström (landmarks chosen by row) depend on
    # the order of the rows by design, and are not in this list.
    gen = np.random.default_rng(seed)
    x = gen.normal(size=(16, 2))
    y = x[:, :1] ** 2 + gen.normal(size=(16, 1))
    p = gen.permutation(16)
    f = STATISTICS[name]
    assert float(f(x[p], y[p])) == pytest.approx(float(f(x, y)), rel=1e-5, abs=1e-7)


def _tests_with_batches():
    gen = np.random.default_rng(0)
    x = gen.normal(size=30)
    y = np.sin(x) + gen.normal(size=30)
    X = gen.normal(size=(30, 3))

    def one(cls, **kw):
        return lambda b: hsic.test(x, y, method=cls(batch_size=b, **kw), rng=1)

    return {
        "permutation": one(hsic.Permutation, n_resamples=23),
        "aggregated": one(hsic.Aggregated, n_resamples=23, n_resamples_level=17),
        "aggregated_incomplete": one(
            hsic.AggregatedIncomplete, n_resamples=23, n_resamples_level=17, n_diagonals=4
        ),
        "wild_bootstrap": one(hsic.WildBootstrap, n_resamples=23),
        "joint permutation": lambda b: hsic.joint_test(
            [x, y, x * y], method=hsic.Permutation(n_resamples=23, batch_size=b), rng=1
        ),
        "joint bootstrap": lambda b: hsic.joint_test(
            [x, y], method=hsic.Bootstrap(n_resamples=23, batch_size=b), rng=1
        ),
        "pairwise permutation": lambda b: hsic.pairwise(
            X, method=hsic.Permutation(n_resamples=23, batch_size=b), rng=1
        ),
    }


TESTS_WITH_BATCHES = _tests_with_batches()


@SETTINGS
@given(name=st.sampled_from(sorted(TESTS_WITH_BATCHES)), batch=st.sampled_from([1, 5, 250]))
def test_results_do_not_depend_on_batch_size(name, batch):
    run = TESTS_WITH_BATCHES[name]
    reference, other = run(None), run(batch)
    np.testing.assert_array_equal(np.asarray(other.pvalue), np.asarray(reference.pvalue))
    np.testing.assert_array_equal(np.asarray(other.statistic), np.asarray(reference.statistic))
    if reference.null_distribution is not None:
        np.testing.assert_array_equal(other.null_distribution, reference.null_distribution)

