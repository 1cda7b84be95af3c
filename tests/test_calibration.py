"""Calibration: under independence, tests reject at rate alpha (within a binomial 99% interval).

The fast versions run in CI; the ``slow`` ones (``pytest -m slow``) use more replications.
"""

import numpy as np
import pytest
import reference as ref

import hsic

ALPHA = 0.05


def _rejections(method, replications, n, seed):
    rng = np.random.default_rng(seed)
    rejected = 0
    for r in range(replications):
        x = rng.normal(size=(n, 2))
        y = rng.standard_t(df=3, size=n)  # heavy-tailed, independent of x
        res = hsic.test(x, y, method=method, rng=r)
        rejected += res.pvalue <= ALPHA
    return rejected


@pytest.mark.parametrize(
    "method", [hsic.Permutation(n_resamples=99), hsic.Gamma()], ids=["permutation", "gamma"]
)
def test_level_fast(method):
    replications = 400
    ref.assert_calibrated(_rejections(method, replications, 50, seed=1), replications)


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, n",
    [
        pytest.param(hsic.Permutation(n_resamples=199), 30, id="permutation-30"),
        pytest.param(hsic.Permutation(n_resamples=299), 200, id="permutation-200"),
        pytest.param(hsic.Gamma(), 100, id="gamma-100"),
        pytest.param(hsic.Gamma(), 300, id="gamma-300"),
    ],
)
def test_level_slow(method, n):
    replications = 1000
    ref.assert_calibrated(_rejections(method, replications, n, seed=2), replications)
