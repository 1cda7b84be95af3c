"""HSICAggInc, hsic.test(method="aggregated_incomplete") (issue 16): the incomplete
U-statistic and its wild bootstrap against a NumPy transcription, the complete design against
the complete U-statistic, seeds and batching, bad input, power and calibration."""

import numpy as np
import pytest
import reference as ref
from support import rejections_under_independence

import hsic
from hsic._nulls.incomplete import design_size, incomplete_sums

ALPHA = 0.05


def _h_numpy(x, y, sx, sy):
    """h(Z_i, Z_j) = h^x_ij h^y_ij on the halves Z_i = (x_i, y_i, x_{N+i}, y_{N+i}) (Schrab,
    Kim, Guedj, Gretton 2022), every (i, j), float64 (Gaussian kernels)."""
    half = len(x) // 2

    def hk(a, s):
        a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
        a1, a2 = a[:half], a[half : 2 * half]

        def k(u, v):
            return np.exp(-((u[:, None, :] - v[None, :, :]) ** 2).sum(-1) / (2 * s * s))

        return k(a1, a1) - k(a1, a2) - k(a2, a1) + k(a2, a2)

    return hk(x, sx) * hk(y, sy)


def _design(half, r):
    return [(i, i + d) for d in range(1, r + 1) for i in range(half - d)]


def test_complete_design_is_the_complete_u_statistic(rng):
    n = 41  # odd: the last row is left out
    x = rng.normal(size=(n, 2))
    y = x[:, :1] ** 2 + rng.normal(size=(n, 1))
    half = n // 2
    method = hsic.AggregatedIncomplete(
        n_resamples=30, n_bandwidths=3, n_diagonals=10_000, batch_size=7
    )
    res = hsic.test(x, y, method=method, rng=0, dtype="float64")
    assert res.info["n_diagonals"] == half - 1
    assert res.info["design_size"] == half * (half - 1) // 2
    for a, sx in enumerate(res.info["bandwidths_x"]):
        for b, sy in enumerate(res.info["bandwidths_y"]):
            h = _h_numpy(x, y, sx, sy)
            complete = h[np.triu_indices(half, 1)].mean() / 4  # the U-statistic of HSIC
            assert res.info["statistics"][a][b] == pytest.approx(complete, rel=1e-10)


