"""hsic.joint_test and hsic.dhsic: dHSIC against a NumPy transcription, its nulls, d = 2
agreement with hsic.test, power, calibration, rng, method objects and errors."""

import dataclasses
import json

import jax
import numpy as np
import pytest
import reference as ref
import scipy.stats

import hsic
from hsic.kernels import Gaussian, Linear

ALPHA = 0.05


# --------------------------------------------------------------------------------------------
# Independent references (transcribed from Pfister et al. 2018 and their R package dHSIC)
# --------------------------------------------------------------------------------------------


def dhsic_reference(Ks):
    """dHSIC = 1/n² Σ_ab Π_j K_j[a,b] + 1/n^{2d} Π_j Σ_ab K_j[a,b]
    − 2/n^{d+1} Σ_a Π_j Σ_b K_j[a,b]."""
    n, d = len(Ks[0]), len(Ks)
    term1 = np.sum(np.prod(Ks, axis=0)) / n**2
    term2 = np.prod([np.sum(K) for K in Ks]) / n ** (2 * d)
    term3 = 2.0 / n ** (d + 1) * np.sum(np.prod([np.sum(K, axis=1) for K in Ks], axis=0))
    return term1 + term2 - term3


def dhsic_gamma_reference(Ks, statistic):
    """Transcription of the gamma branch of dhsic.test in the R package dHSIC (unit-diagonal
    kernels). Returns (p-value, mean, variance)."""
    n, d = len(Ks[0]), len(Ks)
    est_a = np.array([np.sum(K) / n**2 for K in Ks])
    est_b = np.array([np.sum(K**2) / n**2 for K in Ks])
    est_c = np.array([np.sum(np.sum(K, axis=1) ** 2) / n**3 for K in Ks])
    prod_a, prod_b, prod_c = np.prod(est_a), np.prod(est_b), np.prod(est_c)
    oneout_a, oneout_c = prod_a / est_a, prod_c / est_c
    est_d, prod_d, oneout_d = est_a**2, prod_a**2, oneout_a**2
    exp_est = (1 - np.sum(oneout_a) + (d - 1) * prod_a) / n
    term1 = prod_b
    term2 = (d - 1) ** 2 * prod_d
    term3 = 2 * (d - 1) * prod_c
    term4 = term5 = term6 = term7 = 0.0
    for r in range(d - 1):
        term4 += est_b[r] * oneout_d[r]
        term5 += est_b[r] * oneout_c[r]
        term6 += est_c[r] * oneout_d[r]
        for s in range(r + 1, d):
            term7 += 2 * est_c[r] * est_c[s] * oneout_d[r] / est_d[s]
    term4 += est_b[d - 1] * oneout_d[d - 1]
    term5 = -2 * (term5 + est_b[d - 1] * oneout_c[d - 1])
    term6 = -2 * (d - 1) * (term6 + est_c[d - 1] * oneout_d[d - 1])
    factor1 = n - 2 * d
    factor2 = n * (n - 1) * (n - 2)
    for j in range(1, 2 * d - 2):
        factor1 *= n - 2 * d - j
        factor2 *= n - 2 - j
    var_est = 2 * factor1 / factor2 * (term1 + term2 + term3 + term4 + term5 + term6 + term7)
    a = exp_est**2 / var_est
    b = n * var_est / exp_est
    return scipy.stats.gamma.sf(n * statistic, a, scale=b), exp_est, var_est


def _grams(xs):
    return [ref.gaussian_gram(x, ref.median_bandwidth(x)) for x in xs]


def _three(rng, n, dependent=True):
    x = rng.normal(size=(n, 2))
    y = rng.normal(size=n)
    z = (np.sin(2 * x[:, 0]) * y if dependent else rng.normal(size=n)) + 0.3 * rng.normal(size=n)
    return [x, y, z]


def _rademacher_xor(rng, n):
    x, y = rng.choice([-1.0, 1.0], size=(2, n))
    return x, y, x * y


# --------------------------------------------------------------------------------------------
# The statistic
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3, 4])
def test_statistic_matches_numpy_transcription(rng, d):
    xs = [rng.normal(size=(40, 1 + j % 2)) for j in range(d)]
    xs[-1] = xs[-1] + xs[0][:, :1] ** 2
    expected = dhsic_reference(_grams(xs))
    assert hsic.dhsic(xs, dtype="float64") == pytest.approx(expected, rel=1e-10)
    assert hsic.dhsic(xs) == pytest.approx(expected, rel=1e-4)


