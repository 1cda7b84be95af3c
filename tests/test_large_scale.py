"""Large-scale HSIC: random Fourier features, Nyström features and block HSIC.

Checked against independent NumPy transcriptions (below, written from the formulas), against the
exact statistic (the approximation error shrinks as the features or blocks grow), for
calibration under independence (binomial 99% interval) and for power. The ``slow`` versions
(``pytest -m slow``) use more replications.
"""

import itertools
import json
import math

import jax
import numpy as np
import pytest
import reference as ref
import scipy.stats

import hsic
from hsic._nulls import mixtures
from hsic._nulls import permutation as nulls
from hsic._stats import block as block_stats
from hsic._stats import features as ls
from hsic.kernels import Gaussian, Laplace, Linear

ALPHA = 0.05
# Most tests use these shapes (one-dimensional x and y, n = 100, 20 features), so that the
# jitted functions compile once for the whole file.
N, D = 100, 20


def _data(rng, n=N, dx=1):
    x = rng.normal(size=(n, dx))
    y = np.sin(3 * x[:, :1]) + 0.3 * rng.normal(size=(n, 1))
    return x, y


def _independent(rng, n, dx=1):
    return rng.normal(size=(n, dx)), rng.standard_t(df=3, size=n)  # heavy-tailed y


def feature_test(x, y, *, features="rff", null="spectral", n_features=100, n_resamples=1000,
                 **kwargs):
    """``hsic.test`` with ``hsic.RFF`` or ``hsic.Nystrom`` (the former ``feature_test``)."""
    method = {"rff": hsic.RFF, "nystrom": hsic.Nystrom}[features]
    return hsic.test(
        x, y, method=method(n_features=n_features, null=null, n_resamples=n_resamples), **kwargs
    )


def block_test(x, y, *, block_size=None, **kwargs):
    """``hsic.test`` with ``hsic.Block`` (the former ``block_test``)."""
    return hsic.test(x, y, method=hsic.Block(size=block_size), **kwargs)


# ---- NumPy transcriptions ------------------------------------------------------------------------


def gauss(a, b, sigma):
    a, b = np.asarray(a, float).reshape(len(a), -1), np.asarray(b, float).reshape(len(b), -1)
    return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * sigma**2))


def laplace(a, b, sigma):
    a, b = np.asarray(a, float).reshape(len(a), -1), np.asarray(b, float).reshape(len(b), -1)
    return np.exp(-np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)) / sigma)


