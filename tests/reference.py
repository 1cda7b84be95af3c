"""Independent NumPy transcriptions of the published formulas, used as references by the tests.

Each function is a direct, unoptimised transcription (float64), written without looking at the
package's implementation.
"""

import numpy as np
import scipy.stats


def pairwise_sq_dists(a):
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    return ((a[:, None, :] - a[None, :, :]) ** 2).sum(-1)


def median_bandwidth(a):
    """Median Euclidean distance over distinct pairs (all rows; n <= 1000 in the tests)."""
    d = np.sqrt(pairwise_sq_dists(a))
    return np.median(d[np.triu_indices(len(d), 1)])


def gaussian_gram(a, sigma):
    return np.exp(-pairwise_sq_dists(a) / (2 * sigma**2))


def hsic_biased(K, L):
    """Gretton et al. 2005: tr(KHLH)/n²."""
    n = len(K)
    H = np.eye(n) - np.ones((n, n)) / n
    return np.trace(K @ H @ L @ H) / n**2


def hsic_unbiased(K, L):
    """Song et al. 2012, eq. 5."""
    n = len(K)
    Kt = K - np.diag(np.diag(K))
    Lt = L - np.diag(np.diag(L))
    one = np.ones(n)
    return (
        np.trace(Kt @ Lt)
        + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * one @ Kt @ Lt @ one
    ) / (n * (n - 3))


def cka(K, L):
    return hsic_biased(K, L) / np.sqrt(hsic_biased(K, K) * hsic_biased(L, L))


def hsic_test_gamma(X, Y, sig_x, sig_y):
    """Transcription of Gretton's hsicTestGamma.m (Gaussian kernels). Returns (testStat, p)."""
    m = X.shape[0]
    H = np.eye(m) - 1.0 / m * np.ones((m, m))
    K = gaussian_gram(X, sig_x)
    L = gaussian_gram(Y, sig_y)
    Kc = H @ K @ H
    Lc = H @ L @ H
    testStat = 1.0 / m * np.sum(Kc.T * Lc)
    varHSIC = (1.0 / 6 * Kc * Lc) ** 2
    varHSIC = 1.0 / m / (m - 1) * (np.sum(varHSIC) - np.sum(np.diag(varHSIC)))
    varHSIC = 72 * (m - 4) * (m - 5) / m / (m - 1) / (m - 2) / (m - 3) * varHSIC
    K = K - np.diag(np.diag(K))
    L = L - np.diag(np.diag(L))
    bone = np.ones(m)
    muX = 1.0 / m / (m - 1) * bone @ (K @ bone)
    muY = 1.0 / m / (m - 1) * bone @ (L @ bone)
    mHSIC = 1.0 / m * (1 + muX * muY - muX - muY)
    al = mHSIC**2 / varHSIC
    bet = varHSIC * m / mHSIC
    return testStat, 1.0 - scipy.stats.gamma.cdf(testStat, al, scale=bet)


def assert_calibrated(rejected: int, replications: int, alpha: float = 0.05) -> None:
    """The level ``alpha`` lies in the 99% binomial confidence interval of the rejection rate
    ``rejected / replications`` (scipy.stats.binomtest)."""
    low, high = scipy.stats.binomtest(rejected, replications, alpha).proportion_ci(0.99)
    assert low <= alpha <= high, f"rejection rate {rejected / replications:.3f}"


def pearson3_tails(null, stats):
    """Per-column upper tails of scipy's Pearson type III law with each column's mean,
    standard deviation and skewness (population moments) of ``null``: ``(m, J)``."""
    null = np.asarray(null, dtype=float)
    out = np.empty(np.shape(stats))
    for j in range(null.shape[1]):
        col = null[:, j]
        law = scipy.stats.pearson3(scipy.stats.skew(col), loc=col.mean(), scale=col.std())
        out[:, j] = law.sf(np.asarray(stats)[:, j])
    return out