def test_statistic_with_other_kernels(rng):
    xs = [rng.normal(size=30), rng.normal(size=30), rng.integers(0, 3, size=30)]
    kernels = [Gaussian(bandwidth=0.7), Linear(), "delta"]
    Ks = [
        ref.gaussian_gram(xs[0], 0.7),
        np.outer(xs[1], xs[1]),
        (xs[2][:, None] == xs[2][None, :]).astype(float),
    ]
    got = hsic.dhsic(xs, kernels=kernels, dtype="float64")
    assert got == pytest.approx(dhsic_reference(Ks), rel=1e-10)


def test_float32_statistic_is_accurate_at_moderate_n(rng):
    xs = [rng.normal(size=1000) for _ in range(3)]  # independent: dHSIC ~ 1/n, small
    exact = hsic.dhsic(xs, dtype="float64")
    assert hsic.dhsic(xs) == pytest.approx(exact, rel=2e-3)


# --------------------------------------------------------------------------------------------
# Nulls against the documented resampling source
# --------------------------------------------------------------------------------------------


def test_permutation_null_matches_numpy_on_the_same_permutations(rng):
    n, B, seed = 40, 40, 11
    xs = _three(rng, n)
    Ks = _grams(xs)
    res = hsic.joint_test(xs, method=hsic.Permutation(n_resamples=B), rng=seed, dtype="float64")
    # Documented: PCG64 seeded by `rng`; per replicate, one permutation for each of
    # variables 2..d in turn; the first variable stays in place.
    source = np.random.default_rng(seed)
    null = []
    for _ in range(B):
        perms = [source.permutation(n) for _ in range(len(Ks) - 1)]
        null.append(
            dhsic_reference([Ks[0]] + [K[np.ix_(p, p)] for K, p in zip(Ks[1:], perms, strict=True)])
        )
    np.testing.assert_allclose(res.null_distribution, null, rtol=1e-9)
    observed = dhsic_reference(Ks)
    assert res.statistic == pytest.approx(observed, rel=1e-10)
    assert res.pvalue == (1 + np.sum(np.array(null) >= observed * (1 - 1e-9))) / (1 + B)


def test_bootstrap_null_matches_numpy_on_the_same_draws(rng):
    n, B, seed = 40, 40, 5
    xs = _three(rng, n, dependent=False)
    Ks = _grams(xs)
    res = hsic.joint_test(xs, method=hsic.Bootstrap(n_resamples=B), rng=seed, dtype="float64")
    source = np.random.default_rng(seed)  # per replicate, each variable drawn with replacement
    null = []
    for _ in range(B):
        idx = [source.integers(0, n, size=n) for _ in Ks]
        null.append(dhsic_reference([K[np.ix_(i, i)] for K, i in zip(Ks, idx, strict=True)]))
    np.testing.assert_allclose(res.null_distribution, null, rtol=1e-9)
    assert res.method == "bootstrap" and res.info["n_resamples"] == B


@pytest.mark.parametrize("d", [2, 3, 4])
def test_gamma_matches_r_package_transcription(rng, d):
    n = 60
    for dependent in (False, True):
        xs = [rng.normal(size=n) for _ in range(d)]
        if dependent:
            xs[-1] = xs[-1] + np.abs(xs[0])
        Ks = _grams(xs)
        statistic = dhsic_reference(Ks)
        p, mean, var = dhsic_gamma_reference(Ks, statistic)
        res = hsic.joint_test(xs, method="gamma", dtype="float64")
        assert res.pvalue == pytest.approx(p, rel=1e-8, abs=1e-14)
        assert res.info["null_mean"] == pytest.approx(mean, rel=1e-10)
        assert res.info["null_variance"] == pytest.approx(var, rel=1e-10)
        # the gamma law of the statistic itself: scale, not location
        law = scipy.stats.gamma(res.info["gamma_shape"], scale=res.info["gamma_scale"])
        assert law.sf(res.statistic) == pytest.approx(p, rel=1e-8, abs=1e-14)
        assert law.mean() == pytest.approx(mean, rel=1e-10)
        assert res.null_distribution is None and "n_resamples" not in res.info


