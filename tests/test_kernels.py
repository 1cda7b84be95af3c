"""The O(m log m) 1-D median heuristic (hsic.kernels): NumPy, jitted and column-batched paths
against ``np.median(scipy.spatial.distance.pdist(x))``, with ties, duplicates, the fallback and
the subsample rule."""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.spatial.distance
from hypothesis import given, settings
from hypothesis import strategies as st

from hsic import kernels
from hsic._stats import distances


def _pdist_median(x):
    """The definition: the median of the m(m−1)/2 distances between distinct rows."""
    return float(np.median(scipy.spatial.distance.pdist(np.asarray(x, np.float64)[:, None])))


def _rows(n):
    return np.linspace(0, n - 1, min(n, 1000)).round().astype(int)


_jit_median = jax.jit(kernels.median_distance)


# values on a coarse grid make ties and duplicated values likely; the pairs' median stays > 0
# as long as fewer than half the pairs are duplicates, which the strategy's `filter` ensures
_values = st.lists(
    st.one_of(st.integers(-20, 20).map(lambda v: v / 4), st.floats(-1e3, 1e3)),
    min_size=2, max_size=60,
).filter(lambda v: _pdist_median(v) > 0)


@settings(max_examples=200, deadline=None)
@given(_values)
def test_1d_median_equals_pdist_median(values):
    x = np.asarray(values)
    assert kernels.median_distance(x) == pytest.approx(_pdist_median(x), rel=1e-12)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 7, 999, 1000, 1001, 2500])
