"""Calibration: under independence, tests reject at rate alpha (within a binomial 99% interval).

The fast versions run in CI; the ``slow`` ones (``pytest -m slow``) use more replications.
"""

import numpy as np
import pytest
import reference as ref

import hsic

ALPHA = 0.05


def _rejections(method, replications, n, seed, **kwargs):
    rng = np.random.default_rng(seed)
    rejected = 0
    for r in range(replications):
        x = rng.normal(size=(n, 2))
        y = rng.standard_t(df=3, size=n)  # heavy-tailed, independent of x
        res = hsic.test(x, y, method=method, seed=r, **kwargs)
        rejected += res.pvalue <= ALPHA
    return rejected


@pytest.mark.parametrize(
    "method, kwargs", [("permutation", dict(n_permutations=99)), ("gamma", {})]
)
def test_level_fast(method, kwargs):
    replications = 400
    ref.assert_calibrated(_rejections(method, replications, 50, seed=1, **kwargs), replications)


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, n, kwargs",
    [
        ("permutation", 30, dict(n_permutations=199)),
        ("permutation", 200, dict(n_permutations=299)),
        ("gamma", 100, {}),
        ("gamma", 300, {}),
    ],
)
def test_level_slow(method, n, kwargs):
    replications = 1000
    ref.assert_calibrated(_rejections(method, replications, n, seed=2, **kwargs), replications)
