"""hsic.conditional_test (KCI, RCIT): statistics and nulls against NumPy transcriptions,
causal structures (chain, collider, direct edge), calibration, peers, rng, method objects and
errors."""

import dataclasses
import json

import jax
import numpy as np
import pytest
import reference as ref
import scipy.stats

import hsic
from hsic._stats.features import rff_features

ALPHA = 0.05


# --------------------------------------------------------------------------------------------
# Independent references
# --------------------------------------------------------------------------------------------


def _zscore(a):
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    return (a - a.mean(0)) / a.std(0, ddof=1)


def _gauss(a, sigma):
    sq = ((a[:, None, :] - a[None, :, :]) ** 2).sum(-1)
    return np.exp(-sq / (2 * sigma**2))


def _width(n, dim_z):
    # the empirical rule of the authors' code and causal-learn: every width scales with √dim(z)
    return (1.2 if n < 200 else 0.7 if n < 1200 else 0.4) * np.sqrt(dim_z)


def kci_reference(x, y, z, eps=1e-3, thresh=1e-12):
    """Zhang et al. (2011), written from the paper: centred Gram matrices (H K H), ẍ = (x, z/2)
    (causal-learn's weighting), R = ε(K̃_z + εI)⁻¹, T = tr(R K̃ẍ R · R K̃y R)/n. The null
    weights from the paper's construction: eigen-factorise K̃ẍ|z = ΨΨᵀ and K̃y|z = ΦΦᵀ,
    w_t = vec(ψ(t) φ(t)ᵀ), weights = eig(wᵀw)/n. Returns (T, weights)."""
    x, y, z = _zscore(x), _zscore(y), _zscore(z)
    n = len(x)
    xx = np.hstack([x, 0.5 * z])
    H = np.eye(n) - np.ones((n, n)) / n
    sigma = _width(n, z.shape[1])
    Kx = H @ _gauss(xx, sigma) @ H
    Ky = H @ _gauss(y, sigma) @ H
    Kz = H @ _gauss(z, sigma) @ H
    R = eps * np.linalg.inv(Kz + eps * np.eye(n))
    KxR, KyR = R @ Kx @ R, R @ Ky @ R
    T = np.trace(KxR @ KyR) / n

    def factor(K):
        lam, V = np.linalg.eigh((K + K.T) / 2)
        keep = lam > lam.max() * thresh
        return V[:, keep] * np.sqrt(lam[keep])

    psi, phi = factor(KxR), factor(KyR)
    w = (psi[:, :, None] * phi[:, None, :]).reshape(n, -1)
    weights = np.linalg.eigvalsh(w.T @ w) / n
    return T, weights[weights > weights.max() * thresh]


def _chain(rng, n):
    """x → z → y, nonlinear: x ⟂ y | z."""
    x = rng.normal(size=n)
    z = np.tanh(x) + 0.3 * rng.normal(size=n)
    y = np.sin(2 * z) + 0.3 * rng.normal(size=n)
    return x, y, z


def _collider(rng, n):
    """x → z ← y: x ⟂ y, but not given z."""
    x, y = rng.normal(size=(2, n))
    z = x + y + 0.3 * rng.normal(size=n)
    return x, y, z


def _direct(rng, n):
    """z → x, z → y and x → y."""
    z = rng.normal(size=n)
    x = np.cos(z) + 0.5 * rng.normal(size=n)
    y = z**2 + x + 0.5 * rng.normal(size=n)
    return x, y, z


# --------------------------------------------------------------------------------------------
# KCI
# --------------------------------------------------------------------------------------------


