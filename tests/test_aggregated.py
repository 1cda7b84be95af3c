"""hsic.test(method="aggregated"): HSICAgg against a NumPy transcription, the p-value against the
decision, calibration, power where the median bandwidth is wrong, seeds and validation."""

import numpy as np
import pytest
import reference as ref
from support import rejections_under_independence

import hsic
from hsic.kernels import Gaussian

ALPHA = 0.05


def _aggregated_numpy(x, y, factors, weights, seed, b1, b2, alpha, fitted):
    """HSICAgg written from the paper's definitions (float64, full n x n matrices).

    Permutations: NumPy's PCG64 seeded by `seed`, one after another, B1 for the quantiles then
    B2 for the level correction, each applied to the samples of y. Per-pair p-values with the
    +1 convention (or, `fitted`, scipy's Pearson III tail with the moments of the B1 null);
    u_alpha = sup{u : (1 + #{b2 rejecting at u}) / (1 + B2) <= alpha} computed exactly (as an
    order statistic) rather than by bisection.
    """
    n = len(x)
    sx, sy = ref.median_bandwidth(x), ref.median_bandwidth(y)
    Ks = [ref.gaussian_gram(x, f * sx) for f in factors]
    Ls = [ref.gaussian_gram(y, f * sy) for f in factors]
    pairs = [(a, b) for a in range(len(factors)) for b in range(len(factors))]
    w = np.asarray(weights, dtype=float).ravel()
    w = w / w.sum()
    source = np.random.default_rng(seed)
    perms1 = [source.permutation(n) for _ in range(b1)]
    perms2 = [source.permutation(n) for _ in range(b2)]

    def stats(p):
        return np.array([ref.hsic_biased(Ks[a], Ls[b][np.ix_(p, p)]) for a, b in pairs])

    observed = stats(np.arange(n))
    null1 = np.array([stats(p) for p in perms1])  # (B1, J)
    null2 = np.array([stats(p) for p in perms2])  # (B2, J)

    def ranks(h):
        return (1 + np.sum(null1 >= h[None, :] * (1 - 1e-9), axis=0)) / (1 + b1)

    def pvals(h):
        return ref.pearson3_tails(null1, h[None, :])[0] if fitted else ranks(h)

    p_obs = pvals(observed)
    t_obs = np.min(p_obs / w)
    t2 = np.array([np.min(pvals(h) / w) for h in null2])
    pvalue = (1 + np.sum(t2 <= t_obs * (1 + 1e-12))) / (1 + b2)
    m = int(np.floor(alpha * (1 + b2) + 1e-12))
    u_alpha = np.sort(t2)[m - 1] if m >= 1 else 0.0  # the supremum (not attained)
    return observed, ranks(observed), p_obs, pvalue, u_alpha, t_obs


@pytest.mark.parametrize("pair_pvalues", ["empirical", "fitted"])
@pytest.mark.parametrize("weights", [None, np.array([[1.0, 2.0, 1.0], [0.5, 4.0, 1.0], [1, 1, 3]])])
def test_against_numpy_transcription(rng, weights, pair_pvalues):
    n, b1, b2, factors = 25, 30, 40, (0.5, 1.0, 2.0)
    x = rng.normal(size=n)
    y = np.cos(3 * x) + 0.5 * rng.normal(size=n)
    method = hsic.Aggregated(
        n_resamples=b1, n_resamples_level=b2, bandwidth_factors=factors, weights=weights,
        pair_pvalues=pair_pvalues, batch_size=7,
    )
    res = hsic.test(x, y, method=method, rng=4, dtype="float64")
    w = np.ones((3, 3)) if weights is None else weights
    observed, ranks, p_obs, pvalue, u_alpha, t_obs = _aggregated_numpy(
        x, y, factors, w, 4, b1, b2, ALPHA, fitted=pair_pvalues == "fitted"
    )
    np.testing.assert_allclose(np.ravel(res.info["statistics"]), observed, rtol=1e-9)
    np.testing.assert_allclose(np.ravel(res.info["pvalues"]), ranks, rtol=1e-12)
    assert res.info["pair_pvalues"] == pair_pvalues
    np.testing.assert_allclose(np.ravel(res.info["aggregated_pvalues"]), p_obs, rtol=1e-9)
    assert res.pvalue == pytest.approx(pvalue, rel=1e-12)
    assert res.info["min_weighted_pvalue"] == pytest.approx(t_obs, rel=1e-9)
    # the bisection lands just below the exact supremum
    assert u_alpha * (1 - 1e-9) - 1e-10 <= res.info["u_alpha"] <= u_alpha * (1 + 1e-9)
    a, b = res.info["selected"]
    assert res.statistic == pytest.approx(observed[3 * a + b], rel=1e-9)
    if pair_pvalues == "fitted":  # no ties: the pair of the smallest weighted p-value
        assert 3 * a + b == np.argmin(p_obs / np.ravel(w / w.sum()))
    assert res.null_distribution.shape == (b1,) and res.info["n_resamples"] == b1
    np.testing.assert_array_equal(res.info["weights"], w / w.sum())  # normalised once
    assert res.bandwidth_x == pytest.approx(factors[a] * ref.median_bandwidth(x), rel=1e-12)


