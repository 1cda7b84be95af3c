"""Tests of hsic.mi.gaussian, histogram and kde against NumPy transcriptions of their formulas,
hand-computed cases and known MI; and of the shared input checks and units (hsic.mi._common)."""

import math

import numpy as np
import pytest

import hsic.mi
from hsic.mi._common import check_pair, to_base


def gaussian_data(n, rng, dims=(1, 1), rho=0.8):
    task = hsic.mi.tasks.multinormal(*dims, rho=rho, sparse=True)
    return task, *task.sample(n, rng=rng)


# --- gaussian ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dims", [(1, 1), (2, 3), (4, 2)])
def test_gaussian_equals_logdet_formula(dims):
    # Exact on the sample covariance: I = ½ (log det S_xx + log det S_yy − log det S).
    _, x, y = gaussian_data(400, rng=1, dims=dims)
    s = np.cov(np.hstack([x, y]), rowvar=False)
    p = dims[0]
    want = 0.5 * (
        np.linalg.slogdet(s[:p, :p])[1] + np.linalg.slogdet(s[p:, p:])[1] - np.linalg.slogdet(s)[1]
    )
    assert hsic.mi.gaussian(x, y) == pytest.approx(want, rel=1e-10)


def test_gaussian_bivariate_hand_case():
    # 1-D: I = −½ log(1 − r²) with r the sample correlation.
    _, x, y = gaussian_data(300, rng=2)
    r = np.corrcoef(x[:, 0], y[:, 0])[0, 1]
    assert hsic.mi.gaussian(x, y) == pytest.approx(-0.5 * math.log(1 - r * r), rel=1e-12)


def test_gaussian_close_to_truth_and_invariant_to_linear_maps():
    task, x, y = gaussian_data(20000, rng=3, dims=(3, 3))
    est = hsic.mi.gaussian(x, y)
    assert est == pytest.approx(task.mi, abs=0.02)
    a = np.random.default_rng(0).normal(size=(3, 3))
    assert hsic.mi.gaussian(x @ a + 5, -2 * y) == pytest.approx(est, rel=1e-9)


def test_gaussian_bad_input():
    x = np.random.default_rng(0).normal(size=(5, 3))
    with pytest.raises(ValueError, match=r"more samples than dimensions \(d_x \+ d_y = 6\); got"):
        hsic.mi.gaussian(x, x)
    x = np.random.default_rng(0).normal(size=(50, 2))
    x[:, 1] = 3.0
    with pytest.raises(ValueError, match=r"`x` has a constant column or linearly dependent"):
        hsic.mi.gaussian(x, x[:, :1] + 1)
    with pytest.raises(ValueError, match=r"`base` must be None"):
        hsic.mi.gaussian(x[:, :1], x[:, :1], base=0)


# --- histogram --------------------------------------------------------------------------------


def histogram_reference_1d(x, y, bins):
    """Plug-in MI with numpy.histogram2d on equal-width bins over each sample range."""
    counts, _, _ = np.histogram2d(x, y, bins=bins)
    p = counts / counts.sum()
    px, py = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] / (px @ py)[nz])))


@pytest.mark.parametrize("bins", [2, 7, 20])
def test_histogram_matches_histogram2d(bins):
    _, x, y = gaussian_data(1000, rng=4)
    got = hsic.mi.histogram(x, y, bins=bins)
    assert got == pytest.approx(histogram_reference_1d(x[:, 0], y[:, 0], bins), rel=1e-10)


def test_histogram_matches_histogramdd_multivariate():
    _, x, y = gaussian_data(800, rng=5, dims=(2, 2))
    bins = 4
    joint, _ = np.histogramdd(np.hstack([x, y]), bins=bins)
    p = joint / joint.sum()
    px = p.sum(axis=(2, 3))[:, :, None, None]
    py = p.sum(axis=(0, 1))[None, None, :, :]
    nz = p > 0
    want = np.sum(p[nz] * np.log(p[nz] / (px * py)[nz]))
    assert hsic.mi.histogram(x, y, bins=bins) == pytest.approx(want, rel=1e-10)


def test_histogram_hand_cases():
    # Two equally likely cells on the diagonal: one bit. A 2x2 table with cells (3, 1 / 1, 3)
    # over 8 samples: I = Σ p log(p / (px py)) = 2·(3/8) log(3/2) + 2·(1/8) log(1/2).
    x = np.array([0.0, 0.0, 1.0, 1.0])
    assert hsic.mi.histogram(x, x, bins=2, base=2) == pytest.approx(1.0)
    a = np.array([0, 0, 0, 0, 1, 1, 1, 1.0])
    b = np.array([0, 0, 0, 1, 1, 1, 1, 0.0])
    want = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert hsic.mi.histogram(a, b, bins=2) == pytest.approx(want, rel=1e-12)