def test_gamma_mean_with_a_non_unit_diagonal_kernel(rng):
    # The mean generalises the paper's (unit diagonal) to (e1 − a1)(e2 − a2)/n for d = 2,
    # which is Gretton's HSIC mean: it agrees with hsic.test's gamma mean.
    n = 40
    x, y = rng.normal(size=(2, n))
    K, L = np.outer(x, x), ref.gaussian_gram(y, ref.median_bandwidth(y))
    res = hsic.joint_test([x, y], method="gamma", kernels=["linear", "gaussian"], dtype="float64")
    a1, a2 = K.mean(), L.mean()
    e1, e2 = np.diag(K).mean(), np.diag(L).mean()
    assert res.info["null_mean"] == pytest.approx((e1 - a1) * (e2 - a2) / n, rel=1e-10)


# --------------------------------------------------------------------------------------------
# d = 2: agreement with hsic.test
# --------------------------------------------------------------------------------------------


def test_two_variables_agree_with_hsic_test(rng):
    x = rng.normal(size=(80, 2))
    y = x[:, 0] * rng.normal(size=80)
    method = hsic.Permutation(n_resamples=300)
    joint = hsic.joint_test([x, y], method=method, rng=4, dtype="float64")
    pair = hsic.test(x, y, method=method, rng=4, dtype="float64")
    assert joint.statistic == pytest.approx(pair.statistic, rel=1e-10)
    # the same rng draws the same permutations (applied to the second variable)
    np.testing.assert_allclose(joint.null_distribution, pair.null_distribution, rtol=1e-8)
    assert joint.pvalue == pair.pvalue
    joint32 = hsic.joint_test([x, y], method=method, rng=4)
    pair32 = hsic.test(x, y, method=method, rng=4)
    assert joint32.statistic == pytest.approx(pair32.statistic, rel=1e-4)
    assert joint32.pvalue == pytest.approx(pair32.pvalue, abs=3 / 301)


def test_two_variable_gamma_is_close_to_gretton_gamma(rng):
    # Both match a gamma law to estimated null moments, but with different estimators (dHSIC:
    # products of kernel means over all entries; Gretton: off-diagonal means, and a variance
    # from Σ (K̄∘L̄)²). They agree closely at moderate n, not exactly.
    n = 300
    for y_dep in (0.0, 0.15):
        x = rng.normal(size=n)
        y = rng.normal(size=n) + y_dep * x**2
        joint = hsic.joint_test([x, y], method="gamma", dtype="float64")
        pair = hsic.test(x, y, method="gamma", dtype="float64")
        assert joint.statistic == pytest.approx(pair.statistic, rel=1e-10)
        assert joint.info["gamma_shape"] * joint.info["gamma_scale"] == pytest.approx(
            pair.info["gamma_shape"] * pair.info["gamma_scale"], rel=0.02
        )
        assert joint.pvalue == pytest.approx(pair.pvalue, abs=0.03, rel=0.2)


# --------------------------------------------------------------------------------------------
# Power and calibration
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method",
    [hsic.Permutation(n_resamples=200), hsic.Bootstrap(n_resamples=200), hsic.Gamma()],
    ids=repr,
)
def test_detects_pairwise_independent_but_jointly_dependent(method):
    x, y, z = _rademacher_xor(np.random.default_rng(0), 200)
    # ±1 data: a delta kernel (the median distance is 0, so no median heuristic)
    res = hsic.joint_test([x, y, z], method=method, kernels="delta", rng=1)
    assert res.pvalue < 0.01
    for a, b in ((x, y), (x, z), (y, z)):
        pair = hsic.test(
            a, b, kernel_x="delta", kernel_y="delta", method=hsic.Permutation(200), rng=1
        )
        assert pair.pvalue > ALPHA


def _rejections(method, replications, n, d, seed):
    rng = np.random.default_rng(seed)
    rejected = 0
    for r in range(replications):
        xs = [rng.normal(size=(n, 2)), rng.standard_t(df=3, size=n), rng.uniform(size=n)][:d]
        res = hsic.joint_test(xs, method=method, rng=r)
        rejected += res.pvalue <= ALPHA
    return rejected