def test_kci_statistic_and_null_match_the_paper(rng):
    for make in (_chain, _direct):
        x, y, z = make(rng, 80)
        T, weights = kci_reference(x, y, z)
        for null in ("gamma", "hbe", "simulated"):
            res = hsic.conditional_test(x, y, z, method=hsic.KCI(null=null, n_resamples=2000))
            assert res.statistic == pytest.approx(T, rel=1e-8)
            assert res.info["null_mean"] == pytest.approx(weights.sum(), rel=1e-6)
            assert res.info["null_variance"] == pytest.approx(2 * (weights**2).sum(), rel=1e-6)
        gamma = hsic.conditional_test(x, y, z, method=hsic.KCI(null="gamma"))
        shape = weights.sum() ** 2 / (2 * (weights**2).sum())
        scale = 2 * (weights**2).sum() / weights.sum()
        assert gamma.info["gamma_shape"] == pytest.approx(shape, rel=1e-6)
        assert gamma.info["gamma_scale"] == pytest.approx(scale, rel=1e-6)
        expected = scipy.stats.gamma.sf(T, shape, loc=0, scale=scale)  # scale, not location
        assert gamma.pvalue == pytest.approx(expected, rel=1e-5, abs=1e-12)
        # Hall–Buckley–Eagleson from the three cumulants of Σ λ ζ²
        k1, k2, k3 = weights.sum(), 2 * (weights**2).sum(), 8 * (weights**3).sum()
        nu = 8 * k2**3 / k3**2
        hbe = scipy.stats.chi2.sf(nu + (T - k1) * np.sqrt(2 * nu / k2), nu)
        res = hsic.conditional_test(x, y, z, method=hsic.KCI(null="hbe"))
        assert res.pvalue == pytest.approx(hbe, rel=1e-5, abs=1e-12)
        assert res.info["hbe_dof"] == pytest.approx(nu, rel=1e-6)


def test_kci_simulated_null_draws_the_weighted_chi_square(rng):
    x, y, z = _chain(rng, 60)
    T, weights = kci_reference(x, y, z)
    method = hsic.KCI(null="simulated", n_resamples=4000)
    res = hsic.conditional_test(x, y, z, method=method, rng=3)
    draws = res.null_distribution
    assert draws.shape == (4000,) and res.info["n_resamples"] == 4000
    # mean Σλ and variance 2Σλ² within Monte Carlo error
    assert draws.mean() == pytest.approx(weights.sum(), rel=0.05)
    assert draws.var() == pytest.approx(2 * (weights**2).sum(), rel=0.15)
    assert res.pvalue == (1 + np.sum(draws >= T * (1 - 1e-9))) / (1 + 4000)
    gamma = hsic.conditional_test(x, y, z, method=hsic.KCI(null="gamma"))
    assert res.pvalue == pytest.approx(gamma.pvalue, abs=0.05)


@pytest.mark.parametrize("method", ["kci", "rcit", "rcot"])
def test_causal_structures(method):
    rng = np.random.default_rng(7)
    n = 400
    assert hsic.conditional_test(*_chain(rng, n), method=method, rng=0).pvalue > ALPHA
    assert hsic.conditional_test(*_collider(rng, n), method=method, rng=0).pvalue < 1e-3
    assert hsic.conditional_test(*_direct(rng, n), method=method, rng=0).pvalue < 1e-3
    # without conditioning, the chain's ends are dependent and the collider's are not
    x, y, _ = _chain(rng, n)
    assert hsic.test(x, y, method=hsic.Permutation(n_resamples=200), rng=0).pvalue < 0.01


def _ci_rejections(method, replications, n, seed):
    rng = np.random.default_rng(seed)
    rejected = 0
    for r in range(replications):
        z = rng.normal(size=n)  # z acts nonlinearly on both x and y
        x = np.sin(2 * z) + 0.5 * rng.normal(size=n)
        y = z**2 + 0.5 * rng.standard_t(df=5, size=n)
        res = hsic.conditional_test(x, y, z, method=method, rng=r)
        rejected += res.pvalue <= ALPHA
    return rejected


@pytest.mark.parametrize("method", ["kci", "rcit"])
def test_level_fast(method):
    replications = 100
    ref.assert_calibrated(_ci_rejections(method, replications, 150, seed=1), replications)


def test_random_feature_tests_stay_calibrated_at_large_n():
    # With a fixed 100 features of z (the authors' default), the regression's bias grows into
    # false rejections as n grows: RCoT rejected 27 % of 200 such data sets at n = 10^4. The
    # default D_z = 4 sqrt(n) (400 here) keeps the level.
    replications = 60
    rejected = _ci_rejections("rcot", replications, 10_000, seed=3)
    ref.assert_calibrated(rejected, replications)


def test_z_features_grow_with_n():
    assert [hsic.RCoT().z_features(n) for n in (10, 625, 626, 10_000, 10**5, 10**7)] == [
        100, 100, 102, 400, 1266, 2000
    ]
    assert hsic.RCIT(n_features=50).z_features(10**6) == 50
    res = hsic.conditional_test(*_chain(np.random.default_rng(0), 2500), method="rcot", rng=0)
    assert res.info["n_features"] == 200