def np_rff(x, sigma, n_features, rng):
    """Rahimi & Recht (2007): ω ~ N(0, I/σ²), φ(a) = sqrt(2/D)[cos ωᵀa, sin ωᵀa], on x − x̄."""
    x = np.asarray(x, float).reshape(len(x), -1)
    omega = rng.standard_normal((x.shape[1], n_features // 2)) / sigma
    proj = (x - x.mean(axis=0)) @ omega
    return np.sqrt(2.0 / n_features) * np.hstack([np.cos(proj), np.sin(proj)])


def np_nystrom(x, gram, m, rng):
    """Nyström features K_nm U Λ^{-1/2}, eigenvalues <= m·eps·λ_max dropped."""
    x = np.asarray(x, float).reshape(len(x), -1)
    z = x[rng.choice(len(x), size=m, replace=False)]
    lam, U = np.linalg.eigh(gram(z, z))
    keep = lam > m * np.finfo(float).eps * lam.max()
    return gram(x, z) @ (U[:, keep] / np.sqrt(lam[keep]))


def np_feature_hsic(phi, psi):
    """‖(Φ − Φ̄)ᵀ(Ψ − Ψ̄)‖²_F / n²."""
    c = (phi - phi.mean(axis=0)).T @ (psi - psi.mean(axis=0))
    return (c**2).sum() / len(phi) ** 2


# ---- validation ------------------------------------------------------------------------------


def _bad_calls():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 2)), rng.normal(size=50)
    K = gauss(x, x, 1.0)
    return [
        (lambda: ls.rff_features(x, n_features=7), "`n_features` must be a positive even"),
        (lambda: ls.rff_features(x, n_features=0), "`n_features` must be a positive even"),
        (lambda: ls.rff_features(x, n_features=True), "`n_features` must be a positive even"),
        (lambda: ls.rff_features(x, n_features=4.0), "`n_features` must be a positive even"),
        (lambda: ls.rff_features(x, kernel="laplace"), "`kernel` must be a Gaussian kernel"),
        (lambda: ls.rff_features(x, kernel=-1.0), "`bandwidth`"),
        (lambda: ls.rff_features(x, rng=-1), "`rng` must be a non-negative integer"),
        (lambda: ls.rff_features(x, dtype="int32"), "`dtype` must be float32 or float64"),
        (lambda: ls.nystrom_features(x, n_landmarks=0), "`n_landmarks` must be a positive"),
        (lambda: ls.nystrom_features(x, n_landmarks=51), "`n_landmarks` must be at most n = 50"),
        (lambda: ls.nystrom_features(K, kernel="precomputed"), "`kernel`='precomputed'"),
        (lambda: ls.nystrom_features(x, kernel="cosine"), "`kernel` must be one of"),
        (lambda: ls.feature_hsic(x[:10], x), "`phi` and `psi` must have the same number"),
        (lambda: ls.feature_hsic(x[:1], x[:1]), "at least 2 samples"),
        (lambda: ls.feature_hsic(np.full((5, 2), np.nan), x[:5]), "`phi` must be finite"),
        (lambda: ls.hsic_rff(x, y, kernel_y=Laplace()), "`kernel_y` must be a Gaussian"),
        (lambda: ls.hsic_rff(x, y[:40]), "same number of samples"),
        (lambda: ls.hsic_nystrom(x, y, n_landmarks=60), "`n_landmarks` must be at most n = 50"),
        (lambda: ls.hsic_nystrom(x, y, n_landmarks=0), "`n_landmarks` must be a positive"),
        (lambda: hsic.test(x, y, method="fourier"), "`method` of hsic.test must be one of"),
        (lambda: hsic.RFF(null="gamma"), "`null` must be one of"),
        (lambda: hsic.Nystrom(null="gamma"), "`null` must be one of"),
        (lambda: hsic.RFF(null="permutation", n_resamples=0),
         "`n_resamples` must be a positive integer"),
        (lambda: hsic.RFF(n_resamples=-5), "`n_resamples` must be a positive"),
        (lambda: hsic.Nystrom(n_resamples=-5), "`n_resamples` must be a positive"),
        (lambda: hsic.test(x, y, method=hsic.Nystrom(n_features=500)),
         "`n_features` must be at most n = 50"),
        (lambda: hsic.Nystrom(n_features=0), "`n_features` must be a positive"),
        (lambda: hsic.RFF(n_features=5), "positive even integer"),
        (lambda: hsic.test(np.ones(50), y, method="rff"), "`x` is constant"),
        (lambda: hsic.test(x[:4], y[:4], method="rff"), "needs at least 5 samples"),
        (lambda: hsic.test(x, y, kernel_x="precomputed", method="nystrom"),
         "`kernel_x`='precomputed'"),
        (lambda: block_stats.block_hsic(x, y, block_size=3),
         "`block_size` must be an integer >= 4"),
        (lambda: block_stats.block_hsic(x, y, block_size=8.0),
         "`block_size` must be an integer >= 4"),
        (lambda: block_stats.block_hsic(x, y, block_size=51),
         "`block_size` must be at most n = 50"),
        (lambda: block_stats.block_hsic(x, y, kernel_x="precomputed"), "`kernel_x`='precomputed'"),
        (lambda: block_stats.block_hsic(x[:3], y[:3]), "needs at least 4 samples"),
        (lambda: hsic.Block(size=3), "`size` must be an integer >= 4"),
        (lambda: hsic.Block(size=8.0), "`size` must be an integer >= 4"),
        (lambda: hsic.test(x, y, method=hsic.Block(size=51)), "`size` must be at most n = 50"),
        (lambda: hsic.test(x, y, method=hsic.Block(size=30)), "at least 2 blocks"),
        (lambda: hsic.test(x, np.ones(50), method="block"), "`y` is constant"),
    ]


@pytest.mark.parametrize("index", range(len(_bad_calls())))
def test_bad_inputs_are_rejected_with_the_argument_named(index):
    call, match = _bad_calls()[index]
    with pytest.raises(ValueError, match=match):
        call()


# ---- random Fourier features ---------------------------------------------------------------------