def test_histogram_auto_bins_and_bad_bins():
    _, x, y = gaussian_data(1000, rng=6)
    # auto: floor(1000 ** (1/4)) = 5 bins per coordinate
    assert hsic.mi.histogram(x, y) == pytest.approx(hsic.mi.histogram(x, y, bins=5))
    for bad in (1, 0, 2.5, "fd", True):
        with pytest.raises(ValueError, match=r"`bins` must be an integer >= 2 or 'auto'"):
            hsic.mi.histogram(x, y, bins=bad)


# --- kde --------------------------------------------------------------------------------------


def kde_reference(x, y, h):
    """Leave-one-out Gaussian KDE resubstitution MI, transcribed with explicit kernel sums."""

    def loo_log_density(u, bw):
        n, d = u.shape
        sq = ((u[:, None, :] - u[None, :, :]) ** 2).sum(axis=2)
        kern = np.exp(-sq / (2 * bw * bw)) / (2 * np.pi * bw * bw) ** (d / 2)
        np.fill_diagonal(kern, 0.0)
        return np.log(kern.sum(axis=1) / (n - 1))

    z = lambda a: (a - a.mean(0)) / a.std(0)  # noqa: E731
    x, y = z(x), z(y)
    xy = np.hstack([x, y])
    return np.mean(loo_log_density(xy, h[0]) - loo_log_density(x, h[1]) - loo_log_density(y, h[2]))


@pytest.mark.parametrize("dims", [(1, 1), (2, 1)])
def test_kde_matches_transcription(dims):
    _, x, y = gaussian_data(300, rng=7, dims=dims)
    n = 300
    scott = [n ** (-1 / (d + 4)) for d in (sum(dims), dims[0], dims[1])]
    assert hsic.mi.kde(x, y) == pytest.approx(kde_reference(x, y, scott), rel=1e-9)
    assert hsic.mi.kde(x, y, bandwidth=0.4) == pytest.approx(
        kde_reference(x, y, [0.4] * 3), rel=1e-9
    )


def test_kde_close_to_truth():
    task, x, y = gaussian_data(2000, rng=8)
    assert hsic.mi.kde(x, y) == pytest.approx(task.mi, abs=0.06)


def test_kde_bad_input():
    _, x, y = gaussian_data(50, rng=0)
    for bad in (0, -1.0, float("nan"), "silverman", True):
        with pytest.raises(ValueError, match=r"`bandwidth` must be 'scott' or a positive number"):
            hsic.mi.kde(x, y, bandwidth=bad)
    with pytest.raises(ValueError, match=r"`y` has a constant column"):
        hsic.mi.kde(x, np.ones(50))
    with pytest.raises(ValueError, match=r"kde needs at least 3 samples; got n=2"):
        hsic.mi.kde(x[:2], y[:2])


# --- all estimators ---------------------------------------------------------------------------

ESTIMATORS = {
    "ksg": hsic.mi.ksg,
    "gaussian": hsic.mi.gaussian,
    "histogram": hsic.mi.histogram,
    "kde": hsic.mi.kde,
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_near_zero_on_independent_data(name):
    # Under independence: |estimate| below a small bound (histogram's plug-in bias is about
    # (bins − 1)²/(2n) = 16/2000 nats here, so it gets the same bound).
    x, y = hsic.mi.tasks.independent(1, 1).sample(1000, rng=3)
    assert abs(ESTIMATORS[name](x, y)) < 0.03


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_units_and_shared_checks(name):
    _, x, y = gaussian_data(300, rng=9)
    f = ESTIMATORS[name]
    assert f(x, y, base=2) == pytest.approx(f(x, y) / math.log(2), rel=1e-6)
    with pytest.raises(ValueError, match=r"same number of samples \(rows\); got 300 and 299"):
        f(x, y[:299])
    bad = x.copy()
    bad[3] = np.inf
    with pytest.raises(ValueError, match=r"`x` must be finite"):
        f(bad, y)
    with pytest.raises(ValueError, match=r"`y` must hold numbers"):
        f(x, np.array(["a"] * 300))


def test_common_helpers():
    x, y = check_pair([1, 2, 3], [[1.0], [2.0], [4.0]])
    assert x.dtype == np.float64 and x.shape == (3, 1) and isinstance(x, np.ndarray)
    with pytest.raises(ValueError, match=r"MI estimation needs at least 2 samples; got n=1"):
        check_pair([1.0], [2.0])
    assert to_base(math.log(8), 2) == pytest.approx(3.0)
    assert to_base(1.5, None) == 1.5
    with pytest.raises(ValueError, match=r"`base` must be None \(nats\)"):
        to_base(1.0, float("inf"))
