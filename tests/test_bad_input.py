"""No silent wrong answers from extreme or ill-suited input (issue 18).

* Every method of ``hsic.test`` gives the same statistic and p-value when x is multiplied by
  10^k (k from −30 to 30), in float32 and float64: the distance kernels compute on data and
  bandwidth scaled by a power of two, so nothing overflows or underflows; a fixed bandwidth is
  read in the data's own units.
* A non-finite statistic or null value never becomes a p-value: every method of ``hsic.test``,
  ``joint_test``, ``conditional_test`` and ``pairwise`` raises a ``ValueError`` that says why.
* Values beyond float32's range, bfloat16 input, a delta kernel on continuous data, transposed
  input, more permutations than n!, KCI beyond memory, discrete data in KSG, and the names of a
  DataFrame's columns in errors.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hsic
import hsic.mi
from hsic._stats.distances import pair_sq_dists, safe_sqrt, unit_scale

N = 40
METHODS = {
    "permutation": hsic.Permutation(n_resamples=60),
    "gamma": hsic.Gamma(),
    "aggregated": hsic.Aggregated(n_resamples=40, n_resamples_level=40),
    "aggregated_incomplete": hsic.AggregatedIncomplete(n_resamples=40, n_resamples_level=40),
    "wild_bootstrap": hsic.WildBootstrap(n_resamples=60),
    "rff": hsic.RFF(n_features=20, n_resamples=60),
    "rff_permutation": hsic.RFF(n_features=20, n_resamples=60, null="permutation"),
    "nystrom": hsic.Nystrom(n_features=10, n_resamples=60),
    "block": hsic.Block(),
}
#: The default run's sample of k (every sign and magnitude; the full sweep is marked slow).
SAMPLE_K = (-30, -20, -12, -5, 5, 12, 19, 25, 30)


def _pair(seed=0, dependent=True):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, 2))
    noise = rng.normal(size=(N, 1))
    return x, (np.sin(2 * x[:, :1]) + 0.5 * noise if dependent else noise)


def _check_scale_invariance(name, dtype, ks):
    x, y = _pair()
    method = METHODS[name]
    base = hsic.test(x, y, method=method, rng=3, dtype=dtype)
    assert np.isfinite(base.statistic)
    rel = 1e-4 if dtype == "float32" else 1e-9
    for k in ks:
        res = hsic.test(x * 10.0**k, y, method=method, rng=3, dtype=dtype)
        assert res.statistic == pytest.approx(base.statistic, rel=rel), k
        assert res.pvalue == pytest.approx(base.pvalue, rel=rel, abs=1e-12), k
        # the kernel is reported in x's own units
        if hasattr(res.kernel_x, "bandwidth"):
            assert res.kernel_x.bandwidth == pytest.approx(
                base.kernel_x.bandwidth * 10.0**k, rel=1e-5
            ), k


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_is_scale_invariant(name, dtype):
    _check_scale_invariance(name, dtype, SAMPLE_K)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_is_scale_invariant_full_sweep(name, dtype):
    _check_scale_invariance(name, dtype, [k for k in range(-30, 31) if k])


@pytest.mark.parametrize("k", [-25, 19, 30])
def test_scaled_data_no_longer_get_the_smallest_pvalue(k):
    # Independent data: before, x·1e-20 or x·1e19 in float32 gave a NaN statistic and the
    # p-value 1/(1 + B) of the strongest dependence; aggregated gave 1.
    x, y = _pair(seed=5, dependent=False)
    for name in ("permutation", "wild_bootstrap", "aggregated"):
        base = hsic.test(x, y, method=METHODS[name], rng=1)
        res = hsic.test(x * 10.0**k, y, method=METHODS[name], rng=1)
        assert np.isfinite(res.statistic) and res.pvalue == pytest.approx(base.pvalue)
        assert res.pvalue > 0.05


def test_statistic_at_extreme_scales_matches_a_numpy_reference():
    # Independent reference: HSIC_b = tr(KHLH)/n² in float64 NumPy on the unscaled data.
    x, y = _pair(seed=2)
    sx, sy = 0.9, 1.3

    def gaussian(a, s):
        d = ((a[:, None, :] - a[None, :, :]) ** 2).sum(-1)
        return np.exp(-d / (2 * s * s))

    H = np.eye(N) - 1.0 / N
    want = np.trace(gaussian(x, sx) @ H @ gaussian(y, sy) @ H) / N**2
    for k in (-30, -19, 0, 19, 30):
        got = hsic.hsic(
            x * 10.0**k, y, kernel_x=hsic.kernels.Gaussian(sx * 10.0**k),
            kernel_y=hsic.kernels.Gaussian(sy),
        )
        assert float(got) == pytest.approx(want, rel=2e-5), k


@pytest.mark.parametrize("kernel", [hsic.kernels.Gaussian, hsic.kernels.Laplace])
@pytest.mark.parametrize("dims", [1, 3, 12])
def test_gram_is_bit_for_bit_the_unscaled_formula_on_ordinary_data(kernel, dims):
    # The power-of-two scaling is exact: ordinary data give exactly today's Gram matrices.
    rng = np.random.default_rng(dims)
    x = jnp.asarray(rng.normal(size=(50, dims)) * 3 + 5, dtype=jnp.float32)
    z = x[:17]
    shift = jnp.mean(x, axis=0)
    for sigma in (0.37, 2.5, 11.0):
        s = jnp.float32(sigma)
        if kernel is hsic.kernels.Gaussian:
            def old(a, b, sh, s=s):
                return jnp.exp(-pair_sq_dists(a, b, sh) / (2.0 * s * s))
        else:
            def old(a, b, sh, s=s):
                return jnp.exp(-safe_sqrt(pair_sq_dists(a, b, sh)) / s)
        k = kernel(bandwidth=sigma)
        new = jax.jit(lambda k, a, b, sh: k.gram(a, b, shift=sh))
        np.testing.assert_array_equal(new(k, x, None, None), jax.jit(old)(x, None, None))
        np.testing.assert_array_equal(new(k, z, x, shift), jax.jit(old)(z, x, shift))


def test_traced_median_heuristic_is_scale_invariant():
    # Under jax.jit the median heuristic runs in float32 JAX: its squared distances are taken
    # on data brought to a unit spread first, so x·1e19 no longer overflows them.
    x, y = _pair(seed=7)
    x = np.column_stack([x, x[:, :1] ** 2]).astype(np.float32)
    statistic = jax.jit(lambda a, b: hsic.hsic(a, b))
    want = float(hsic.hsic(x, y))
    for k in (-25, 19, 30):
        got = float(statistic(x * np.float32(10.0**k), y.astype(np.float32)))
        assert got == pytest.approx(want, rel=1e-4), k


def test_unit_scale_is_a_power_of_two():
    for dtype in (np.float32, np.float64):
        for value in (1e-30, 3e-9, 0.75, 1.0, 1.5, 7.0, 1e19, 2.0**-126):
            s = float(unit_scale(np.asarray(value, dtype)))
            assert math.frexp(s)[0] == 0.5  # an exact power of two
            assert 1.0 <= value * s < 2.0, (dtype, value)


def test_fixed_bandwidth_is_read_in_the_data_units():
    x, y = _pair(seed=4)
    base = hsic.test(x, y, kernel_x=hsic.kernels.Gaussian(0.8), rng=0)
    for k in (-28, 22):
        res = hsic.test(x * 10.0**k, y, kernel_x=hsic.kernels.Gaussian(0.8 * 10.0**k), rng=0)
        assert res.statistic == pytest.approx(base.statistic, rel=1e-4)
        assert res.pvalue == base.pvalue
        assert res.kernel_x.bandwidth == pytest.approx(0.8 * 10.0**k)


def test_joint_and_pairwise_are_scale_invariant():
    x, y = _pair(seed=6)
    z = np.cos(x[:, 1])
    base = hsic.joint_test([x, y, z], method=hsic.Permutation(n_resamples=50), rng=0)
    pair = hsic.pairwise(np.column_stack([x, y]), method="gamma")
    for k in (-25, 25):
        res = hsic.joint_test([x * 10.0**k, y, z], method=hsic.Permutation(n_resamples=50),
                              rng=0)
        assert res.statistic == pytest.approx(base.statistic, rel=1e-4)
        assert res.pvalue == base.pvalue
        scaled = hsic.pairwise(np.column_stack([x * 10.0**k, y]), method="gamma")
        np.testing.assert_allclose(scaled.pvalue, pair.pvalue, rtol=1e-3)


# ---------------------------------------------------------------------------------------------
# A non-finite statistic or null raises, in every test
# ---------------------------------------------------------------------------------------------

NON_FINITE = r"is nan, so it has no p-value: the kernel computations overflowed"


@pytest.mark.parametrize(
    "name", ["permutation", "gamma", "wild_bootstrap", "nystrom", "block"]
)
def test_non_finite_statistic_raises_for_linear_kernel_methods(name):
    # A linear kernel on values near 1e30 overflows float32: the Gram matrix holds inf.
    x, y = _pair()
    with pytest.raises(ValueError, match=NON_FINITE):
        hsic.test(x * 1e30, y, method=METHODS[name], kernel_x="linear")


def test_non_finite_statistic_raises_for_aggregated():
    # A bandwidth 1e-30 beside distances of order 1 (2-D data) overflows the distances.
    x, y = _pair()
    with pytest.raises(ValueError, match=NON_FINITE):
        # the factor grid scales the kernel's bandwidth (the default collection ignores it)
        grid = hsic.Aggregated(
            n_resamples=40, n_resamples_level=40, bandwidth_factors=(0.25, 0.5, 1, 2, 4)
        )
        hsic.test(x, y, method=grid, kernel_x=hsic.kernels.Gaussian(1e-30))


@pytest.mark.parametrize("name", ["rff", "rff_permutation"])
def test_non_finite_statistic_raises_for_rff(name):
    # frequencies 1e30 against values 1e10: the random features' arguments overflow
    x, y = _pair()
    with pytest.raises(ValueError, match=NON_FINITE):
        hsic.test(x * 1e10, y, method=METHODS[name], kernel_x=1e-30)


@pytest.mark.parametrize("method", ["permutation", "bootstrap", "gamma"])
def test_non_finite_statistic_raises_in_joint_test(method):
    x, y = _pair()
    with pytest.raises(ValueError, match=NON_FINITE):
        hsic.joint_test([x * 1e30, y, y**2], kernels="linear", method=method)


@pytest.mark.parametrize("method", ["permutation", "gamma"])
def test_non_finite_statistic_raises_in_pairwise_naming_the_pair(method):
    pd = pytest.importorskip("pandas")
    x, y = _pair()
    frame = pd.DataFrame({"height": y[:, 0], "mass": x[:, 0] * 1e30})
    with pytest.raises(ValueError, match=r"statistic of the pair 'height', 'mass' is nan"):
        hsic.pairwise(frame, kernel_x="linear", method=method)


@pytest.mark.parametrize("null", ["gamma", "hbe", "simulated"])
def test_non_finite_statistic_raises_in_conditional_test(null):
    # KCI (float64, standardised data): a polynomial kernel of degree 400 overflows float64.
    rng = np.random.default_rng(0)
    z = rng.normal(size=60)
    x, y = z + rng.normal(size=60), z + rng.normal(size=60)
    kernel = hsic.kernels.Polynomial(degree=400)
    with pytest.raises(ValueError, match=NON_FINITE):
        hsic.conditional_test(x, y, z, method=hsic.KCI(null=null), kernel_x=kernel)


def test_rcit_non_finite_statistic_raises(monkeypatch):
    from hsic._api import conditional

    real = conditional._rcit_core

    def broken(*args):
        out = real(*args)
        return (jnp.full_like(out[0], jnp.nan),) + tuple(out[1:])

    monkeypatch.setattr(conditional, "_rcit_core", broken)
    rng = np.random.default_rng(0)
    x, y, z = rng.normal(size=(3, 60))
    with pytest.raises(ValueError, match="ridge regression"):
        hsic.conditional_test(x, y, z, method="rcit")


def test_pvalue_layer_refuses_non_finite_values():
    from hsic._nulls.pvalues import Outcome, permutation_pvalue, pvalues_against

    null = np.array([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=NON_FINITE):
        permutation_pvalue(null, float("nan"))
    with pytest.raises(ValueError, match="1 of the 3 null values .* not finite"):
        permutation_pvalue(np.array([0.1, np.inf, 0.3]), 0.2)
    with pytest.raises(ValueError, match="is inf, so it has no p-value"):
        pvalues_against(null[:, None], np.array([[np.inf]]))
    with pytest.raises(ValueError, match=NON_FINITE):
        Outcome(float("nan"), 0.01, None, {})
    assert permutation_pvalue(null, 0.2) == 0.75  # finite values pass


# ---------------------------------------------------------------------------------------------
# Misleading errors and advice
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factor", "match"),
    [
        (1e200, r"`x` holds values up to 2.*e\+200 in magnitude \(column 0\), beyond the range "
                r"of float32 .* overflow to inf. Pass dtype='float64', or rescale `x`"),
        (1e-200, r"`x` holds values of at most .*e-200 in magnitude \(column 0\), below the "
                 r"range of float32 .* Pass dtype='float64', or rescale `x`"),
    ],
)
def test_values_beyond_float32_range(factor, match):
    x, y = _pair()
    with pytest.raises(ValueError, match=match):
        hsic.test(x * factor, y)
    with pytest.raises(ValueError, match=match.replace("`x`", "`X`")):
        hsic.pairwise(x * factor, y)
    res = hsic.test(x * factor, y, dtype="float64", method="gamma")  # float64 holds them
    assert res.pvalue == pytest.approx(hsic.test(x, y, dtype="float64", method="gamma").pvalue)


def test_bfloat16_input_is_accepted():
    x, y = _pair()
    xb = jnp.asarray(x, dtype=jnp.bfloat16)
    res = hsic.test(xb, y, method="gamma")
    want = hsic.test(np.asarray(xb.astype(jnp.float32)), y, method="gamma")
    assert res.pvalue == want.pvalue


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (np.array(["a", "b"] * 20), r"must hold numbers: floats \(float16, bfloat16, float32 "
                                    r"or float64\), integers or bools; got dtype <U1\. For "
                                    r"categories \(strings\), convert them to integer codes"),
        (np.arange(40).astype("datetime64[s]"), r"got dtype datetime64\[s\]\. Convert times"),
        (np.zeros(40, dtype=[("a", float)]), r"integers or bools; got dtype \[\('a', '<f8'\)\]\.$"),
    ],
)
def test_non_numeric_input_gets_fitting_advice(data, match):
    with pytest.raises(ValueError, match=match):
        hsic.test(data, np.arange(40.0))


def test_delta_kernel_on_continuous_data_warns():
    x, y = _pair()
    with pytest.warns(RuntimeWarning, match=r"kernel 'delta' on `x`: 40 of its 40 samples have "
                                            r"a value that no other sample has \(continuous"):
        res = hsic.test(x[:, 0], y, kernel_x="delta")
    assert res.pvalue == 1.0  # what the warning explains
    labels = np.repeat(np.arange(4), 10)  # categories with several samples each: no warning
    hsic.test(labels, y, kernel_x="delta")


@pytest.mark.parametrize(
    ("xs", "match"),
    [
        ({"x": (3, 40), "y": (40,)}, r"got 3 and 40\. `x` has shape \(3, 40\): was it passed "
                                     r"transposed\? Samples are rows: .* e\.g\. `x\.T`"),
        ({"x": (40, 2), "y": (2, 40)}, r"got 40 and 2\. `y` has shape \(2, 40\): was it"),
        ({"x": (2, 40), "y": (3, 40)}, r"`x` has shape \(2, 40\) and `y` has shape \(3, 40\): "
                                       r"were they passed transposed\?"),
    ],
)
def test_transposed_input_gets_a_hint(xs, match):
    rng = np.random.default_rng(0)
    x, y = (rng.normal(size=shape) for shape in xs.values())
    with pytest.raises(ValueError, match=match):
        hsic.test(x, y)


def test_transposed_hint_in_joint_conditional_and_pairwise():
    rng = np.random.default_rng(0)
    a, wide = rng.normal(size=40), rng.normal(size=(2, 40))
    with pytest.raises(ValueError, match=r"`xs\[1\]` has shape \(2, 40\): was it passed"):
        hsic.joint_test([a, wide])
    with pytest.raises(ValueError, match=r"`z` has shape \(2, 40\): was it passed"):
        hsic.conditional_test(a, a**2, wide)
    with pytest.raises(ValueError, match=r"`Y` has shape \(2, 40\): was it passed"):
        hsic.pairwise(rng.normal(size=(40, 3)), wide)
    with pytest.raises(ValueError, match=r"same number of samples \(rows\); got 40 and 39\.$"):
        hsic.test(a, a[:39])  # no hint where nothing looks transposed


def test_more_permutations_than_n_factorial_warns():
    x, y = _pair()
    x, y = x[:6], y[:6]
    with pytest.warns(UserWarning, match=r"`n_resamples`=1000 exceeds the 720 distinct "
                                         r"permutations of n=6 samples \(n!\)"):
        hsic.test(x, y, method=hsic.Permutation(n_resamples=1000))
    with pytest.warns(UserWarning, match=r"exceeds the 720 distinct"):
        hsic.pairwise(np.column_stack([x, y]), method=hsic.Permutation(n_resamples=1000))
    with pytest.warns(UserWarning, match=r"exceeds the 14400 distinct .*\(\(n!\)\^2\)"):
        hsic.joint_test([x[:5], y[:5], y[:5]], method=hsic.Permutation(n_resamples=15_000))
    with pytest.warns(UserWarning, match=r"`n_resamples_level`=800 exceeds the 720"):
        hsic.test(x, y, method=hsic.Aggregated(n_resamples=700, n_resamples_level=800))


def test_huge_n_resamples_warns_before_running(monkeypatch):
    # B = 10^12 at n = 10 would run for days: the warning comes first.
    from hsic._api import test as test_module

    def stop(*args, **kwargs):
        raise RuntimeError("ran")

    monkeypatch.setattr(test_module, "gram_permutation_null", stop)
    x, y = _pair()
    with pytest.warns(UserWarning, match=r"exceeds the 3628800 distinct"):
        with pytest.raises(RuntimeError, match="ran"):
            hsic.test(x[:10], y[:10], method=hsic.Permutation(n_resamples=10**12))


def test_kci_memory_guard_points_to_rcit():
    # n = 10⁶: twelve n × n float64 matrices are 89 TiB; the guard trips before allocating.
    n = 10**6
    t = np.arange(n, dtype=np.float64)
    with pytest.raises(ValueError, match=r"method='kci' with n=1000000 needs about .* GiB .* "
                                         r"Use method='rcit' or 'rcot'"):
        hsic.conditional_test(np.sin(t), np.cos(t), t % 7)


def test_ksg_refuses_discrete_data_and_offers_jitter():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=600)
    y = (x + rng.integers(0, 2, size=600)) % 3  # MI = log 3 − log 2 = 0.405 nats
    with pytest.raises(ValueError, match=r"ksg: 600 of 600 points have at least k=3 exact "
                                         r"duplicates .* look discrete .* Pass jitter=1e-10 "
                                         r"with dtype='float64'"):
        hsic.mi.ksg(x, y)
    with pytest.raises(ValueError, match=r"even after adding noise .* vanished in the rounding "
                                         r"to float32"):
        hsic.mi.ksg(x, y, jitter=1e-10, dtype="float32")
    value = hsic.mi.ksg(x, y, jitter=1e-10, dtype="float64", rng=1)
    assert value == pytest.approx(math.log(3) - math.log(2), abs=0.05)
    assert value <= math.log(3)
    # scikit-learn's estimator, which jitters the same way, agrees closely
    sklearn = pytest.importorskip("sklearn.feature_selection")
    theirs = sklearn.mutual_info_regression(
        x[:, None].astype(float), y.astype(float), n_neighbors=3, random_state=0
    )[0]
    assert value == pytest.approx(theirs, abs=0.05)
    with pytest.raises(ValueError, match=r"`jitter` must be a positive number"):
        hsic.mi.ksg(x, y, jitter=0.0)


def test_ksg_jitter_is_reproducible_and_small():
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=300), 1)
    y = x + np.round(rng.normal(size=300), 1)
    a = hsic.mi.ksg(x, y, jitter=1e-10, dtype="float64", rng=5)
    assert a == hsic.mi.ksg(x, y, jitter=1e-10, dtype="float64", rng=5)
    from hsic.mi._ksg import _jittered

    noisy = _jittered(x[:, None], 1e-10, np.random.default_rng(0))
    assert np.max(np.abs(noisy[:, 0] - x)) < 1e-8 * max(x.std(), np.abs(x).mean())


def test_dataframe_column_names_in_errors():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(40, 3)), columns=["age", "income", "score"])
    frame.loc[7, "income"] = np.nan
    with pytest.raises(ValueError, match=r"`X` must be finite; .* row 7, column 'income'"):
        hsic.pairwise(frame)
    frame.loc[7, "income"] = 1.0
    frame["score"] = 2.0
    with pytest.raises(ValueError, match=r"Column 'score' of `X` is constant"):
        hsic.pairwise(frame)
    with pytest.raises(ValueError, match=r"row 3, column 'b'"):
        hsic.test(pd.DataFrame({"a": np.arange(40.0), "b": np.where(np.arange(40) == 3,
                                                                       np.inf, 1.0)}),
                  np.arange(40.0))
    with pytest.raises(ValueError, match=r"got dtype object \(column 'city' has dtype "):
        hsic.pairwise(pd.DataFrame({"a": np.arange(10.0), "city": list("abcdefghij")}))