def test_beyond_the_feature_cap_warns():
    # the warning comes before any work: here a wrong kernel stops the test right after it
    x = np.random.default_rng(0).normal(size=(250_001, 3))
    with pytest.warns(UserWarning, match="uses 2000 random features of z.*type-I error"):
        with pytest.raises(ValueError, match="`kernel_z` must be a Gaussian kernel"):
            hsic.conditional_test(x[:, 0], x[:, 1], x[:, 2], method="rcit", kernel_z="laplace")


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, n",
    [
        ("rcot", 30_000),
        ("kci", 200),
        (hsic.KCI(null="simulated", n_resamples=1000), 200),
        ("rcit", 500),
        (hsic.RCIT(null="gamma"), 500),
        ("rcot", 500),
    ],
    ids=repr,
)
def test_level_slow(method, n):
    replications = 500
    ref.assert_calibrated(_ci_rejections(method, replications, n, seed=2), replications)


# --------------------------------------------------------------------------------------------
# RCIT
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("blas_gram", [False, True], ids=["compiled", "blas-gram"])
@pytest.mark.parametrize("method", ["rcit", "rcot"])
def test_rcit_statistic_and_weights_from_its_features(rng, method, blas_gram, monkeypatch):
    from hsic._api import conditional

    if blas_gram:  # C_zz from NumPy between two compiled calls, as for D_z >= 512
        monkeypatch.setattr(conditional, "BLAS_GRAM_FEATURES", 2)
    n, seed = 300, 4
    x, y, z = _direct(rng, n)
    res = hsic.conditional_test(x, y, z, method=method, rng=seed)
    # The documented feature source: np.random.default_rng(rng).spawn(4) gives the streams of
    # x, y, z (and the simulated null); median-heuristic Gaussian kernels on standardised data;
    # RCIT's y-features are of (y, z), RCoT's of y.
    streams = np.random.default_rng(seed).spawn(4)
    yy = np.column_stack([_zscore(y), _zscore(z)]) if method == "rcit" else y
    feats = []
    for a, count, stream in ((x, 6, streams[0]), (yy, 6, streams[1]), (z, 100, streams[2])):
        phi = np.asarray(rff_features(_zscore(a), n_features=count, rng=stream, dtype="float64"))
        feats.append(_zscore(phi))
    fx, fy, fz = feats
    # residuals of the ridge regression on the z-features, β = (C_zz + εI)⁻¹ C_zf, ε = 1e-10,
    # and the partial cross-covariance as the covariance of x's residuals with y's features
    czz = np.cov(fz, rowvar=False)
    beta_x = np.linalg.solve(czz + 1e-10 * np.eye(100), fz.T @ fx / (n - 1))
    beta_y = np.linalg.solve(czz + 1e-10 * np.eye(100), fz.T @ fy / (n - 1))
    rx, ry = fx - fz @ beta_x, fy - fz @ beta_y
    c = rx.T @ fy / (n - 1)
    assert res.statistic == pytest.approx(n * np.sum(c**2), rel=1e-5)
    prods = np.stack([rx[:, i] * ry[:, j] for i in range(6) for j in range(6)], axis=1)
    lam = np.linalg.eigvalsh(prods.T @ prods / n)
    assert res.info["null_mean"] == pytest.approx(lam.sum(), rel=1e-5)
    assert res.info["null_variance"] == pytest.approx(2 * (lam**2).sum(), rel=1e-5)
    assert res.info["n_features"] == 100 and res.info["n_features_xy"] == 6


def test_rcit_rng(rng):
    x, y, z = _chain(rng, 200)
    a = hsic.conditional_test(x, y, z, method="rcit", rng=1)
    b = hsic.conditional_test(x, y, z, method="rcit", rng=1)
    c = hsic.conditional_test(x, y, z, method="rcit", rng=2)
    assert a.statistic == b.statistic and a.pvalue == b.pvalue
    assert a.statistic != c.statistic
    k1 = hsic.conditional_test(x, y, z, method="rcit", rng=jax.random.key(5))
    k2 = hsic.conditional_test(x, y, z, method="rcit", rng=jax.random.key(5))
    assert k1.statistic == k2.statistic


