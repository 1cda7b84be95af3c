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
from hsic import _large_scale as ls
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
        (lambda: ls.rff_features(x, seed=-1), "`seed` must be a non-negative integer"),
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
        (lambda: ls.feature_test(x, y, features="fourier"), "`features` must be one of"),
        (lambda: ls.feature_test(x, y, null="gamma"), "`null` must be one of"),
        (lambda: ls.feature_test(x, y, null="permutation", n_resamples=0),
         "`n_permutations` must be a positive integer"),
        (lambda: ls.feature_test(x, y, n_resamples=-5), "`n_permutations` must be a positive"),
        (lambda: ls.feature_test(x, y, features="nystrom", n_features=500),
         "`n_features` must be at most n = 50"),
        (lambda: ls.feature_test(x, y, features="rff", n_features=5), "positive even integer"),
        (lambda: ls.feature_test(np.ones(50), y), "`x` is constant"),
        (lambda: ls.feature_test(x[:4], y[:4]), "needs at least 5 samples"),
        (lambda: ls.feature_test(x, y, kernel_x="precomputed", features="nystrom"),
         "`kernel_x`='precomputed'"),
        (lambda: ls.block_hsic(x, y, block_size=3), "`block_size` must be an integer >= 4"),
        (lambda: ls.block_hsic(x, y, block_size=8.0), "`block_size` must be an integer >= 4"),
        (lambda: ls.block_hsic(x, y, block_size=51), "`block_size` must be at most n = 50"),
        (lambda: ls.block_hsic(x, y, kernel_x="precomputed"), "`kernel_x`='precomputed'"),
        (lambda: ls.block_hsic(x[:3], y[:3]), "needs at least 4 samples"),
        (lambda: ls.block_test(x, y, block_size=30), "at least 2 blocks"),
        (lambda: ls.block_test(x, np.ones(50)), "`y` is constant"),
    ]


@pytest.mark.parametrize("index", range(len(_bad_calls())))
def test_bad_inputs_are_rejected_with_the_argument_named(index):
    call, match = _bad_calls()[index]
    with pytest.raises(ValueError, match=match):
        call()


# ---- random Fourier features ---------------------------------------------------------------------


def test_rff_features_match_numpy_transcription(rng):
    x = rng.normal(size=(60, 3))
    got = ls.rff_features(x, kernel=Gaussian(1.3), n_features=40, seed=7, dtype="float64")
    expected = np_rff(x, 1.3, 40, np.random.default_rng(7))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-10, atol=1e-12)
    # "gaussian" means the median heuristic on x; a number is a bandwidth
    got = ls.rff_features(x, n_features=40, seed=7, dtype="float64")
    expected = np_rff(x, ref.median_bandwidth(x), 40, np.random.default_rng(7))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-10, atol=1e-12)
    same = ls.rff_features(x, kernel=1.3, n_features=40, seed=7, dtype="float64")
    np.testing.assert_allclose(np.asarray(same), np_rff(x, 1.3, 40, np.random.default_rng(7)),
                               rtol=1e-10, atol=1e-12)
    assert ls.rff_features(x, n_features=40, seed=7).dtype == np.float32