def test_rff_features_match_numpy_transcription(rng):
    x = rng.normal(size=(60, 3))
    got = ls.rff_features(x, kernel=Gaussian(1.3), n_features=40, rng=7, dtype="float64")
    expected = np_rff(x, 1.3, 40, np.random.default_rng(7))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-10, atol=1e-12)
    # "gaussian" means the median heuristic on x; a number is a bandwidth
    got = ls.rff_features(x, n_features=40, rng=7, dtype="float64")
    expected = np_rff(x, ref.median_bandwidth(x), 40, np.random.default_rng(7))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-10, atol=1e-12)
    same = ls.rff_features(x, kernel=1.3, n_features=40, rng=7, dtype="float64")
    np.testing.assert_allclose(np.asarray(same), np_rff(x, 1.3, 40, np.random.default_rng(7)),
                               rtol=1e-10, atol=1e-12)
    assert ls.rff_features(x, n_features=40, rng=7).dtype == np.float32


def test_rff_gram_error_matches_its_variance_and_shrinks(rng):
    x = rng.normal(size=(40, 2))
    K = gauss(x, x, 1.0)
    off = ~np.eye(40, dtype=bool)
    mse = {}
    for D in (100, 1600):
        # entries share the frequencies, so one draw's error is noisy: average over 40 draws
        sq = []
        for seed in range(40):
            phi = np.asarray(ls.rff_features(x, kernel=1.0, n_features=D, rng=seed,
                                             dtype="float64"))
            approx = np.einsum("ik,jk->ij", phi, phi)  # not BLAS: its threads are slow here
            np.testing.assert_allclose(np.diag(approx), 1.0, rtol=1e-12)  # exactly 1
            sq.append(np.mean((approx - K)[off] ** 2))
        mse[D] = np.mean(sq)
        # the documented variance of each entry: (1 − k²)² / D
        predicted = np.mean((1 - K[off] ** 2) ** 2 / D)
        assert 0.6 * predicted < mse[D] < 1.4 * predicted
    assert mse[1600] < mse[100] / 6  # 1/D: a factor 16 expected


def test_hsic_rff_matches_numpy_transcription(rng):
    x, y = _data(rng, dx=2)
    gx, gy, _ = np.random.default_rng(3).spawn(3)
    phi = np_rff(x, ref.median_bandwidth(x), D, gx)
    psi = np_rff(y, ref.median_bandwidth(y), D, gy)
    expected = ref.hsic_biased(phi @ phi.T, psi @ psi.T)
    np.testing.assert_allclose(np_feature_hsic(phi, psi), expected, rtol=1e-10)
    got = ls.hsic_rff(x, y, n_features=D, rng=3, dtype="float64")
    np.testing.assert_allclose(float(got), expected, rtol=1e-9)
    got32 = ls.hsic_rff(x, y, n_features=D, rng=3)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(float(got32), expected, rtol=1e-4)


def test_rff_is_unbiased_for_the_exact_statistic_and_its_error_shrinks(rng):
    x, y = _data(rng)
    # the exact biased HSIC with the same median bandwidths (what hsic.hsic(x, y) computes)
    exact = ref.hsic_biased(gauss(x, x, ref.median_bandwidth(x)),
                            gauss(y, y, ref.median_bandwidth(y)))

    def errors(n_features):
        est = [float(ls.hsic_rff(x, y, n_features=n_features, rng=s, dtype="float64"))
               for s in range(40)]
        return np.array(est) - exact

    small, large = errors(D), errors(64 * D)
    rms = lambda e: np.sqrt(np.mean(e**2))  # noqa: E731
    assert rms(large) < rms(small) / 4  # 1/√D: a factor 8 expected
    # unbiased given the data: the mean of 40 estimates is within 4 standard errors
    assert abs(small.mean()) < 4 * small.std(ddof=1) / math.sqrt(len(small))
    assert rms(large) < 0.3 * exact  # ~0.1 expected here


# ---- Nyström features ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kernel, gram",
    [
        (Gaussian(1.0), lambda a, b: gauss(a, b, 1.0)),
        (Laplace(1.5), lambda a, b: laplace(a, b, 1.5)),
        (Linear(), lambda a, b: a @ b.T),
    ],
    ids=["gaussian", "laplace", "linear"],
)
def test_nystrom_features_match_numpy_transcription(rng, kernel, gram):
    x = rng.normal(size=(60, 2))
    got = np.asarray(ls.nystrom_features(x, kernel=kernel, n_landmarks=15, rng=4,
                                         dtype="float64"))
    assert got.shape == (60, 15)
    phi = np_nystrom(x, gram, 15, np.random.default_rng(4))
    # compare Gram matrices: eigenvector signs and the dropped columns are not unique
    np.testing.assert_allclose(got @ got.T, phi @ phi.T, rtol=1e-7, atol=1e-9)