def test_fitted_tails_match_scipys_pearson3():
    from hsic._nulls.pvalues import fitted_tail_pvalues

    source = np.random.default_rng(5)
    null = np.column_stack([
        source.gamma(2.5, size=400) * 0.3 + 1.0,  # right-skewed, like HSIC's null
        -source.gamma(4.0, size=400),  # left-skewed, with a finite upper end
        source.normal(size=400),  # nearly symmetric
        source.uniform(-1, 1, size=400) ** 3,  # light tails, skew ~ 0
    ])
    stats = np.linspace(-12.0, 12.0, 49)[:, None] * np.ones((1, 4))
    got = fitted_tail_pvalues(null, stats)
    np.testing.assert_allclose(got, ref.pearson3_tails(null, stats), rtol=1e-7, atol=1e-13)
    # continuous beyond the resamples: no floor at 1/(1 + B)
    far = null.max(axis=0, keepdims=True) + null.std(axis=0, keepdims=True)
    assert np.all(fitted_tail_pvalues(null, far)[:, [0, 2]] < 1 / 401)


def test_fitted_tails_of_a_flat_null_are_the_permutation_pvalues():
    from hsic._nulls.pvalues import fitted_tail_pvalues

    null = np.column_stack([np.full(9, 2.0), np.arange(9.0)])
    got = fitted_tail_pvalues(null, np.array([[2.0, 4.0], [2.5, 4.0]]))
    np.testing.assert_array_equal(got[:, 0], [1.0, 0.1])
    # a float32 null whose spread is rounding noise: the observed value, a few roundings
    # away, is a tie (p = 1), not a far tail
    noise = np.float32(1.0) + np.float32(6e-8) * np.random.default_rng(1).normal(size=(99, 1))
    noise = noise.astype(np.float32)
    assert fitted_tail_pvalues(noise, np.array([[1.0 + 5e-7]]))[0, 0] == 1.0


def test_weights_are_normalised_once():
    # dividing by the sum a second time moves about a third of such weights by an ulp
    w = np.random.default_rng(0).uniform(0.2, 1.0, size=(50, 3, 3))
    for weights in w:
        method = hsic.Aggregated(bandwidth_factors=(0.5, 1, 2), weights=weights)
        np.testing.assert_array_equal(method.weight_matrix(), weights / weights.sum())


def test_single_bandwidth_statistics_and_pvalues_match_hsic_and_hsic_test(rng):
    n, B = 40, 50
    x = rng.normal(size=(n, 2))
    y = np.abs(x[:, 0]) + 0.5 * rng.normal(size=n)
    grid = hsic.Aggregated(n_resamples=B, bandwidth_factors=(0.25, 0.5, 1.0, 2.0, 4.0))
    res = hsic.test(x, y, method=grid, rng=9, dtype="float64")
    assert res.info["bandwidth_factors"] == [0.25, 0.5, 1.0, 2.0, 4.0]
    for a, bx in enumerate(res.info["bandwidths_x"]):
        for b, by in enumerate(res.info["bandwidths_y"]):
            kx, ky = Gaussian(bandwidth=bx), Gaussian(bandwidth=by)
            stat = hsic.hsic(x, y, kernel_x=kx, kernel_y=ky, dtype="float64")
            np.testing.assert_allclose(res.info["statistics"][a][b], float(stat), rtol=1e-9)
    for a, b in [(0, 4), (2, 2), (4, 0), (1, 3)]:
        # the B1 permutations are those of hsic.test with the same seed
        kx = Gaussian(bandwidth=res.info["bandwidths_x"][a])
        ky = Gaussian(bandwidth=res.info["bandwidths_y"][b])
        single = hsic.test(
            x, y, kernel_x=kx, kernel_y=ky, method=hsic.Permutation(n_resamples=B), rng=9,
            dtype="float64",
        )
        assert res.info["pvalues"][a][b] == pytest.approx(single.pvalue, rel=1e-12)


def test_pvalue_agrees_with_the_decision(rng):
    n = 20
    for r in range(24):
        x = rng.normal(size=n)
        y = 0.3 * r / 24 * x**2 + rng.normal(size=n)
        weights = rng.uniform(0.2, 1.0, size=(3, 3)) if r % 2 else None
        for alpha in (0.05, 0.1, 0.2):
            method = hsic.Aggregated(
                bandwidth_factors=(0.5, 1, 2), weights=weights, n_resamples=30,
                n_resamples_level=(29, 49)[r % 3 == 0], alpha=alpha,
            )
            res = hsic.test(x, y, method=method, rng=r)
            assert (res.pvalue <= alpha) == res.info["reject"], (r, alpha, res.pvalue)