@pytest.mark.parametrize("method", [hsic.Permutation(n_resamples=39), hsic.Gamma()], ids=repr)
def test_level_fast(method):
    replications = 150
    ref.assert_calibrated(_rejections(method, replications, 40, 3, seed=1), replications)


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, n",
    [
        (hsic.Permutation(n_resamples=199), 50),
        (hsic.Bootstrap(n_resamples=199), 100),
        (hsic.Gamma(), 100),
        (hsic.Gamma(), 300),
    ],
    ids=repr,
)
def test_level_slow(method, n):
    replications = 1000
    ref.assert_calibrated(_rejections(method, replications, n, 3, seed=2), replications)


# --------------------------------------------------------------------------------------------
# rng, batching, method objects, result object
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [hsic.Permutation, hsic.Bootstrap])
def test_rng_controls_the_null(rng, cls):
    xs = _three(rng, 40, dependent=False)
    method = cls(n_resamples=50)
    a = hsic.joint_test(xs, method=method, rng=3)
    b = hsic.joint_test(xs, method=method, rng=3)
    c = hsic.joint_test(xs, method=method, rng=4)
    np.testing.assert_array_equal(a.null_distribution, b.null_distribution)
    assert not np.array_equal(a.null_distribution, c.null_distribution)
    key = hsic.joint_test(xs, method=method, rng=jax.random.key(3))
    again = hsic.joint_test(xs, method=method, rng=jax.random.key(3))
    np.testing.assert_array_equal(key.null_distribution, again.null_distribution)


@pytest.mark.parametrize("cls", [hsic.Permutation, hsic.Bootstrap])
def test_batch_size_does_not_change_the_result(rng, cls):
    xs = _three(rng, 40)
    whole = hsic.joint_test(xs, method=cls(n_resamples=37, batch_size=37), rng=0)
    default = hsic.joint_test(xs, method=cls(n_resamples=37), rng=0)  # batch_size=None: 250
    np.testing.assert_array_equal(default.null_distribution, whole.null_distribution)
    for batch_size in (1, 5, 16):
        res = hsic.joint_test(xs, method=cls(n_resamples=37, batch_size=batch_size), rng=0)
        np.testing.assert_allclose(res.null_distribution, whole.null_distribution, rtol=1e-6)