def test_nystrom_is_exact_for_the_linear_kernel_and_for_all_landmarks(rng):
    x, y = _data(rng)
    # K = xxᵀ has rank 1: the 19 other eigenvalues of K_mm are rounding, and must be dropped
    got = ls.hsic_nystrom(x, y, kernel_x="linear", kernel_y="linear", n_landmarks=D,
                          dtype="float64")
    np.testing.assert_allclose(float(got), ref.hsic_biased(x @ x.T, y @ y.T), rtol=1e-8)
    exact = ref.hsic_biased(gauss(x, x, ref.median_bandwidth(x)),
                            gauss(y, y, ref.median_bandwidth(y)))
    got = ls.hsic_nystrom(x, y, n_landmarks=N, dtype="float64")  # m = n
    np.testing.assert_allclose(float(got), exact, rtol=1e-6)


def test_hsic_nystrom_matches_numpy_and_its_error_shrinks_within_the_bound(rng):
    x, y = _data(rng)
    sx, sy = ref.median_bandwidth(x), ref.median_bandwidth(y)
    K, L = gauss(x, x, sx), gauss(y, y, sy)
    exact = ref.hsic_biased(K, L)
    errors = {}
    for m in (4, D):
        gx, gy, _ = np.random.default_rng(m).spawn(3)
        phi = np_nystrom(x, lambda a, b: gauss(a, b, sx), m, gx)
        psi = np_nystrom(y, lambda a, b: gauss(a, b, sy), m, gy)
        expected = np_feature_hsic(phi, psi)
        got = float(ls.hsic_nystrom(x, y, n_landmarks=m, rng=m, dtype="float64"))
        np.testing.assert_allclose(got, expected, rtol=1e-6)
        # the documented bound: (‖K − K̂‖ ‖L‖ + ‖K̂‖ ‖L − L̂‖) / n²
        Kh, Lh = phi @ phi.T, psi @ psi.T
        fro = np.linalg.norm
        bound = (fro(K - Kh) * fro(L) + fro(Kh) * fro(L - Lh)) / len(x) ** 2
        errors[m] = abs(got - exact)
        assert errors[m] <= bound * (1 + 1e-9)
    assert errors[D] < errors[4] / 10  # ~0.09 and ~3e-4 of the statistic here
    assert errors[D] < 1e-2 * exact


# ---- the feature statistic and its nulls ---------------------------------------------------------