def test_complete_u_statistic_estimates_hsic(rng):
    # E h = 4 HSIC: on a large sample the complete statistic is near the unbiased HSIC
    n = 400
    x = rng.normal(size=n)
    y = np.sin(2 * x) + 0.3 * rng.normal(size=n)
    h = _h_numpy(x, y, 1.0, 0.7)
    complete = h[np.triu_indices(n // 2, 1)].mean() / 4
    full = ref.hsic_unbiased(ref.gaussian_gram(x, 1.0), ref.gaussian_gram(y, 0.7))
    assert complete == pytest.approx(full, rel=0.25)


@pytest.mark.parametrize("r", [1, 3, 8])
def test_incomplete_sums_against_numpy(rng, r):
    n, half = 30, 15
    x, y = rng.normal(size=(n, 1)), rng.normal(size=(n, 2))
    bx, by = np.array([0.5, 1.0, 2.0]), np.array([0.7, 1.5])
    signs = rng.choice([-1.0, 1.0], size=(4, half))
    signs[0] = 1.0
    got = np.asarray(incomplete_sums(
        x, y, bx, by, signs, np.arange(1, r + 1), kind_x="gaussian", kind_y="gaussian"
    ))
    pairs = _design(half, r)
    assert len(pairs) == design_size(half, r)
    for a, sx in enumerate(bx):
        for b, sy in enumerate(by):
            h = _h_numpy(x, y, sx, sy)
            for s, eps in enumerate(signs):
                want = sum(eps[i] * eps[j] * h[i, j] for i, j in pairs)
                assert got[s, a, b] == pytest.approx(want, rel=1e-5, abs=1e-5)


def test_laplace_kernel(rng):
    x, y = rng.normal(size=(20, 1)), rng.normal(size=(20, 1))
    signs = np.ones((1, 10))
    got = np.asarray(incomplete_sums(
        x, y, np.array([1.0]), np.array([1.0]), signs, np.arange(1, 10),
        kind_x="laplace", kind_y="laplace",
    ))[0, 0, 0]

    def hk(a):
        a1, a2 = a[:10, 0], a[10:, 0]

        def k(u, v):
            return np.exp(-np.abs(u[:, None] - v[None, :]))

        return k(a1, a1) - k(a1, a2) - k(a2, a1) + k(a2, a2)

    h = hk(x) * hk(y)
    assert got == pytest.approx(h[np.triu_indices(10, 1)].sum(), rel=1e-5)


def test_aggregation_and_decision(rng):
    x = rng.normal(size=60)
    y = x + rng.normal(size=60)
    res = hsic.test(x, y, method=hsic.AggregatedIncomplete(n_bandwidths=3), rng=1)
    assert res.method == "aggregated_incomplete"
    assert res.pvalue <= ALPHA and res.info["reject"]
    assert res.null_distribution.shape == (500,)
    assert np.shape(res.info["pvalues"]) == (3, 3)
    a, b = res.info["selected"]
    assert res.statistic == res.info["statistics"][a][b]
    assert res.bandwidth_x == res.info["bandwidths_x"][a]


def test_seed_and_batching(rng):
    x, y = rng.normal(size=50), rng.normal(size=50)
    method = hsic.AggregatedIncomplete(n_resamples=40, n_bandwidths=2, n_diagonals=5)
    a = hsic.test(x, y, method=method, rng=3)
    b = hsic.test(
        x, y, rng=3,
        method=hsic.AggregatedIncomplete(
            n_resamples=40, n_bandwidths=2, n_diagonals=5, batch_size=9
        ),
    )
    assert a.pvalue == b.pvalue and a.info == b.info
    np.testing.assert_array_equal(a.null_distribution, b.null_distribution)
    c = hsic.test(x, y, method=method, rng=4)
    assert c.info["pvalues"] != a.info["pvalues"]


def test_pvalue_agrees_with_the_decision(rng):
    for r in range(12):
        x = rng.normal(size=40)
        y = 0.4 * r / 12 * x + rng.normal(size=40)
        for alpha in (0.05, 0.2):
            method = hsic.AggregatedIncomplete(
                n_resamples=60, n_resamples_level=39, n_bandwidths=2, alpha=alpha,
                weights="decreasing",
            )
            res = hsic.test(x, y, method=method, rng=r)
            assert (res.pvalue <= alpha) == res.info["reject"], (r, alpha, res.pvalue)


@pytest.mark.parametrize(
    "options, kwargs, match",
    [
        (dict(n_diagonals=0), {}, "`n_diagonals` must be a positive integer; got 0"),
        (dict(n_resamples=0), {}, "`n_resamples` must be a positive integer; got 0"),
        ({}, dict(kernel_x="linear"), "`kernel_x` must be a Gaussian or Laplace kernel for "
                                      "method='aggregated_incomplete'"),
        ({}, dict(devices=1), "not supported by method='aggregated_incomplete'"),
    ],
)
def test_bad_arguments(rng, options, kwargs, match):
    x = rng.normal(size=20)
    with pytest.raises(ValueError, match=match):
        hsic.test(x, x**2, method=hsic.AggregatedIncomplete(**options), **kwargs)


def test_too_few_samples():
    with pytest.raises(ValueError, match="needs at least 8 samples; got n=7"):
        hsic.test(np.arange(7.0), np.arange(7.0) ** 2, method="aggregated_incomplete")


def test_detects_the_high_frequency_sine():
    rng = np.random.default_rng(0)
    n = 2000
    x = rng.uniform(-1, 1, size=n)
    y = np.sin(40 * x) + 0.3 * rng.normal(size=n)
    method = hsic.AggregatedIncomplete(
        n_resamples=300, n_resamples_level=199, n_bandwidths=3, n_diagonals=50
    )
    res = hsic.test(x, y, method=method, rng=0)
    assert res.info["reject"] and res.pvalue <= ALPHA, res.pvalue
    # the smallest bandwidth of x sees the dependence: its pairs' p-values are at the floor
    # 1/(1 + B1), and the aggregated p-value cannot go far below (pairs)/(1 + B1)
    np.testing.assert_array_equal(res.info["pvalues"][0], [1 / 301] * 3)
    assert res.info["selected"][0] == 0
    assert res.info["design_size"] == design_size(1000, 50)


def test_level_fast():
    replications = 200
    method = hsic.AggregatedIncomplete(
        n_resamples=199, n_resamples_level=99, n_bandwidths=3, n_diagonals=10
    )
    rejected = rejections_under_independence(method, replications, 60, seed=41)
    ref.assert_calibrated(rejected, replications)


@pytest.mark.slow
def test_level_slow():
    replications = 1000
    method = hsic.AggregatedIncomplete(n_resamples_level=199)
    rejected = rejections_under_independence(method, replications, 200, seed=42)
    ref.assert_calibrated(rejected, replications)
