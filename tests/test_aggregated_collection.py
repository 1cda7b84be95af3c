"""The aggregated test's data-driven bandwidth collection and its weights (issue 16): the rule
against NumPy, the weight schemes against their formulas, bad input, the high-frequency sine,
and calibration of the new default."""

import numpy as np
import pytest
import reference as ref
from scipy.spatial.distance import pdist
from support import rejections_under_independence

import hsic
from hsic._nulls.aggregated import bandwidth_collection, pair_weights, weight_vector

ALPHA = 0.05


def _collection_numpy(a, count):
    """Geometric from half the 5 % to twice the 95 % quantile of the non-zero distances (all
    rows: n <= 1000 here, so the subsample is every row)."""
    d = pdist(np.asarray(a, dtype=np.float64).reshape(len(a), -1))
    d = d[d > 0]
    low, high = 0.5 * np.quantile(d, 0.05), 2.0 * np.quantile(d, 0.95)
    return np.geomspace(low, high, count)


@pytest.mark.parametrize("shape", [(200,), (150, 3)])
def test_collection_spans_the_distances(rng, shape):
    x = rng.normal(size=shape)
    xs = bandwidth_collection(x.reshape(len(x), -1), 10)
    np.testing.assert_allclose(xs, _collection_numpy(x, 10), rtol=1e-12)
    assert np.all(np.diff(xs) > 0)  # monotone
    d = pdist(x.reshape(len(x), -1))
    assert 0.5 * d.min() <= xs[0] and xs[-1] <= 2.0 * d.max()  # within the distance range
    assert np.allclose(np.log(xs[1:] / xs[:-1]), np.log(xs[1] / xs[0]))  # geometric
    # deterministic: no randomness in the rule, and the test records the same collection
    # whatever the seed
    y = rng.normal(size=len(x))
    method = hsic.Aggregated(n_resamples=30, n_bandwidths=4)
    a = hsic.test(x, y, method=method, rng=1, dtype="float64")
    b = hsic.test(x, y, method=method, rng=2, dtype="float64")
    c = hsic.test(x, y, method=method, rng=1, dtype="float64")
    assert a.info["bandwidths_x"] == b.info["bandwidths_x"] == c.info["bandwidths_x"]
    assert a.info == c.info and a.pvalue == c.pvalue
    np.testing.assert_allclose(a.info["bandwidths_x"], _collection_numpy(x, 4), rtol=1e-12)
    np.testing.assert_allclose(a.info["bandwidths_y"], _collection_numpy(y, 4), rtol=1e-12)
    assert a.info["bandwidths"] == "auto" and a.info["n_bandwidths"] == 4


def test_collection_uses_the_median_subsample(rng):
    # beyond 1000 rows, the same evenly spaced rows as the median heuristic
    x = rng.exponential(size=(3001, 1))
    rows = np.linspace(0, 3000, 1000).round().astype(int)
    np.testing.assert_allclose(
        bandwidth_collection(x, 5), _collection_numpy(x[rows], 5), rtol=1e-12
    )
    assert bandwidth_collection(x, 1)[0] == pytest.approx(
        np.sqrt(_collection_numpy(x[rows], 2).prod()), rel=1e-12
    )


def test_statistics_are_those_of_the_collection_bandwidths(rng):
    n = 40
    x, y = rng.normal(size=n), rng.normal(size=n)
    res = hsic.test(x, y, method=hsic.Aggregated(n_resamples=20, n_bandwidths=3), rng=0,
                    dtype="float64")
    for a, bx in enumerate(res.info["bandwidths_x"]):
        for b, by in enumerate(res.info["bandwidths_y"]):
            expected = ref.hsic_biased(ref.gaussian_gram(x, bx), ref.gaussian_gram(y, by))
            assert res.info["statistics"][a][b] == pytest.approx(expected, rel=1e-9)
    a, b = res.info["selected"]
    assert res.bandwidth_x == res.info["bandwidths_x"][a]


def test_given_bandwidths(rng):
    x, y = rng.normal(size=30), rng.normal(size=30)
    method = hsic.Aggregated(n_resamples=20, bandwidths=([0.5, 1.0], [2.0, 3.0, 4.0]))
    res = hsic.test(x, y, method=method, rng=0)
    assert res.info["bandwidths_x"] == [0.5, 1.0] and res.info["bandwidths_y"] == [2.0, 3.0, 4.0]
    assert np.shape(res.info["pvalues"]) == (2, 3) and res.info["bandwidths"] == "given"


