"""hsic.test: p-values against independent references, seeds, batching, errors, power."""

import dataclasses

import jax
import numpy as np
import pytest
import reference as ref

import hsic
from hsic._base import validation as _validation
from hsic.kernels import Gaussian


def _ring(rng, n):
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = 1 + 0.1 * rng.normal(size=n)
    return radius * np.cos(angle), radius * np.sin(angle)


@pytest.mark.parametrize("n", [30, 300])  # one block of rows, or three (the last part padding)
def test_permutation_null_matches_numpy_on_the_same_permutations(rng, n):
    B, seed = 60, 7
    x = rng.normal(size=(n, 2))
    y = np.abs(x[:, :1]) + rng.normal(size=(n, 1))
    res = hsic.test(x, y, method=hsic.Permutation(n_resamples=B), rng=seed, dtype="float64")
    K = ref.gaussian_gram(x, ref.median_bandwidth(x))
    L = ref.gaussian_gram(y, ref.median_bandwidth(y))
    # The documented permutation source: NumPy's PCG64 seeded by `rng`, one permutation after
    # another, each applied to the samples of y.
    source = np.random.default_rng(seed)
    null = [ref.hsic_biased(K, L[np.ix_(p, p)]) for p in (source.permutation(n) for _ in range(B))]
    np.testing.assert_allclose(res.null_distribution, null, rtol=1e-9)
    observed = ref.hsic_biased(K, L)
    np.testing.assert_allclose(res.statistic, observed, rtol=1e-10)
    expected_p = (1 + np.sum(np.array(null) >= observed * (1 - 1e-9))) / (1 + B)
    assert res.pvalue == expected_p


def test_gamma_matches_gretton_hsictestgamma_transcription(rng):
    n = 80
    x = rng.normal(size=(n, 2))
    for y in (rng.normal(size=(n, 1)), x[:, :1] ** 2 + rng.normal(size=(n, 1))):
        sx, sy = ref.median_bandwidth(x), ref.median_bandwidth(y)
        test_stat, p = ref.hsic_test_gamma(x, y, sx, sy)
        res = hsic.test(x, y, method="gamma", dtype="float64")
        np.testing.assert_allclose(res.statistic * n, test_stat, rtol=1e-10)
        np.testing.assert_allclose(res.pvalue, p, rtol=1e-8, atol=1e-14)
        assert res.null_distribution is None and "n_resamples" not in res.info
        res32 = hsic.test(x, y, method="gamma")
        np.testing.assert_allclose(res32.pvalue, p, rtol=1e-3, atol=1e-6)


def test_result_object(rng):
    x, y = _ring(rng, 60)
    res = hsic.test(x, y, method=hsic.Permutation(n_resamples=99), rng=3)
    assert dataclasses.is_dataclass(res)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.pvalue = 0.5
    assert res.method == "permutation" and res.n == 60 and res.info["n_resamples"] == 99
    assert res.null_distribution.shape == (99,)
    assert res.bandwidth_x == pytest.approx(ref.median_bandwidth(x), rel=1e-5)
    assert res.bandwidth_y == pytest.approx(ref.median_bandwidth(y), rel=1e-5)
    assert isinstance(res.kernel_x, Gaussian)
    # repr is one line, str the readable block
    assert repr(res) == (
        f"HSICTestResult(statistic={res.statistic:.6g}, pvalue={res.pvalue:.6g}, "
        "method='permutation', n=60)"
    )
    text = str(res)
    assert "pvalue" in text and "Gaussian(bandwidth=" in text and "n          = 60" in text
    assert text.startswith("HSICTestResult(method='permutation', n_resamples=99, rng=3)")
    d = res.to_dict()
    assert d["pvalue"] == res.pvalue and d["kernel_x"]["name"] == "gaussian"
    assert d["info"]["rng"] == 3
    gamma = hsic.test(x, y, method="gamma")
    assert gamma.info["gamma_shape"] > 0 and gamma.info["gamma_scale"] > 0
    assert "shape=" in str(gamma) and "\n" not in repr(gamma)
    # results unpack like scipy's
    stat, p = gamma
    assert (stat, p) == (gamma.statistic, gamma.pvalue)
    assert gamma.statistic == pytest.approx(res.statistic, rel=1e-6)