def test_1d_median_numpy_path_on_the_subsample(rng, n):
    x = 100.0 + 3.0 * rng.normal(size=n)  # an offset: the rounding stays relative to the spread
    x[: n // 3] = np.round(x[: n // 3], 1)  # some ties
    assert kernels.median_distance(x) == pytest.approx(_pdist_median(x[_rows(n)]), rel=1e-12)


@pytest.mark.parametrize("n", [7, 1001])  # 21 pairs (odd), and 1000 rows: 499 500 (even)
def test_1d_median_jax_paths_agree_with_pdist(rng, n):
    x = 100.0 + 3.0 * rng.normal(size=n)
    x[: n // 3] = np.round(x[: n // 3], 1)
    expected = _pdist_median(x[_rows(n)])
    with jax.enable_x64(True):
        traced64 = float(_jit_median(jnp.asarray(x)))
        batched64 = np.asarray(distances.median_distance_columns(jnp.asarray(np.c_[x, 2 * x]))[0])
    assert traced64 == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(batched64, [expected, 2 * expected], rtol=1e-12)
    x32 = x.astype(np.float32)
    traced32 = float(_jit_median(jnp.asarray(x32)))
    assert traced32 == pytest.approx(_pdist_median(x32[_rows(n)]), rel=1e-5)


def test_1d_median_even_and_odd_pair_counts_by_hand():
    # 4 values: 6 distances 1, 2, 3, 1, 2, 1 -> sorted 1 1 1 2 2 3, median 1.5
    assert kernels.median_distance([0.0, 1.0, 2.0, 3.0]) == 1.5
    # 3 values: 3 distances 1, 3, 4 -> median 3
    assert kernels.median_distance([5.0, 6.0, 9.0]) == 3.0
    assert float(_jit_median(jnp.asarray([5.0, 6.0, 9.0]))) == 3.0


def test_1d_median_fallback_in_every_path():
    # 30 zeros and two values: 435 zero distances of 496, so the median is 0 -> mean non-zero
    # distance: 30 pairs at 1, 30 at 3, one at 2 -> 2
    x = np.r_[np.zeros(30), [1.0, 3.0]]
    with pytest.warns(RuntimeWarning, match="median distance between samples of `x` is 0"):
        assert kernels.median_distance(x) == pytest.approx(2.0)
    assert float(_jit_median(jnp.asarray(x, jnp.float32))) == pytest.approx(2.0)
    (sigma,), (fallback,) = distances.median_distance_columns(jnp.asarray(x, jnp.float32)[:, None])
    assert bool(fallback) and float(sigma) == pytest.approx(2.0)
    sigmas, fallbacks = distances.median_distance_columns(jnp.asarray(np.c_[x, np.ones(32)]))
    np.testing.assert_allclose(np.asarray(sigmas), [2.0, 1.0], rtol=1e-6)
    assert np.asarray(fallbacks).tolist() == [True, True]


def test_batched_columns_compile_once_per_shape(rng):
    traces = []
    inner = distances.median_distance_columns.__wrapped__

    @jax.jit
    def counted(cols):
        traces.append(1)
        return inner(cols)

    a, b = rng.normal(size=(2, 50, 3))
    np.testing.assert_allclose(
        np.asarray(counted(jnp.asarray(a, jnp.float32))[0]),
        [_pdist_median(a[:, j].astype(np.float32)) for j in range(3)], rtol=1e-5,
    )
    counted(jnp.asarray(b, jnp.float32))
    assert len(traces) == 1


# ---- the two middle order statistics behind the multi-dimensional NumPy median ----


def _middle_by_sort(values):
    s = np.sort(values)
    return float(s[(len(s) - 1) // 2]), float(s[len(s) // 2])


def _middle_order_statistics(monkeypatch, values):
    """The two middle order statistics that ``median_distance_numpy`` selects from the squared
    distances of d-dimensional data, given ``values`` as those squared distances (``pdist``'s
    output replaced); read back from its median ``(√lower + √upper)/2``."""
    monkeypatch.setattr(scipy.spatial.distance, "pdist", lambda *args, **kwargs: values)
    median, fallback = distances.median_distance_numpy(np.zeros((3, 2)))
    assert not fallback
    return median


def _median_of_middle(values):
    lower, upper = _middle_by_sort(values)
    return 0.5 * (math.sqrt(lower) + math.sqrt(upper))


@pytest.mark.parametrize("size", [1, 2, 7, 4095, 4096, 124_750, 124_751])
def test_middle_order_statistics_match_a_sort(rng, monkeypatch, size):
    values = rng.exponential(size=size)
    assert _middle_order_statistics(monkeypatch, values) == _median_of_middle(values)


@pytest.mark.parametrize("case", ["ties", "sorted", "reversed", "strided_outliers", "constant"])
def test_middle_order_statistics_exact_when_the_sample_misleads(rng, monkeypatch, case):
    # every case is large enough for the sampled bracket; some make the sample unrepresentative
    # (every 32nd value an outlier), so the bracket misses and the whole array is partitioned
    size = 20_001
    values = {
        "ties": rng.integers(0, 5, size).astype(float),
        "sorted": np.sort(rng.normal(size=size)),
        "reversed": np.sort(rng.normal(size=size))[::-1].copy(),
        "strided_outliers": np.where(np.arange(size) % 32 == 0, 1e6, rng.normal(size=size)),
        "constant": np.full(size, 2.5),
    }[case]
    values = values - values.min() + 1.0  # squared distances: positive, the order kept
    assert _middle_order_statistics(monkeypatch, values) == _median_of_middle(values)


@pytest.mark.parametrize("d", [2, 5, 12])
@pytest.mark.parametrize("n", [40, 500, 1000])
def test_multid_median_equals_pdist_median_with_ties(rng, d, n):
    x = rng.integers(0, 4, size=(n, d)).astype(float)  # many duplicated distances
    expected = float(np.median(scipy.spatial.distance.pdist(x)))
    assert kernels.median_distance(x) == pytest.approx(expected, rel=1e-12)


# ---- the sampled bracket of the NumPy 1-D median (m >= 128 values) ----

_SAMPLES = {
    "normal": lambda rng, m: rng.normal(size=m),
    "cauchy": lambda rng, m: rng.standard_cauchy(size=m),
    "few_values": lambda rng, m: rng.integers(0, 5, m).astype(float),
    "far_clusters": lambda rng, m: np.r_[rng.normal(size=m // 2), 1e6 + rng.normal(size=m // 2)],
    "offset": lambda rng, m: 1e8 + rng.normal(size=m),
    "mostly_duplicates": lambda rng, m: np.r_[np.zeros(3 * m // 4), rng.normal(size=m // 4)],
}


@pytest.mark.parametrize("m", [128, 129, 500, 1000])
@pytest.mark.parametrize("sample", sorted(_SAMPLES))
def test_1d_median_bracket_gives_the_full_bisection_result(rng, sample, m):
    x = _SAMPLES[sample](rng, m)
    fast = distances.median_distance_numpy(x[:, None])
    with jax.enable_x64(True):  # the same rule, by a 63-bit bisection from [0, inf]: no bracket
        (sigma,), (fallback,) = distances.median_distance_columns(jnp.asarray(x)[:, None])
    assert bool(fallback) == fast[1]
    if fast[1]:  # the fallback's mean non-zero distance is summed in another order
        assert float(sigma) == pytest.approx(fast[0], rel=1e-12)
    else:
        assert float(sigma) == fast[0]
    if not fast[1]:
        assert fast[0] == pytest.approx(_pdist_median(x), rel=1e-12)


def _far_below_the_spread(rng, m, far, base, spacing):
    """``a`` values at ``far`` and ``m − a`` distinct ones within ``m·spacing`` of ``base``,
    ``|base| ≪ |far|``: shifted by the middle value (one at ``far``), the small distances all
    round to 0, with ``a`` the fewest for which that makes the median 0 (so the shifted
    selection loses them and the traced path redoes it with exact distances); a few exact ties
    among the small values when there are enough of them."""
    pairs = m * (m - 1) // 2
    a = next(a for a in range(m // 2 + 1, m)
             if a * (a - 1) // 2 + (m - a) * (m - a - 1) // 2 >= pairs // 2 + 1)
    small = base + spacing * rng.uniform(0.0, m, size=m - a)
    if m - a >= 8:
        small[:2] = small[2:4]  # exact ties
    return rng.permutation(np.r_[np.full(a, far), small])


@pytest.mark.parametrize(
    "far,base,spacing", [(0.25, 0.0, 1e-123), (1e8, 3.0, 1e-13), (-1e5, 1e-3, 1e-15)]
)
def test_1d_median_exact_count_equals_pdist_bit_for_bit(rng, far, base, spacing):
    # the lost-distances branch of the traced path: the exact count fl(u_j − u_i) <= t is the
    # distance pdist computes, so the median is pdist's to the last bit, whatever the offset
    for m in (7, 64, 301):
        x = _far_below_the_spread(rng, m, far, base, spacing)
        with jax.enable_x64(True):
            # the shifted selection (vmapped over columns, no redo) loses the small distances
            assert bool(distances.median_distance_columns(jnp.asarray(x)[:, None])[1][0])
            median = _jit_median(jnp.asarray(x))
        assert float(median) == _pdist_median(x) > 0
        assert kernels.median_distance(x) == _pdist_median(x)


def test_1d_median_keeps_distances_far_below_the_spread():
    # found by hypothesis: shifting by the middle value (0.25) rounds the distance 2e-123 to 0,
    # which made 11 of 21 distances look zero and triggered the fallback (the pre-existing
    # behaviour); the median is that tiny distance
    x = np.array([0.0, 0.25, 0.25, 0.25, 0.25, 0.25, 2.0465976069063437e-123])
    assert kernels.median_distance(x) == _pdist_median(x)
    with jax.enable_x64(True):  # the traced path redoes it with exact distances
        sigma = _jit_median(jnp.asarray(x))  # not the fallback (the mean non-zero distance)
        assert float(sigma) == _pdist_median(x)
        # vmapped over columns it still falls back; pairwise settles such columns on the host
        assert np.asarray(distances.median_distance_columns(jnp.asarray(x)[:, None])[1]).all()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no fallback warning
            sigma, fallback = distances.median_distance_numpy(np.asarray(x)[:, None])
        assert not fallback and sigma == _pdist_median(x)


def test_tiny_distances_in_several_dimensions_do_not_fall_back():
    # Found by the hypothesis property against pdist: shifting the rows by their mean rounded
    # the 4e-152 distances to 0, and the median heuristic fell back to 1.0 with a warning.
    x = np.array([[1.0, 0.0], [3.77890997e-152, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    expected = float(np.median(scipy.spatial.distance.pdist(x)))
    assert kernels.median_distance(x) == expected
    with jax.enable_x64(True):
        traced = jax.jit(kernels.median_distance)(jnp.asarray(x))
    assert float(traced) == pytest.approx(expected, rel=1e-12)
