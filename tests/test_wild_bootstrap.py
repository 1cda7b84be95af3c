"""hsic.test(method="wild_bootstrap"): the null against a NumPy transcription, the multiplier
process, the variance correction and the length rule, level on autocorrelated series (where
permutations over-reject), power, validation."""

import math

import numpy as np
import pytest
import reference as ref
import scipy.stats

import hsic
from hsic._nulls.wild_bootstrap import (
    choose_length,
    leading_component_autocorrelation,
    multiplier_process,
    variance_correction,
)

ALPHA = 0.05


def _ar1(rng, n, phi=0.8, burn=100):
    e = rng.normal(size=n + burn)
    out = np.empty(n + burn)
    out[0] = e[0] / math.sqrt(1 - phi**2)
    for t in range(1, n + burn):
        out[t] = phi * out[t - 1] + e[t]
    return out[burn:]


def test_null_matches_numpy_transcription(rng):
    n, B, length, seed = 40, 30, 5.0, 3
    x = _ar1(rng, n)
    y = np.abs(x) + _ar1(rng, n)
    res = hsic.test(
        x, y, method=hsic.WildBootstrap(n_resamples=B, length=length), rng=seed,
        dtype="float64",
    )
    K = ref.gaussian_gram(x, ref.median_bandwidth(x))
    L = ref.gaussian_gram(y, ref.median_bandwidth(y))
    H = np.eye(n) - 1.0 / n
    M = (H @ K @ H) * (H @ L @ H)
    # Chwialkowski et al. (2014): W_t = a W_{t-1} + sqrt(1 - a^2) eps_t, a = exp(-1/l),
    # W_1 = eps_1; the bootstrap uses the centred multipliers W - mean(W).
    eps = np.random.default_rng(seed).standard_normal((B, n))
    a = math.exp(-1 / length)
    W = np.empty((B, n))
    W[:, 0] = eps[:, 0]
    for t in range(1, n):
        W[:, t] = a * W[:, t - 1] + math.sqrt(1 - a * a) * eps[:, t]
    Wc = W - W.mean(axis=1, keepdims=True)
    # the variance correction: 1 / (mean variance of the centred multipliers) = n / tr(HCH)
    t = np.arange(n)
    C = a ** np.abs(t[:, None] - t[None, :])
    c = n / np.trace(H @ C @ H)
    null = c * np.einsum("bi,ij,bj->b", Wc, M, Wc) / n**2
    np.testing.assert_allclose(res.null_distribution, null, rtol=1e-9)
    observed = ref.hsic_biased(K, L)
    assert res.statistic == pytest.approx(observed, rel=1e-10)
    assert res.pvalue == (1 + np.sum(null >= observed * (1 - 1e-9))) / (1 + B)
    assert res.info["n_resamples"] == B and res.info["length"] == length
    assert res.info["length_rule"] == "given"
    assert res.info["variance_correction"] == pytest.approx(c, rel=1e-12)
    assert "n_resamples=30" in str(res) and "method='wild_bootstrap'" in str(res)


def test_variance_correction_against_the_centred_covariance():
    for n, length in [(5, 1.0), (40, 5.0), (300, 20.0), (200, 34.2)]:
        t = np.arange(n)
        C = np.exp(-np.abs(t[:, None] - t[None, :]) / length)
        H = np.eye(n) - 1.0 / n
        expected = n / np.trace(H @ C @ H)
        assert variance_correction(n, length) == pytest.approx(expected, rel=1e-12)
        if n > 200:
            continue
        # the centred multipliers, rescaled, have unit average variance
        W = multiplier_process(np.random.default_rng(n), 10000, n, length)
        Wc = W - W.mean(axis=1, keepdims=True)
        assert np.mean(Wc.var(axis=0)) * variance_correction(n, length) == pytest.approx(
            1.0, abs=0.03
        )


def test_choose_length_rule_by_hand():
    # l = min(max(2 rho / (0.05 (1 - rho^2)), sqrt(n)), n^(2/3)), rho = clip(r_x) clip(r_y)
    assert choose_length(400, 0.0, 0.9) == 20.0  # rho = 0: the floor sqrt(400)
    assert choose_length(400, -0.3, 0.9) == 20.0  # negative autocorrelations count as 0
    rho = 0.7 * 0.8
    assert choose_length(1000, 0.7, 0.8) == pytest.approx(2 * rho / (0.05 * (1 - rho**2)))
    assert choose_length(300, 1.0, 1.0) == pytest.approx(300 ** (2 / 3))  # capped, rho <= .99^2
    assert choose_length(100, 0.7, 0.8, bias=0.1) == pytest.approx(2 * rho / (0.1 * (1 - rho**2)))


def test_leading_component_autocorrelation_against_numpy_eigh(rng):
    n = 150
    x = _ar1(rng, n, phi=0.8)
    y = rng.normal(size=n)
    H = np.eye(n) - 1.0 / n
    Kc, Lc = (H @ ref.gaussian_gram(v, ref.median_bandwidth(v)) @ H for v in (x, y))
    got = leading_component_autocorrelation(Kc, Lc)
    for A, r in zip((Kc, Lc), got, strict=True):
        vals, vecs = np.linalg.eigh(A)
        u = vecs[:, -1]
        assert vals[-1] > 1.5 * vals[-2]  # a clear leading component, so 50 iterations suffice
        assert r == pytest.approx(np.sum(u[1:] * u[:-1]) / np.sum(u * u), abs=1e-3)
    assert got[0] > 0.5 and abs(got[1]) < 0.3  # slow for the AR(1) series, not for white noise