def test_same_seed_same_result_and_different_seeds_differ(rng):
    x = rng.normal(size=50)
    y = rng.normal(size=50)
    a = hsic.test(x, y, method=hsic.Permutation(n_resamples=100), rng=11)
    b = hsic.test(x, y, method=hsic.Permutation(n_resamples=100), rng=11)
    c = hsic.test(x, y, method=hsic.Permutation(n_resamples=100), rng=12)
    np.testing.assert_array_equal(a.null_distribution, b.null_distribution)
    assert a.pvalue == b.pvalue
    assert not np.array_equal(a.null_distribution, c.null_distribution)
    # no global RNG state: reseeding NumPy's global generator changes nothing
    np.random.seed(0)
    d = hsic.test(x, y, method=hsic.Permutation(n_resamples=100), rng=11)
    np.testing.assert_array_equal(a.null_distribution, d.null_distribution)
    # a JAX key is accepted, and reproducible too
    k1 = hsic.test(x, y, method=hsic.Permutation(n_resamples=100), rng=jax.random.key(5))
    k2 = hsic.test(x, y, method=hsic.Permutation(n_resamples=100), rng=jax.random.key(5))
    np.testing.assert_array_equal(k1.null_distribution, k2.null_distribution)


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_result_does_not_depend_on_batch_size(rng, batch_size):
    x, y = _ring(rng, 40)
    base = hsic.test(x, y, method=hsic.Permutation(n_resamples=130, batch_size=250), rng=2)
    other = hsic.test(
        x, y, method=hsic.Permutation(n_resamples=130, batch_size=batch_size), rng=2
    )
    np.testing.assert_allclose(other.null_distribution, base.null_distribution, rtol=1e-6)
    assert other.pvalue == base.pvalue


def test_ties_count_as_extreme():
    # Two classes of three with Delta kernels: a permutation that maps the classes onto
    # themselves (probability 2/20) reproduces the observed statistic; each must be counted.
    x = np.array([0, 0, 0, 1, 1, 1])
    res = hsic.test(x, x, kernel_x="delta", kernel_y="delta",
                    method=hsic.Permutation(n_resamples=300), rng=0)
    ties = np.isclose(res.null_distribution, res.statistic, rtol=1e-5)
    assert 10 < ties.sum() < 60
    assert res.null_distribution.max() <= res.statistic * (1 + 1e-5)
    assert res.pvalue == (1 + ties.sum()) / 301


@pytest.mark.parametrize("method", ["permutation", "gamma"])
@pytest.mark.parametrize(
    "make_y",
    [
        lambda x, r: x**2 + 0.3 * r.normal(size=x.shape),
        None,  # the ring
    ],
    ids=["parabola", "ring"],
)
def test_power_on_dependence_without_correlation(rng, method, make_y):
    if make_y is None:
        x, y = _ring(rng, 200)
    else:
        x = rng.normal(size=200)
        y = make_y(x, rng)
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.3
    if method == "permutation":
        method = hsic.Permutation(n_resamples=200)
    assert hsic.test(x, y, method=method).pvalue < 0.01