def test_feature_hsic_is_biased_hsic_of_the_feature_grams_for_any_chunk_size(rng, monkeypatch):
    phi = rng.normal(size=(203, 5)) + 3.0
    psi = np.tanh(phi[:, :3]) + rng.normal(size=(203, 3))
    expected = ref.hsic_biased(phi @ phi.T, psi @ psi.T)
    np.testing.assert_allclose(float(ls.feature_hsic(phi, psi, dtype="float64")), expected,
                               rtol=1e-10)
    p32, s32 = jax.numpy.asarray(phi, np.float32), jax.numpy.asarray(psi, np.float32)
    whole = ls.feature_sums(p32, s32, covariances=True)  # one chunk of all 203 rows
    for rows in (7, 64):  # several chunks, without (7 × 29) and with (3 × 64 + 11) a tail
        monkeypatch.setattr(ls, "CHUNK_ROWS", rows)
        chunked = ls.feature_sums(p32, s32, covariances=True)
        for a, b in zip(chunked, whole, strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(float(whole[0]), expected, rtol=1e-4)
    phic = phi - phi.mean(axis=0)
    np.testing.assert_allclose(np.asarray(whole[1]), phic.T @ phic / 203, rtol=1e-4, atol=1e-5)


def test_float32_feature_statistic_is_accurate_at_larger_n(rng, monkeypatch):
    n = 200_000
    phi = rng.normal(size=(n, 4)) + 100.0  # features far from zero: centring must be careful
    psi = phi[:, :2] ** 2 / 100 + rng.normal(size=(n, 2))
    expected = np_feature_hsic(phi, psi)
    p32, s32 = jax.numpy.asarray(phi, np.float32), jax.numpy.asarray(psi, np.float32)
    monkeypatch.setattr(ls, "CHUNK_ROWS", 4096)
    got = ls.feature_sums(p32, s32, covariances=False)[0]
    np.testing.assert_allclose(float(got), expected, rtol=1e-3)


def test_feature_permutation_null_matches_numpy_and_ignores_batching(rng, monkeypatch):
    x, y = _data(rng)
    res = feature_test(x, y, null="permutation", n_resamples=7, n_features=D, rng=5,
                       dtype="float64")
    gx, gy, gnull = np.random.default_rng(5).spawn(3)
    phi = np_rff(x, ref.median_bandwidth(x), D, gx)
    psi = np_rff(y, ref.median_bandwidth(y), D, gy)
    observed = np_feature_hsic(phi, psi)
    null = np.array([np_feature_hsic(phi, psi[gnull.permutation(N)]) for _ in range(7)])
    np.testing.assert_allclose(res.statistic, observed, rtol=1e-9)
    np.testing.assert_allclose(res.null_distribution, null, rtol=1e-9)
    assert res.pvalue == (1 + np.sum(null >= observed * (1 - 1e-9))) / 8
    monkeypatch.setattr(nulls, "PERMUTATION_ENTRIES", 100)  # batches of 2 permutations
    again = feature_test(x, y, null="permutation", n_resamples=7, n_features=D, rng=5,
                         dtype="float64")
    np.testing.assert_array_equal(again.null_distribution, res.null_distribution)


def test_spectral_null_moments_and_chunking(monkeypatch):
    lam, eta = np.array([2.0, 1.0, 0.5, 0.0]), np.array([1.5, 0.25])
    n, draws = 100, 20000
    null = mixtures.spectral_null(np.diag(lam), np.diag(eta), n, np.random.default_rng(0),
                                  draws, eps=1e-7)
    # Σ λ_i η_j z_ij² / n: mean Σλ·Ση / n, variance 2·Σλ²·Ση² / n²
    mean, var = lam.sum() * eta.sum() / n, 2 * (lam**2).sum() * (eta**2).sum() / n**2
    assert abs(null.mean() - mean) < 5 * math.sqrt(var / draws)
    np.testing.assert_allclose(null.var(), var, rtol=0.1)
    monkeypatch.setattr(mixtures, "SPECTRAL_ENTRIES", 5)  # chunks of one draw
    small = mixtures.spectral_null(np.diag(lam), np.diag(eta), n, np.random.default_rng(0), 50,
                                   eps=1e-7)
    np.testing.assert_allclose(small, null[:50], rtol=1e-12)


def test_spectral_and_permutation_nulls_agree(rng):
    x, y = _independent(rng, N)
    spec = feature_test(x, y, n_features=D, n_resamples=2000, rng=2, dtype="float64")
    perm = feature_test(x, y, null="permutation", n_features=D, n_resamples=2000, rng=2,
                           dtype="float64")
    np.testing.assert_allclose(spec.statistic, perm.statistic, rtol=1e-12)  # same features
    # exact permutation mean tr(Φ̃ᵀΦ̃)·tr(Ψ̃ᵀΨ̃) / (n²(n − 1)); the spectral one has n³
    gx, gy, _ = np.random.default_rng(2).spawn(3)
    phi = np_rff(x, ref.median_bandwidth(x), D, gx)
    psi = np_rff(y, ref.median_bandwidth(y), D, gy)
    trace = ((phi - phi.mean(0)) ** 2).sum() * ((psi - psi.mean(0)) ** 2).sum()
    np.testing.assert_allclose(perm.null_distribution.mean(), trace / (N**2 * (N - 1)), rtol=0.05)
    np.testing.assert_allclose(spec.null_distribution.mean(), trace / N**3, rtol=0.05)
    qs = [0.5, 0.9, 0.95]
    np.testing.assert_allclose(np.quantile(spec.null_distribution, qs),
                               np.quantile(perm.null_distribution, qs), rtol=0.15)
    assert abs(spec.pvalue - perm.pvalue) < 0.1


def test_seed_determines_the_result(rng):
    x, y = _data(rng)
    kwargs = dict(n_features=D, n_resamples=200)
    a = feature_test(x, y, rng=1, **kwargs)
    b = feature_test(x, y, rng=1, **kwargs)
    c = feature_test(x, y, rng=2, **kwargs)
    assert a.statistic == b.statistic and a.pvalue == b.pvalue
    np.testing.assert_array_equal(a.null_distribution, b.null_distribution)
    assert a.statistic != c.statistic
    assert not np.array_equal(a.null_distribution, c.null_distribution)
    k1 = feature_test(x, y, rng=jax.random.key(1), **kwargs)
    k2 = feature_test(x, y, rng=jax.random.key(1), **kwargs)
    assert k1.statistic == k2.statistic and k1.pvalue == k2.pvalue
    n1 = ls.hsic_nystrom(x, y, n_landmarks=D, rng=1)
    assert float(n1) == float(ls.hsic_nystrom(x, y, n_landmarks=D, rng=1))
    assert float(n1) != float(ls.hsic_nystrom(x, y, n_landmarks=D, rng=2))


def _compilations(records):
    return [r.getMessage() for r in records if r.getMessage().startswith("Compiling")]


def test_a_second_call_of_the_same_shape_does_not_recompile(rng, caplog):
    x, y = _data(rng)
    ls.hsic_rff(x, y, n_features=D, rng=0)
    block_stats.block_hsic(x, y, block_size=10)
    x2, y2 = _data(rng)
    caplog.clear()
    with caplog.at_level("WARNING"), jax.log_compiles():
        ls.hsic_rff(3 * x2, y2, n_features=D, rng=1)  # new data, bandwidths and frequencies
        block_stats.block_hsic(3 * x2, y2, block_size=10)
    assert _compilations(caplog.records) == []
    with caplog.at_level("WARNING"), jax.log_compiles():  # the check sees a compilation
        ls.hsic_rff(x[:-1], y[:-1], n_features=D, rng=1)
    assert _compilations(caplog.records)


def test_result_object(rng):
    x, y = _data(rng)
    res = feature_test(x, y, features="nystrom", n_features=D, n_resamples=100)
    assert res.method == "nystrom" and res.info["null"] == "spectral" and res.n == N
    assert res.info["n_features"] == D and res.info["n_resamples"] == 100
    assert res.null_distribution.shape == (100,)  # spectral draws
    np.testing.assert_allclose(res.bandwidth_x, ref.median_bandwidth(x), rtol=1e-6)
    assert "HSICTestResult(method='nystrom', null='spectral'" in str(res)
    assert "approximate biased HSIC" in str(res)
    json.dumps(res.to_dict())
    block = block_test(x, y, block_size=10)
    assert block.null_distribution is None and block.info["n_blocks"] == 10
    assert "block_size=10" in str(block)
    json.dumps(block.to_dict())
    with pytest.raises(AttributeError):
        res.pvalue = 0.5  # frozen


# ---- block HSIC ----------------------------------------------------------------------------------


def test_block_hsic_matches_numpy_blocks_with_full_sample_bandwidths(rng, monkeypatch):
    x, y = _data(rng, n=103, dx=2)
    sx, sy = ref.median_bandwidth(x), ref.median_bandwidth(y)
    blocks = [
        ref.hsic_unbiased(gauss(x[s:s + 10], x[s:s + 10], sx), gauss(y[s:s + 10], y[s:s + 10], sy))
        for s in range(0, 100, 10)  # 10 blocks; the last 3 rows are not used
    ]
    got = block_stats.block_hsic(x, y, block_size=10, dtype="float64")
    np.testing.assert_allclose(float(got), np.mean(blocks), rtol=1e-9)
    # one block of all n rows is the full-sample unbiased statistic
    exact = hsic.hsic(x, y, estimator="unbiased", dtype="float64")
    np.testing.assert_allclose(float(block_stats.block_hsic(x, y, block_size=103, dtype="float64")),
                               float(exact), rtol=1e-9)
    # the default block size is ⌊√n⌋ = 10 here
    np.testing.assert_allclose(float(block_stats.block_hsic(x, y, dtype="float64")),
                               np.mean(blocks), rtol=1e-9)
    # how many blocks are vmapped at a time does not change the values: above, all 10 at
    # once; here one at a time (float32)
    x32, y32 = jax.numpy.asarray(x, np.float32), jax.numpy.asarray(y, np.float32)
    monkeypatch.setattr(block_stats, "BLOCK_ENTRIES", 100)  # batches of one 10 x 10 block
    one, _, _ = block_stats.block_values(
        x32, y32, Gaussian(sx), Gaussian(sy), 10, min_blocks=1, reason="block HSIC"
    )
    np.testing.assert_allclose(np.asarray(one[0]), blocks, rtol=1e-4, atol=1e-6)


def test_block_null_variance_is_the_exact_within_block_permutation_variance(rng):
    # Two blocks of 6: enumerate all 720 permutations of y within each block.
    x, y = rng.normal(size=(12, 2)), rng.normal(size=12)
    res = block_test(x, y, block_size=6, dtype="float64")
    sx, sy = ref.median_bandwidth(x), ref.median_bandwidth(y)
    variances = []
    for s in (0, 6):
        K, L = gauss(x[s:s + 6], x[s:s + 6], sx), gauss(y[s:s + 6], y[s:s + 6], sy)
        values = np.array([ref.hsic_unbiased(K, L[np.ix_(p, p)])
                           for p in map(list, itertools.permutations(range(6)))])
        assert abs(values.mean()) < 1e-12  # the permutation mean of HSIC_u is exactly 0
        variances.append(values.var())
    np.testing.assert_allclose(res.info["null_std"], math.sqrt(sum(variances)) / 2, rtol=1e-9)
    z = res.statistic / res.info["null_std"]
    np.testing.assert_allclose(res.pvalue, scipy.stats.norm.sf(z), rtol=1e-9)


def test_block_hsic_error_shrinks_as_blocks_grow(rng):
    n = 800
    errors = {8: [], 200: []}
    for _ in range(5):
        x, y = _data(rng, n=n, dx=1)
        exact = float(hsic.hsic(x, y, estimator="unbiased", dtype="float64"))
        for B in errors:
            approx = block_stats.block_hsic(x, y, block_size=B, dtype="float64")
            errors[B].append(float(approx) - exact)
    mse = {B: np.mean(np.square(e)) for B, e in errors.items()}
    assert mse[200] < mse[8] / 4  # O(1/(nB)): a factor ~25 expected


# ---- calibration and power ---------------------------------------------------------------------


def _rejections(call, replications, n, seed):
    rng = np.random.default_rng(seed)
    rejected = 0
    for r in range(replications):
        x, y = _independent(rng, n)
        rejected += call(x, y, r).pvalue <= ALPHA
    return rejected


CALLS = {
    "rff-spectral": lambda x, y, r: feature_test(x, y, n_features=D, rng=r),
    "rff-permutation": lambda x, y, r: feature_test(
        x, y, null="permutation", n_features=D, n_resamples=99, rng=r),
    "nystrom-spectral": lambda x, y, r: feature_test(
        x, y, features="nystrom", n_features=D, rng=r),
    "block": lambda x, y, r: block_test(x, y),
    # fixed bandwidths: at n = 400 the median heuristic is 90% of the block test's time
    "block-fixed": lambda x, y, r: block_test(x, y, kernel_x=Gaussian(1.5),
                                              kernel_y=Gaussian(1.0)),
}


@pytest.mark.parametrize("name, n", [("rff-spectral", N), ("rff-permutation", N),
                                     ("nystrom-spectral", N), ("block-fixed", 400)])
def test_level_fast(name, n):
    replications = 200
    ref.assert_calibrated(_rejections(CALLS[name], replications, n, seed=11), replications)


@pytest.mark.slow
@pytest.mark.parametrize("name, n", [("rff-spectral", 300), ("rff-permutation", 300),
                                     ("nystrom-spectral", 300), ("block", 2000)])
def test_level_slow(name, n):
    replications = 1000
    ref.assert_calibrated(_rejections(CALLS[name], replications, n, seed=12), replications)


POWER_CALLS = {
    # sin(3x) needs frequencies ~3σ⁻¹ into the tail of N(0, σ⁻²): with 20 features the RFF
    # test misses them often, so the power tests use 100
    "rff-spectral": lambda x, y: feature_test(x, y, n_features=100),
    "rff-permutation": lambda x, y: feature_test(
        x, y, null="permutation", n_features=100, n_resamples=200),
    "nystrom-spectral": lambda x, y: feature_test(x, y, features="nystrom", n_features=50),
    "block": lambda x, y: block_test(x, y),
}


@pytest.mark.parametrize("name", list(POWER_CALLS))
def test_power_on_a_clear_nonlinear_dependence(rng, name):
    x = rng.normal(size=(300, 1))
    y = np.sin(3 * x) + 0.3 * rng.normal(size=(300, 1))
    assert POWER_CALLS[name](x, y).pvalue <= 0.01


def test_power_on_a_weak_dependence_that_pearson_misses():
    rng = np.random.default_rng(2024)
    n = 4000
    x = rng.normal(size=n)
    y = 0.2 * (x**2 - 1) + rng.normal(size=n)  # even in x: no linear correlation; R² ≈ 7%
    assert scipy.stats.pearsonr(x, y).pvalue > 0.05  # 0.21 for this sample
    assert feature_test(x, y, n_features=50, rng=0).pvalue <= 0.01
    assert feature_test(x, y, features="nystrom", n_features=50, rng=0).pvalue <= 0.01
    assert block_test(x, y).pvalue <= 0.01


# ---- the public API: hsic.test(method=...) and hsic.hsic(estimator=...) -------------------------


def test_public_api_dispatches_to_the_large_scale_methods(rng):
    x, y = _data(rng)
    cases = [
        ("rff", hsic.RFF(n_features=D, n_resamples=50)),
        ("nystrom", hsic.Nystrom(n_features=D, null="permutation", n_resamples=50)),
    ]
    for name, method in cases:
        res = hsic.test(x, y, method=method, rng=4)
        assert res.method == name and res.info["n_features"] == D
        assert res.info["n_resamples"] == 50 and res.null_distribution.shape == (50,)
        estimate = hsic.hsic(x, y, estimator=name, n_features=D, rng=4)
        assert float(estimate) == res.statistic  # the same features from the same seed
        # a method's name stands for the method object with its defaults
        by_name = hsic.test(x, y, method=name, rng=4)
        expected = hsic.test(x, y, method=type(method)(), rng=4)
        assert by_name.statistic == expected.statistic and by_name.pvalue == expected.pvalue
        np.testing.assert_array_equal(by_name.null_distribution, expected.null_distribution)
    block = hsic.test(x, y, method=hsic.Block(size=10))
    assert block.pvalue == hsic.test(x, y, method="block").pvalue  # the default ⌊√n⌋ = 10
    np.testing.assert_allclose(  # the test averages the blocks in float64
        float(hsic.hsic(x, y, estimator="block", block_size=10)), block.statistic, rtol=1e-6)
    # the defaults: 100 features (so D = 100 must be accepted at n = 100), block ⌊√n⌋
    assert hsic.test(x, y, method="rff").info["n_features"] == 100
    assert hsic.test(x, y, method="block").info["block_size"] == 10
    json.dumps(block.to_dict())


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: hsic.Gamma(n_features=10), r"unexpected keyword argument 'n_features'"),
        (lambda: hsic.Block(null="spectral"), r"unexpected keyword argument 'null'"),
        (lambda: hsic.RFF(block_size=10), r"unexpected keyword argument 'block_size'"),
        (lambda: hsic.Nystrom(size=10), r"unexpected keyword argument 'size'"),
    ],
)
def test_method_objects_reject_options_of_other_methods(call, match):
    with pytest.raises(TypeError, match=match):
        call()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x, y: hsic.test(x, y, method=hsic.RFF(null="gamma")), r"`null` must be one of"),
        (lambda x, y: hsic.hsic(x, y, n_features=10),
         r"`n_features` applies only to estimator='rff' or 'nystrom'"),
        (lambda x, y: hsic.hsic(x, y, estimator="nystrom", block_size=10),
         r"`block_size` applies only to estimator='block'"),
        (lambda x, y: hsic.hsic(x, y, estimator="rff", algorithm="dense"),
         r"`algorithm` applies only to the exact estimators"),
        (lambda x, y: hsic.hsic(x, y, estimator="fourier"), r"`estimator` must be one of"),
    ],
)
def test_public_api_rejects_options_of_other_methods(rng, call, match):
    x, y = _data(rng)
    with pytest.raises(ValueError, match=match):
        call(x, y)


def test_out_of_memory_error_names_the_large_scale_methods(rng, monkeypatch):
    from hsic._base import validation as _validation

    monkeypatch.setattr(_validation, "available_memory_bytes", lambda: 10_000)
    x, y = _data(rng)
    with pytest.raises(ValueError, match=r"method='permutation' with n=100 needs about .* "
                       r"Use method='gamma' .* 'rff', 'nystrom' or 'block'"):
        hsic.test(x, y)