def test_default_length_follows_the_rule(rng):
    n = 120
    x, y = _ar1(rng, n, phi=0.8), _ar1(rng, n, phi=0.5)
    res = hsic.test(x, y, method=hsic.WildBootstrap(n_resamples=20), rng=0, dtype="float64")
    info = res.info
    assert info["length_rule"] == "data"
    assert info["length"] == pytest.approx(
        choose_length(n, info["autocorrelation_x"], info["autocorrelation_y"])
    )
    assert math.sqrt(n) <= info["length"] <= n ** (2 / 3)
    assert info["variance_correction"] == pytest.approx(
        variance_correction(n, info["length"])
    )
    # the explicit override gives the same null as the default when it names the same length
    given = hsic.test(
        x, y, method=hsic.WildBootstrap(n_resamples=20, length=info["length"]), rng=0,
        dtype="float64",
    )
    np.testing.assert_allclose(given.null_distribution, res.null_distribution, rtol=1e-12)


def test_multiplier_process_is_a_stationary_ar1():
    W = multiplier_process(np.random.default_rng(0), 4000, 60, 10.0)
    assert W.shape == (4000, 60)
    np.testing.assert_allclose(W.var(axis=0).mean(), 1.0, atol=0.03)
    lag = np.mean([np.corrcoef(W[:, t], W[:, t + 3])[0, 1] for t in range(0, 57, 5)])
    assert lag == pytest.approx(math.exp(-3 / 10), abs=0.03)


def test_seed_and_batching(rng):
    x, y = _ar1(rng, 50), _ar1(rng, 50)
    a = hsic.test(x, y, method=hsic.WildBootstrap(n_resamples=40), rng=1)
    b = hsic.test(x, y, method=hsic.WildBootstrap(n_resamples=40, batch_size=7), rng=1)
    np.testing.assert_allclose(a.null_distribution, b.null_distribution, rtol=1e-6)
    c = hsic.test(x, y, method=hsic.WildBootstrap(n_resamples=40), rng=2)
    assert not np.allclose(a.null_distribution, c.null_distribution)


def _rates(replications, n, seed, B, phi):
    rng = np.random.default_rng(seed)
    wild = perm = 0
    for r in range(replications):
        x, y = _ar1(rng, n, phi), _ar1(rng, n, phi)  # independent, each autocorrelated
        wild += hsic.test(x, y, method=hsic.WildBootstrap(n_resamples=B), rng=r).pvalue <= ALPHA
        perm += hsic.test(x, y, method=hsic.Permutation(n_resamples=B), rng=r).pvalue <= ALPHA
    return wild, perm


def _permutation_over_rejects(perm, replications, significance=1e-3):
    # permutations, which break the serial dependence, over-reject
    test = scipy.stats.binomtest(perm, replications, ALPHA, alternative="greater")
    assert test.pvalue < significance, perm / replications


def test_level_fast_phi_05():
    # Bounded CI version: 200 independent pairs of AR(1) series (phi = 0.5, n = 150).
    replications = 200
    wild, perm = _rates(replications, 150, seed=5, B=99, phi=0.5)
    ref.assert_calibrated(wild, replications)
    _permutation_over_rejects(perm, replications, significance=0.01)  # 20 of 200 rejected


@pytest.mark.slow
def test_level_slow_phi_05():
    replications = 600
    wild, perm = _rates(replications, 300, seed=6, B=199, phi=0.5)
    ref.assert_calibrated(wild, replications)
    _permutation_over_rejects(perm, replications)


@pytest.mark.slow
def test_level_slow_phi_08():
    # Strong autocorrelation: permutations reject about half of the independent pairs.
    replications = 600
    wild, perm = _rates(replications, 300, seed=7, B=199, phi=0.8)
    ref.assert_calibrated(wild, replications)
    _permutation_over_rejects(perm, replications)


def test_detects_dependence(rng):
    detected = 0
    for r in range(10):
        x = _ar1(rng, 200)
        y = np.sin(x) + 0.5 * _ar1(rng, 200)  # dependent, both autocorrelated
        res = hsic.test(x, y, method=hsic.WildBootstrap(n_resamples=199), rng=r)
        detected += res.pvalue <= ALPHA
    assert detected >= 9


@pytest.mark.parametrize(
    "options, kwargs, match",
    [
        (dict(length=0), {}, "`length` must be a positive finite"),
        (dict(length=-3.0), {}, "or None to choose it from the data; got -3.0"),
        (dict(length=True), {}, "`length` must be a positive"),
        (dict(length=float("inf")), {}, "`length` must be a positive"),
        (dict(length="20"), {}, "`length` must be a positive"),
        (dict(n_resamples=0), {}, "`n_resamples` must be a positive integer; got 0"),
        (dict(batch_size=0), {}, "`batch_size` must be a positive integer; got 0"),
        ({}, dict(mesh=object()),
         "`devices`/`mesh` are not supported by method='wild_bootstrap'"),
    ],
)
def test_bad_arguments(rng, options, kwargs, match):
    x = rng.normal(size=20)
    with pytest.raises(ValueError, match=match):
        hsic.test(x, x**2, method=hsic.WildBootstrap(**options), **kwargs)