def test_rff_gram_error_matches_its_variance_and_shrinks(rng):
    x = rng.normal(size=(40, 2))
    K = gauss(x, x, 1.0)
    off = ~np.eye(40, dtype=bool)
    mse = {}
    for D in (100, 1600):
        # entries share the frequencies, so one draw's error is noisy: average over 40 draws
        sq = []
        for seed in range(40):
            phi = np.asarray(ls.rff_features(x, kernel=1.0, n_features=D, seed=seed,
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
    got = ls.hsic_rff(x, y, n_features=D, seed=3, dtype="float64")
    np.testing.assert_allclose(float(got), expected, rtol=1e-9)
    got32 = ls.hsic_rff(x, y, n_features=D, seed=3)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(float(got32), expected, rtol=1e-4)


def test_rff_is_unbiased_for_the_exact_statistic_and_its_error_shrinks(rng):
    x, y = _data(rng)
    # the exact biased HSIC with the same median bandwidths (what hsic.hsic(x, y) computes)
    exact = ref.hsic_biased(gauss(x, x, ref.median_bandwidth(x)),
                            gauss(y, y, ref.median_bandwidth(y)))

    def errors(n_features):
        est = [float(ls.hsic_rff(x, y, n_features=n_features, seed=s, dtype="float64"))
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
    got = np.asarray(ls.nystrom_features(x, kernel=kernel, n_landmarks=15, seed=4,
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
        got = float(ls.hsic_nystrom(x, y, n_landmarks=m, seed=m, dtype="float64"))
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


def test_feature_hsic_is_biased_hsic_of_the_feature_grams_for_any_chunk_size(rng):
    phi = rng.normal(size=(203, 5)) + 3.0
    psi = np.tanh(phi[:, :3]) + rng.normal(size=(203, 3))
    expected = ref.hsic_biased(phi @ phi.T, psi @ psi.T)
    np.testing.assert_allclose(float(ls.feature_hsic(phi, psi, dtype="float64")), expected,
                               rtol=1e-10)
    p32, s32 = jax.numpy.asarray(phi, np.float32), jax.numpy.asarray(psi, np.float32)
    whole = ls._feature_sums(p32, s32, rows=203, covariances=True)
    for rows in (7, 64):  # several chunks, without (7 × 29) and with (3 × 64 + 11) a tail
        chunked = ls._feature_sums(p32, s32, rows=rows, covariances=True)
        for a, b in zip(chunked, whole, strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(float(whole[0]), expected, rtol=1e-4)
    phic = phi - phi.mean(axis=0)
    np.testing.assert_allclose(np.asarray(whole[1]), phic.T @ phic / 203, rtol=1e-4, atol=1e-5)


def test_float32_feature_statistic_is_accurate_at_larger_n(rng):
    n = 200_000
    phi = rng.normal(size=(n, 4)) + 100.0  # features far from zero: centring must be careful
    psi = phi[:, :2] ** 2 / 100 + rng.normal(size=(n, 2))
    expected = np_feature_hsic(phi, psi)
    p32, s32 = jax.numpy.asarray(phi, np.float32), jax.numpy.asarray(psi, np.float32)
    got = ls._feature_sums(p32, s32, rows=4096, covariances=False)[0]
    np.testing.assert_allclose(float(got), expected, rtol=1e-3)


def test_feature_permutation_null_matches_numpy_and_ignores_batching(rng, monkeypatch):
    x, y = _data(rng)
    res = ls.feature_test(x, y, null="permutation", n_resamples=7, n_features=D, seed=5,
                          dtype="float64")
    gx, gy, gnull = np.random.default_rng(5).spawn(3)
    phi = np_rff(x, ref.median_bandwidth(x), D, gx)
    psi = np_rff(y, ref.median_bandwidth(y), D, gy)
    observed = np_feature_hsic(phi, psi)
    null = np.array([np_feature_hsic(phi, psi[gnull.permutation(N)]) for _ in range(7)])
    np.testing.assert_allclose(res.statistic, observed, rtol=1e-9)
    np.testing.assert_allclose(res.null_distribution, null, rtol=1e-9)
    assert res.pvalue == (1 + np.sum(null >= observed * (1 - 1e-9))) / 8
    monkeypatch.setattr(ls, "PERMUTATION_ENTRIES", 100)  # batches of 2 permutations
    again = ls.feature_test(x, y, null="permutation", n_resamples=7, n_features=D, seed=5,
                            dtype="float64")
    np.testing.assert_array_equal(again.null_distribution, res.null_distribution)


def test_spectral_null_moments_and_chunking(monkeypatch):
    lam, eta = np.array([2.0, 1.0, 0.5, 0.0]), np.array([1.5, 0.25])
    n, draws = 100, 20000
    null = ls._spectral_null(np.diag(lam), np.diag(eta), n, np.random.default_rng(0), draws,
                             eps=1e-7)
    # Σ λ_i η_j z_ij² / n: mean Σλ·Ση / n, variance 2·Σλ²·Ση² / n²
    mean, var = lam.sum() * eta.sum() / n, 2 * (lam**2).sum() * (eta**2).sum() / n**2
    assert abs(null.mean() - mean) < 5 * math.sqrt(var / draws)
    np.testing.assert_allclose(null.var(), var, rtol=0.1)
    monkeypatch.setattr(ls, "SPECTRAL_ENTRIES", 5)  # chunks of one draw
    small = ls._spectral_null(np.diag(lam), np.diag(eta), n, np.random.default_rng(0), 50,
                              eps=1e-7)
    np.testing.assert_allclose(small, null[:50], rtol=1e-12)


def test_spectral_and_permutation_nulls_agree(rng):
    x, y = _independent(rng, N)
    spec = ls.feature_test(x, y, n_features=D, n_resamples=2000, seed=2, dtype="float64")
    perm = ls.feature_test(x, y, null="permutation", n_features=D, n_resamples=2000, seed=2,
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
    a = ls.feature_test(x, y, seed=1, **kwargs)
    b = ls.feature_test(x, y, seed=1, **kwargs)
    c = ls.feature_test(x, y, seed=2, **kwargs)
    assert a.statistic == b.statistic and a.pvalue == b.pvalue
    np.testing.assert_array_equal(a.null_distribution, b.null_distribution)
    assert a.statistic != c.statistic
    assert not np.array_equal(a.null_distribution, c.null_distribution)
    k1 = ls.feature_test(x, y, seed=jax.random.key(1), **kwargs)
    k2 = ls.feature_test(x, y, seed=jax.random.key(1), **kwargs)
    assert k1.statistic == k2.statistic and k1.pvalue == k2.pvalue
    n1 = ls.hsic_nystrom(x, y, n_landmarks=D, seed=1)
    assert float(n1) == float(ls.hsic_nystrom(x, y, n_landmarks=D, seed=1))
    assert float(n1) != float(ls.hsic_nystrom(x, y, n_landmarks=D, seed=2))


def test_a_second_call_of_the_same_shape_does_not_recompile(rng):
    x, y = _data(rng)
    ls.hsic_rff(x, y, n_features=D, seed=0)
    ls.block_hsic(x, y, block_size=10)
    sizes = (ls._rff_map._cache_size(), ls._feature_sums._cache_size(),
             ls._block_values._cache_size())
    x2, y2 = _data(rng)
    ls.hsic_rff(3 * x2, y2, n_features=D, seed=1)  # new data, bandwidths and frequencies
    ls.block_hsic(3 * x2, y2, block_size=10)
    assert (ls._rff_map._cache_size(), ls._feature_sums._cache_size(),
            ls._block_values._cache_size()) == sizes


def test_result_object(rng):
    x, y = _data(rng)
    res = ls.feature_test(x, y, features="nystrom", n_features=D, n_resamples=100)
    assert res.method == "nystrom" and res.info["null"] == "spectral" and res.n == N
    assert res.info["n_features"] == D and res.info["n_null_samples"] == 100
    assert res.n_permutations is None
    np.testing.assert_allclose(res.bandwidth_x, ref.median_bandwidth(x), rtol=1e-6)
    assert "HSICTestResult(method='nystrom', null='spectral'" in repr(res)
    assert "approximate biased HSIC" in repr(res)
    json.dumps(res.to_dict())
    block = ls.block_test(x, y, block_size=10)
    assert block.null_distribution is None and block.info["n_blocks"] == 10
    assert "block_size=10" in repr(block)
    json.dumps(block.to_dict())
    with pytest.raises(AttributeError):
        res.pvalue = 0.5  # frozen


# ---- block HSIC ----------------------------------------------------------------------------------


def test_block_hsic_matches_numpy_blocks_with_full_sample_bandwidths(rng):
    x, y = _data(rng, n=103, dx=2)
    sx, sy = ref.median_bandwidth(x), ref.median_bandwidth(y)
    blocks = [
        ref.hsic_unbiased(gauss(x[s:s + 10], x[s:s + 10], sx), gauss(y[s:s + 10], y[s:s + 10], sy))
        for s in range(0, 100, 10)  # 10 blocks; the last 3 rows are not used
    ]
    got = ls.block_hsic(x, y, block_size=10, dtype="float64")
    np.testing.assert_allclose(float(got), np.mean(blocks), rtol=1e-9)
    # one block of all n rows is the full-sample unbiased statistic
    exact = hsic.hsic(x, y, estimator="unbiased", dtype="float64")
    np.testing.assert_allclose(float(ls.block_hsic(x, y, block_size=103, dtype="float64")),
                               float(exact), rtol=1e-9)
    # the default block size is ⌊√n⌋ = 10 here
    np.testing.assert_allclose(float(ls.block_hsic(x, y, dtype="float64")), np.mean(blocks),
                               rtol=1e-9)
    # how many blocks are vmapped at a time does not change the values: above, all 10 at
    # once; here one at a time (float32)
    x32, y32 = jax.numpy.asarray(x, np.float32), jax.numpy.asarray(y, np.float32)
    one = ls._block_values(Gaussian(sx), Gaussian(sy), x32, y32, block_size=10, batch=1)
    np.testing.assert_allclose(np.asarray(one[0]), blocks, rtol=1e-4, atol=1e-6)


def test_block_null_variance_is_the_exact_within_block_permutation_variance(rng):
    # Two blocks of 6: enumerate all 720 permutations of y within each block.
    x, y = rng.normal(size=(12, 2)), rng.normal(size=12)
    res = ls.block_test(x, y, block_size=6, dtype="float64")
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
            errors[B].append(float(ls.block_hsic(x, y, block_size=B, dtype="float64")) - exact)
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
    "rff-spectral": lambda x, y, r: ls.feature_test(x, y, n_features=D, seed=r),
    "rff-permutation": lambda x, y, r: ls.feature_test(
        x, y, null="permutation", n_features=D, n_resamples=99, seed=r),
    "nystrom-spectral": lambda x, y, r: ls.feature_test(
        x, y, features="nystrom", n_features=D, seed=r),
    "block": lambda x, y, r: ls.block_test(x, y),
    # fixed bandwidths: at n = 400 the median heuristic is 90% of the block test's time
    "block-fixed": lambda x, y, r: ls.block_test(x, y, kernel_x=Gaussian(1.5),
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
    "rff-spectral": lambda x, y: ls.feature_test(x, y, n_features=100),
    "rff-permutation": lambda x, y: ls.feature_test(
        x, y, null="permutation", n_features=100, n_resamples=200),
    "nystrom-spectral": lambda x, y: ls.feature_test(x, y, features="nystrom", n_features=50),
    "block": lambda x, y: ls.block_test(x, y),
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
    assert ls.feature_test(x, y, n_features=50, seed=0).pvalue <= 0.01
    assert ls.feature_test(x, y, features="nystrom", n_features=50, seed=0).pvalue <= 0.01
    assert ls.block_test(x, y).pvalue <= 0.01


# ---- the public API: hsic.test(method=...) and hsic.hsic(estimator=...) -------------------------


def test_public_api_dispatches_to_the_large_scale_methods(rng):
    x, y = _data(rng)
    cases = [
        ("rff", dict(n_features=D), dict(features="rff", n_features=D, n_resamples=50)),
        ("nystrom", dict(n_features=D, null="permutation"),
         dict(features="nystrom", null="permutation", n_features=D, n_resamples=50)),
    ]
    for method, test_kwargs, direct in cases:
        res = hsic.test(x, y, method=method, n_permutations=50, seed=4, **test_kwargs)
        expected = ls.feature_test(x, y, seed=4, **direct)
        assert res.method == method and res.statistic == expected.statistic
        np.testing.assert_array_equal(res.null_distribution, expected.null_distribution)
        estimate = hsic.hsic(x, y, estimator=method, n_features=D, seed=4)
        assert float(estimate) == res.statistic  # the same features from the same seed
    block = hsic.test(x, y, method="block", block_size=10)
    assert block.pvalue == ls.block_test(x, y, block_size=10).pvalue
    np.testing.assert_allclose(  # the test averages the blocks in float64
        float(hsic.hsic(x, y, estimator="block", block_size=10)), block.statistic, rtol=1e-6)
    # the defaults: 100 features (so D = 100 must be accepted at n = 100), block ⌊√n⌋
    assert hsic.test(x, y, method="rff").info["n_features"] == 100
    assert hsic.test(x, y, method="block").info["block_size"] == 10
    json.dumps(block.to_dict())


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x, y: hsic.test(x, y, method="gamma", n_features=10),
         r"`n_features` applies only to method='rff' or 'nystrom'; got n_features=10 with "
         r"method='gamma'"),
        (lambda x, y: hsic.test(x, y, method="block", null="spectral"),
         r"`null` applies only to method='rff' or 'nystrom'"),
        (lambda x, y: hsic.test(x, y, method="rff", block_size=10),
         r"`block_size` applies only to method='block'"),
        (lambda x, y: hsic.test(x, y, method="rff", null="gamma"), r"`null` must be one of"),
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