def test_method_names_are_the_default_method_objects(rng):
    xs = _three(rng, 30)
    for name, method in (("permutation", hsic.Permutation()), ("bootstrap", hsic.Bootstrap()),
                         ("gamma", hsic.Gamma())):
        by_name = hsic.joint_test(xs, method=name, rng=2)
        by_object = hsic.joint_test(xs, method=method, rng=2)
        assert by_name.pvalue == by_object.pvalue and by_name.method == name
    assert hsic.joint_test(xs, rng=2).info["n_resamples"] == 1000


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: hsic.Permutation(n_resamples=0), r"`n_resamples` must be a positive integer"),
        (lambda: hsic.Permutation(n_resamples=2.5), r"`n_resamples` must be a positive"),
        (lambda: hsic.Permutation(batch_size=-1), r"`batch_size` must be a positive integer"),
        (lambda: hsic.Bootstrap(n_resamples=True), r"`n_resamples` must be a positive integer"),
        (lambda: hsic.Bootstrap(batch_size=0), r"`batch_size` must be a positive integer"),
    ],
)
def test_method_objects_reject_bad_values_when_built(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_options_a_method_does_not_take_cannot_be_passed():
    with pytest.raises(TypeError):
        hsic.Gamma(n_resamples=100)
    with pytest.raises(TypeError):
        hsic.Permutation(null="gamma")


@pytest.mark.parametrize("method", [hsic.KCI(), hsic.RFF(), hsic.WildBootstrap(), "kci"], ids=repr)
def test_a_method_of_another_test_is_refused(rng, method):
    xs = _three(rng, 30)
    with pytest.raises(ValueError, match=r"`method` of hsic.joint_test must be one of "
                       r"'permutation', 'bootstrap', 'gamma', or one of hsic.Permutation"):
        hsic.joint_test(xs, method=method)


def test_result_object(rng):
    xs = _three(rng, 40)
    res = hsic.joint_test(xs, method=hsic.Permutation(n_resamples=20), rng=0)
    assert isinstance(res, hsic.JointTestResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.pvalue = 0.5
    assert res.d == 3 and res.n == 40 and res.null_distribution.shape == (20,)
    assert res.bandwidths == pytest.approx([ref.median_bandwidth(x) for x in xs], rel=1e-5)
    summary = res.to_dict()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["info"] == {"d": 3, "n_resamples": 20, "rng": 0} and len(summary["kernels"]) == 3
    stat, p = res
    assert (stat, p) == (res.statistic, res.pvalue)
    text = str(res)
    assert "JointTestResult(method='permutation', d=3, n_resamples=20, rng=0)" in text
    assert "kernel[2]" in text and "dHSIC" in text
    gamma = hsic.joint_test(xs, method="gamma")
    assert "gamma_shape=" in str(gamma) and json.dumps(gamma.to_dict())


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def test_bad_inputs(rng):
    x, y = rng.normal(size=(2, 30))
    with pytest.raises(ValueError, match=r"`xs` must hold at least 2 variables.*got 1"):
        hsic.joint_test([x])
    with pytest.raises(ValueError, match=r"`xs` must be a list.*array of shape \(30, 2\).*list"):
        hsic.joint_test(np.stack([x, y], axis=1))
    with pytest.raises(ValueError, match=r"`xs` must be a list"):
        hsic.joint_test("xy")
    with pytest.raises(ValueError, match=r"`xs\[0\]` has 30 and `xs\[2\]` has 29"):
        hsic.joint_test([x, y, y[:29]])
    with pytest.raises(ValueError, match=r"`method` of hsic.joint_test must be one of.*'exact'"):
        hsic.joint_test([x, y], method="exact")
    with pytest.raises(ValueError, match=r"`rng` must be a non-negative integer"):
        hsic.joint_test([x, y], rng=-2)
    with pytest.raises(TypeError, match=r"n_permutations"):
        hsic.joint_test([x, y], n_permutations=100)  # an option of the method object now
    with pytest.raises(ValueError, match=r"`kernels` must be one kernel or a list of d = 3"):
        hsic.joint_test([x, y, y], kernels=["gaussian", "linear"])
    with pytest.raises(ValueError, match=r"`kernels\[1\]` must be one of"):
        hsic.joint_test([x, y], kernels=["gaussian", "rbf"])
    with pytest.raises(ValueError, match=r"`xs\[1\]` is constant"):
        hsic.joint_test([x, np.ones(30)])
    with pytest.raises(ValueError, match=r"`xs\[1\]` must be finite"):
        hsic.joint_test([x, np.r_[y[:-1], np.nan]])
    with pytest.raises(ValueError, match=r"needs at least 10 samples; got n=9"):
        hsic.joint_test([x[:9], y[:9], x[:9] ** 2], method="gamma")
    with pytest.raises(ValueError, match=r"needs at least 5 samples; got n=4"):
        hsic.joint_test([x[:4], y[:4]])
    with pytest.raises(ValueError, match=r"`dtype` must be float32 or float64"):
        hsic.joint_test([x, y], dtype="int8")


# --------------------------------------------------------------------------------------------
# Peer: hyppo's Dhsic
# --------------------------------------------------------------------------------------------


def test_statistic_against_hyppo_dhsic(rng):
    d_variate = pytest.importorskip("hyppo.d_variate")
    n = 40
    xs = [a.reshape(n, -1) for a in _three(rng, n)]
    # Same V-statistic. hyppo's conventions differ: its default Gaussian kernel takes the
    # median distance of the FIRST variable as every variable's bandwidth (ours: each its own).
    Ks = _grams(xs)
    peer = d_variate.dHsic(compute_kernel=None).statistic(*Ks)  # precomputed Gram matrices
    assert hsic.dhsic(Ks, kernels="precomputed", dtype="float64") == pytest.approx(peer, rel=1e-8)
    assert peer == pytest.approx(dhsic_reference(Ks), rel=1e-10)
    shared = Gaussian(bandwidth=float(ref.median_bandwidth(xs[0])))
    ours = hsic.dhsic(xs, kernels=shared, dtype="float64")
    assert ours == pytest.approx(d_variate.dHsic().statistic(*xs), rel=1e-8)