@pytest.mark.parametrize("count", [1, 2, 4, 5, 10])
def test_weight_schemes(count):
    j = np.arange(1, count + 1)
    harmonic = np.sum(1.0 / j)
    expected = {
        "uniform": np.full(count, 1.0 / count),
        "decreasing": 1.0 / (j * harmonic),
        "increasing": 1.0 / ((count + 1 - j) * harmonic),
    }
    middle = (count + 1) / 2
    centred = 1.0 / (np.abs(middle - j) + (1.0 if count % 2 else 0.5))
    expected["centred"] = centred / centred.sum()
    for scheme, want in expected.items():
        w = weight_vector(scheme, count)
        np.testing.assert_allclose(w, want, rtol=1e-12)
        assert w.sum() == pytest.approx(1.0, abs=1e-12) and np.all(w > 0)
        pairs = pair_weights(scheme, (count, count + 1))
        assert pairs.shape == (count, count + 1)
        assert pairs.sum() == pytest.approx(1.0, abs=1e-12) and np.all(pairs > 0)
    if count > 1:
        assert np.all(np.diff(weight_vector("decreasing", count)) < 0)
        assert np.all(np.diff(weight_vector("increasing", count)) > 0)
        c = weight_vector("centred", count)
        np.testing.assert_allclose(c, c[::-1], rtol=1e-12)


@pytest.mark.parametrize("scheme", ["uniform", "increasing", "decreasing", "centred"])
def test_weight_schemes_reach_the_test(rng, scheme):
    x, y = rng.normal(size=30), rng.normal(size=30)
    method = hsic.Aggregated(n_resamples=20, n_bandwidths=3, weights=scheme)
    res = hsic.test(x, y, method=method, rng=0)
    np.testing.assert_allclose(res.info["weights"], pair_weights(scheme, (3, 3)), rtol=1e-15)
    assert res.info["weight_scheme"] == scheme
    # an array of weights gives the same test as its scheme
    array = hsic.Aggregated(n_resamples=20, n_bandwidths=3, weights=pair_weights(scheme, (3, 3)))
    again = hsic.test(x, y, method=array, rng=0)
    assert again.pvalue == res.pvalue and again.info["weight_scheme"] == "array"


@pytest.mark.parametrize("cls", [hsic.Aggregated, hsic.AggregatedIncomplete])
@pytest.mark.parametrize(
    "options, match",
    [
        (dict(weights="uniformly"), "`weights` must be one of 'uniform', 'increasing', "
                                    "'decreasing', 'centred' or an array"),
        (dict(weights="centered"), "`weights` must be one of"),
        (dict(n_bandwidths=0), "`n_bandwidths` must be a positive integer; got 0"),
        (dict(n_bandwidths=-3), "`n_bandwidths` must be a positive integer; got -3"),
        (dict(n_bandwidths=2.5), "`n_bandwidths` must be a positive integer"),
        (dict(bandwidths="median"), "`bandwidths` must be 'auto' or a pair"),
        (dict(bandwidths=([1.0], [0.0])), "`bandwidths` must be 'auto' or a pair"),
        (dict(bandwidths=[1.0, 2.0, 3.0]), "`bandwidths` must be 'auto' or a pair"),
        (dict(bandwidths=([1.0], [2.0]), bandwidth_factors=(1, 2)),
         "Give either `bandwidths` or `bandwidth_factors`"),
        (dict(weights=np.ones((3, 3))), None),  # the shape of each class's default
    ],
)
def test_bad_collection_options(cls, options, match):
    if "weights" in options and not isinstance(options["weights"], str):
        shape = (10, 10) if cls is hsic.Aggregated else (5, 5)
        match = rf"`weights` must be an array of shape \({shape[0]}, {shape[1]}\)"
    with pytest.raises(ValueError, match=match):
        cls(**options)


def _sine(seed, n=300):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=n)
    return x, np.sin(40 * x) + 0.3 * rng.normal(size=n)


def test_high_frequency_sine():
    # The case: the period (0.16) is far below the median distance of x (~0.6), so
    # the median bandwidth and the old grid (down to a quarter of it) miss the dependence.
    # With the defaults (fitted per-pair p-values, B1 = B2 = 2000) the p-value reaches its
    # smallest value 1/(1 + B2); with HSICAgg's ranks it stops at ~J_eff/(1 + B1) = 0.015.
    x, y = _sine(0)
    res = hsic.test(x, y, method="aggregated", rng=0)
    assert res.pvalue <= 0.01, res.pvalue
    assert res.pvalue == 1 / 2001
    assert res.info["selected"][0] <= 2  # a small bandwidth of x found it
    assert hsic.test(x, y, method="gamma").pvalue > 0.05


def test_level_fast():
    # the collection (3 x 3 here) under independence, fitted per-pair p-values: B1 only
    # estimates three moments per pair (with ranks, B1 = 199 made the test conservative:
    # rejection rate 0.010 measured, the level samples' ties on the grid 9k/200)
    replications = 200
    method = hsic.Aggregated(n_resamples=199, n_resamples_level=99, n_bandwidths=3)
    rejected = rejections_under_independence(method, replications, 30, seed=31)
    ref.assert_calibrated(rejected, replications)


@pytest.mark.slow
def test_level_slow():
    # the default collection (100 pairs) with its default B1
    replications = 400
    method = hsic.Aggregated(n_resamples_level=199, weights="centred")
    rejected = rejections_under_independence(method, replications, 50, seed=32)
    ref.assert_calibrated(rejected, replications)