def test_simulated_null_rng(rng):
    x, y, z = _chain(rng, 60)
    method = hsic.KCI(null="simulated", n_resamples=200)
    a = hsic.conditional_test(x, y, z, method=method, rng=1)
    b = hsic.conditional_test(x, y, z, method=method, rng=1)
    c = hsic.conditional_test(x, y, z, method=method, rng=2)
    np.testing.assert_array_equal(a.null_distribution, b.null_distribution)
    assert not np.array_equal(a.null_distribution, c.null_distribution)


# --------------------------------------------------------------------------------------------
# Result object, method objects and options
# --------------------------------------------------------------------------------------------


def test_result_object(rng):
    x, y, z = _chain(rng, 100)
    res = hsic.conditional_test(x, y, z)
    assert isinstance(res, hsic.ConditionalTestResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.pvalue = 0.5
    assert res.method == "kci" and res.info["null"] == "gamma" and res.n == 100
    assert res.bandwidth_x == res.bandwidth_y == res.bandwidth_z == pytest.approx(1.2)
    wide = hsic.conditional_test(x, y, np.column_stack([z, z**2]))  # 1.2·√dim(z)
    assert wide.bandwidth_x == pytest.approx(1.2 * np.sqrt(2))
    assert res.info["epsilon"] == 1e-3
    summary = res.to_dict()
    assert json.loads(json.dumps(summary)) == summary
    assert "ConditionalTestResult(method='kci', null='gamma', gamma_shape=" in str(res)
    stat, p = res
    assert (stat, p) == (res.statistic, res.pvalue)
    rcit = hsic.conditional_test(x, y, z, method="rcit")
    assert rcit.info["null"] == "hbe" and "hbe_dof=" in str(rcit)
    assert json.dumps(rcit.to_dict())
    sim = hsic.conditional_test(x, y, z, method=hsic.KCI(null="simulated", n_resamples=50))
    assert "null='simulated', n_resamples=50" in str(sim)


def test_kernel_and_epsilon_options(rng):
    x, y, z = _direct(rng, 120)
    res = hsic.conditional_test(x, y, z, kernel_x="gaussian", kernel_z=hsic.kernels.Laplace(1.0))
    assert res.kernel_z == hsic.kernels.Laplace(bandwidth=1.0)
    assert res.bandwidth_x == pytest.approx(
        hsic.kernels.median_distance(np.column_stack([_zscore(x), 0.5 * _zscore(z)]))
    )
    small = hsic.conditional_test(*_chain(rng, 120), method=hsic.KCI(epsilon=1e-4))
    assert small.info["epsilon"] == 1e-4


def test_method_names_are_the_default_method_objects(rng):
    x, y, z = _direct(rng, 60)
    for name, cls in (("kci", hsic.KCI), ("rcit", hsic.RCIT), ("rcot", hsic.RCoT)):
        by_name = hsic.conditional_test(x, y, z, method=name, rng=1)
        by_object = hsic.conditional_test(x, y, z, method=cls(), rng=1)
        assert by_name.pvalue == by_object.pvalue and by_name.method == name
    assert hsic.KCI() == hsic.KCI(null="gamma", epsilon=1e-3, n_resamples=5000)
    defaults = dict(null="hbe", epsilon=1e-10, n_features=None, n_features_xy=6, n_resamples=5000)
    assert hsic.RCIT() == hsic.RCIT(**defaults) and hsic.RCoT() == hsic.RCoT(**defaults)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: hsic.KCI(null="permutation"), r"`null` must be one of 'gamma', 'hbe', "),
        (lambda: hsic.KCI(epsilon=0), r"`epsilon` must be a positive finite number; got 0"),
        (lambda: hsic.KCI(epsilon=float("nan")), r"`epsilon` must be a positive finite"),
        (lambda: hsic.KCI(n_resamples=0), r"`n_resamples` must be a positive integer; got 0"),
        (lambda: hsic.RCIT(null="spectral"), r"`null` must be one of"),
        (lambda: hsic.RCIT(epsilon=True), r"`epsilon` must be a positive finite number"),
        (lambda: hsic.RCIT(n_features=7), r"`n_features` must be a positive even.*got 7"),
        (lambda: hsic.RCIT(n_features_xy=0), r"`n_features_xy` must be a positive even.*got 0"),
        (lambda: hsic.RCoT(n_features_xy=3), r"`n_features_xy` must be a positive even.*got 3"),
        (lambda: hsic.RCoT(n_resamples=-5), r"`n_resamples` must be a positive integer"),
    ],
)
def test_method_objects_reject_bad_values_when_built(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_options_a_method_does_not_take_cannot_be_passed():
    with pytest.raises(TypeError):
        hsic.KCI(n_features=50)  # KCI has no features
    with pytest.raises(TypeError):
        hsic.RCoT(kernel_z="gaussian")


@pytest.mark.parametrize("method", [hsic.Permutation(), hsic.Gamma(), "permutation"], ids=repr)
def test_a_method_of_another_test_is_refused(rng, method):
    x, y, z = rng.normal(size=(3, 40))
    with pytest.raises(ValueError, match=r"`method` of hsic.conditional_test must be one of "
                       r"'kci', 'rcit', 'rcot', or one of hsic.KCI\(...\), hsic.RCIT"):
        hsic.conditional_test(x, y, z, method=method)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def test_bad_inputs(rng):
    x, y, z = rng.normal(size=(3, 40))
    with pytest.raises(ValueError, match=r"`method` of hsic.conditional_test must be one of "
                       r"'kci', 'rcit', 'rcot'.*got 'kcit'"):
        hsic.conditional_test(x, y, z, method="kcit")
    with pytest.raises(TypeError, match=r"null"):
        hsic.conditional_test(x, y, z, null="hbe")  # an option of the method object now
    with pytest.raises(ValueError, match=r"`x` has 40 and `z` has 39"):
        hsic.conditional_test(x, y, z[:39])
    with pytest.raises(ValueError, match=r"at least 10 samples; got n=9"):
        hsic.conditional_test(x[:9], y[:9], z[:9])
    with pytest.raises(ValueError, match=r"`z` is constant"):
        hsic.conditional_test(x, y, np.zeros(40))
    with pytest.raises(ValueError, match=r"`y` must be finite"):
        hsic.conditional_test(x, np.r_[y[:-1], np.inf], z)
    with pytest.raises(ValueError, match=r"`kernel_z` must be a Gaussian kernel for methods"):
        hsic.conditional_test(x, y, z, method="rcit", kernel_z="laplace")
    with pytest.raises(ValueError, match=r"`kernel_x`='precomputed' cannot be used"):
        hsic.conditional_test(x, y, z, kernel_x="precomputed")
    with pytest.raises(ValueError, match=r"`rng` must be a non-negative integer"):
        hsic.conditional_test(x, y, z, rng=-1)


# --------------------------------------------------------------------------------------------
# Peer: causal-learn
# --------------------------------------------------------------------------------------------


def test_kci_pvalue_against_causallearn(rng):
    kci = pytest.importorskip("causallearn.utils.KCI.KCI")
    # causal-learn's KCI_CInd defaults (empirical widths, ε = 1e-3, ẍ = (x, z/2), gamma null)
    # are our defaults. It drops eigenvalues below 1e-5 of the largest before forming the
    # moments, so the p-values agree to ~1e-5 (relative) rather than exactly.
    for make in (_chain, _collider, _direct):
        x, y, z = make(rng, 150)
        peer = kci.KCI_CInd()
        p_peer, stat_peer = peer.compute_pvalue(x[:, None], y[:, None], z[:, None])
        res = hsic.conditional_test(x, y, z)
        assert res.statistic * 150 == pytest.approx(stat_peer, rel=1e-6)  # peer: tr(·), no 1/n
        assert res.pvalue == pytest.approx(p_peer, rel=1e-3, abs=1e-9)


def test_rcit_bandwidths_from_500_evenly_spaced_rows(rng):
    # n > 500: each median heuristic looks at rows round(linspace(0, n - 1, 500)) of the
    # standardised data (the documented rule); x and z are 1-D, ÿ = (y, z) is 2-D
    n = 701
    x, y, z = _chain(rng, n)
    res = hsic.conditional_test(x, y, z, method="rcit")
    rows = np.linspace(0, n - 1, 500).round().astype(int)
    for a, sigma in ((_zscore(x), res.bandwidth_x),
                     (np.column_stack([_zscore(y), _zscore(z)]), res.bandwidth_y),
                     (_zscore(z), res.bandwidth_z)):
        assert sigma == pytest.approx(ref.median_bandwidth(a[rows]), rel=1e-12)


def test_rcit_tiny_epsilon_raises_instead_of_nan(rng):
    x, y, z = _chain(rng, 200)
    with pytest.raises(ValueError, match="use a larger `epsilon`"):
        hsic.conditional_test(x, y, z, method=hsic.RCIT(epsilon=1e-300, n_features=200))