def test_seed_and_batching(rng):
    x = rng.normal(size=30)
    y = rng.normal(size=30)
    a = hsic.test(x, y, method=hsic.Aggregated(n_resamples=40), rng=3)
    b = hsic.test(x, y, method=hsic.Aggregated(n_resamples=40, batch_size=9), rng=3)
    assert a.pvalue == b.pvalue and a.info == b.info
    c = hsic.test(x, y, method=hsic.Aggregated(n_resamples=40), rng=4)
    assert c.info["pvalues"] != a.info["pvalues"]
    assert a.method == "aggregated" and "n_resamples=40" in str(a)
    assert a.to_dict()["info"]["n_resamples_level"] == 40


@pytest.mark.parametrize("pair_pvalues", ["fitted", "empirical"])
def test_level_fast(pair_pvalues):
    replications = 200
    # B1 large enough that the per-pair ranks rarely tie at their minimum 1/(1 + B1) (ties
    # make the test conservative), B2 = 99 so that alpha (1 + B2) is an integer.
    method = hsic.Aggregated(
        n_resamples=199, n_resamples_level=99, bandwidth_factors=(0.5, 1, 2),
        pair_pvalues=pair_pvalues,
    )
    rejected = rejections_under_independence(method, replications, 30, seed=11)
    ref.assert_calibrated(rejected, replications)


@pytest.mark.slow
def test_level_slow():
    replications = 1000
    method = hsic.Aggregated(n_resamples=999, n_resamples_level=199)
    rejected = rejections_under_independence(method, replications, 50, seed=12)
    ref.assert_calibrated(rejected, replications)


def _sine(rng, n):
    x = rng.uniform(size=n)
    return x, np.sin(8 * np.pi * x) + 0.5 * rng.normal(size=n)


def _power(method, replications, n, seed):
    rng = np.random.default_rng(seed)
    hits = 0
    for r in range(replications):
        x, y = _sine(rng, n)
        hits += hsic.test(x, y, method=method, rng=r).pvalue <= ALPHA
    return hits / replications


@pytest.mark.parametrize(
    "method",
    [
        # the factor grid of earlier versions: B1 = 499 is well above J/alpha = 25/0.05
        hsic.Aggregated(
            n_resamples=499, n_resamples_level=199, bandwidth_factors=(0.25, 0.5, 1, 2, 4)
        ),
        # the default collection (100 pairs) and fitted per-pair p-values: B1 only has to
        # give each pair's null moments
        hsic.Aggregated(n_resamples=300, n_resamples_level=199),
    ],
    ids=["factor-grid", "collection"],
)
def test_more_power_than_the_median_heuristic_on_a_fast_sine(method):
    # y = sin(8πx) + noise, x ~ U(0, 1): the median distance of x (~0.3) exceeds the period
    # (1/4), so the median-bandwidth kernel averages the dependence away.
    replications, n = 10, 100
    aggregated = _power(method, replications, n, seed=21)
    median = _power(hsic.Permutation(n_resamples=199), replications, n, seed=21)
    assert aggregated >= 0.8 and aggregated >= median + 0.5, (aggregated, median)


@pytest.mark.parametrize(
    "options, kwargs, match",
    [
        (dict(bandwidth_factors=()), {}, "`bandwidth_factors` must be a non-empty sequence"),
        (dict(bandwidth_factors=(1.0, -2.0)), {}, "`bandwidth_factors` must be a non-empty"),
        (dict(bandwidth_factors=(1.0, 1.0)), {}, "`bandwidth_factors` must not repeat"),
        (dict(bandwidth_factors="median"), {}, "`bandwidth_factors` must be a non-empty"),
        (dict(weights=np.ones((2, 2))), {}, r"`weights` must be an array of shape \(10, 10\)"),
        (dict(weights=np.ones((2, 2)), bandwidth_factors=(1, 2, 3)), {},
         r"`weights` must be an array of shape \(3, 3\)"),
        (dict(weights=-np.ones((10, 10))), {}, "`weights` must be positive and finite"),
        (dict(alpha=0.0), {}, r"`alpha` must be a number in \(0, 1\); got 0.0"),
        (dict(alpha=1.5), {}, r"`alpha` must be a number in \(0, 1\)"),
        (dict(n_resamples_level=0), {}, "`n_resamples_level` must be a positive integer"),
        (dict(n_resamples=0), {}, "`n_resamples` must be a positive integer; got 0"),
        (dict(pair_pvalues="gamma"), {}, "`pair_pvalues` must be one of 'fitted', 'empirical'"),
        (dict(batch_size=0), {}, "`batch_size` must be a positive integer; got 0"),
        ({}, dict(kernel_x="linear"), "`kernel_x` must be a Gaussian or Laplace kernel"),
        ({}, dict(kernel_y="delta"), "`kernel_y` must be a Gaussian or Laplace kernel"),
        ({}, dict(devices=1), "`devices`/`mesh` are not supported by method='aggregated'"),
    ],
)
def test_bad_arguments(rng, options, kwargs, match):
    x = rng.normal(size=20)
    with pytest.raises(ValueError, match=match):
        hsic.test(x, x**2, method=hsic.Aggregated(**{"n_resamples": 9, **options}), **kwargs)


def test_too_few_samples():
    with pytest.raises(ValueError, match="needs at least 5 samples; got n=4"):
        hsic.test([1.0, 2, 3, 4], [1.0, 3, 2, 4], method="aggregated")