# ---- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(y=np.zeros(9)), r"`x` and `y` must have the same number of samples.*10 and 9"),
        (dict(x=np.arange(4.0), y=np.arange(4.0)), r"at least 5 samples; got n=4"),
        (dict(method="gamma", x=np.arange(5.0), y=np.arange(5.0)), r"at least 6 samples"),
        (dict(x=[1.0, np.nan] + [0.0] * 8), r"`x` must be finite.*row 1, column 0"),
        (dict(y=[np.inf] + list(range(9))), r"`y` must be finite"),
        (dict(x=np.zeros((10, 2, 2))), r"`x` must be 1-D .* got 3-D"),
        (dict(x=np.float64(3.0)), r"`x` must be 1-D .* got 0-D"),
        (dict(x=[[1, 2], [3]] + [[0, 0]] * 8), r"`x` must be a rectangular array"),
        (dict(x=["a"] * 10), r"`x` must hold numbers"),
        (
            dict(method="chi2"),
            r"`method` of hsic.test must be one of 'permutation', 'gamma', .*; got 'chi2'",
        ),
        (dict(kernel_x="rbf"), r"`kernel_x` must be one of 'gaussian'"),
        (dict(kernel_y=3), r"`kernel_y` must be one of"),
        (dict(rng=-1), r"`rng` must be a non-negative integer"),
        (dict(rng="abc"), r"`rng` must be a non-negative integer \(below 2\*\*64\), a JAX key"),
        (dict(x=np.ones(10)), r"`x` is constant"),
        (dict(dtype="int8"), r"`dtype` must be float32 or float64"),
        (dict(kernel_x="precomputed"), r"`x` must be a square \(n, n\) Gram matrix"),
    ],
)
def test_bad_input_gets_a_clear_error(kwargs, match):
    args = dict(x=np.arange(10.0), y=np.arange(10.0) ** 2)
    args.update(kwargs)
    x, y = args.pop("x"), args.pop("y")
    with pytest.raises(ValueError, match=match):
        hsic.test(x, y, **args)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: hsic.Permutation(n_resamples=0),
         r"`n_resamples` must be a positive integer; got 0"),
        (lambda: hsic.Permutation(n_resamples=10.5), r"`n_resamples` must be a positive integer"),
    ],
)
def test_bad_method_options_get_a_clear_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "kernel, match",
    [
        (Gaussian, r"`bandwidth` of Gaussian must be 'median', 'sqrt_dim' or a positive number; "
         r"got 'mean'"),
    ],
)
def test_bad_kernel_parameters(kernel, match):
    with pytest.raises(ValueError, match=match):
        kernel(bandwidth="mean")
    with pytest.raises(ValueError, match="positive finite"):
        Gaussian(bandwidth=-1.0)
    with pytest.raises(ValueError, match="`factor`"):
        Gaussian(factor=0)
    with pytest.raises(ValueError, match="`degree`"):
        hsic.kernels.Polynomial(degree=0)


def test_estimator_errors():
    with pytest.raises(ValueError, match=r"unbiased HSIC estimator needs at least 4 samples"):
        hsic.hsic([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], estimator="unbiased")
    with pytest.raises(ValueError, match=r"`estimator` must be one of 'biased', 'unbiased'"):
        hsic.hsic([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], estimator="debiased")
    with pytest.raises(ValueError, match=r"`algorithm` must be one of 'auto', 'dense', 'tiled'"):
        hsic.hsic([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], algorithm="fast")


def test_problem_too_big_for_memory_says_what_to_do(monkeypatch, rng):
    monkeypatch.setattr(_validation, "available_memory_bytes", lambda: 10_000)
    x = rng.normal(size=100)
    with pytest.raises(ValueError, match=r"needs about .* GiB.*Use method='gamma'"):
        hsic.test(x, x**2)
    with pytest.raises(ValueError, match=r"algorithm='dense' .*Use algorithm='tiled'"):
        hsic.hsic(x, x**2, algorithm="dense")
    # the gamma test and the statistic stream over tiles: O(n) memory
    assert hsic.test(x, x**2, method="gamma").pvalue < 0.01
    assert float(hsic.hsic(x, x**2)) > 0


def test_median_fallback_warns_on_mostly_duplicated_data(rng):
    x = np.r_[np.zeros(40), rng.normal(size=10)]
    y = rng.normal(size=50)
    with pytest.warns(RuntimeWarning, match="median distance between samples of `x` is 0"):
        res = hsic.test(x, y, method=hsic.Permutation(n_resamples=50))
    assert res.bandwidth_x > 0 and np.isfinite(res.pvalue)
