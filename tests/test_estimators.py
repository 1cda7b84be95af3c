"""Estimators against NumPy transcriptions, a hand-computed case, and their properties."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st

import hsic
from hsic._stats import gram
from hsic.kernels import Gaussian, Laplace, Linear, Polynomial, Precomputed

N = 40


def _data(rng, n=N, dx=2, dy=1):
    x = rng.normal(size=(n, dx))
    y = x[:, :dy] ** 2 + 0.5 * rng.normal(size=(n, dy))
    return x, y


# ---- reference values -------------------------------------------------------------------------


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_matches_numpy_transcription_with_median_bandwidths(rng, estimator):
    x, y = _data(rng)
    K = ref.gaussian_gram(x, ref.median_bandwidth(x))
    L = ref.gaussian_gram(y, ref.median_bandwidth(y))
    expected = ref.hsic_biased(K, L) if estimator == "biased" else ref.hsic_unbiased(K, L)
    got = hsic.hsic(x, y, estimator=estimator, dtype="float64")
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(float(got), expected, rtol=1e-10)
    got32 = hsic.hsic(x, y, estimator=estimator)
    assert got32.dtype == jnp.float32
    np.testing.assert_allclose(float(got32), expected, rtol=2e-4, atol=1e-7)


def test_nhsic_matches_cka_transcription(rng):
    x, y = _data(rng)
    K = ref.gaussian_gram(x, ref.median_bandwidth(x))
    L = ref.gaussian_gram(y, ref.median_bandwidth(y))
    np.testing.assert_allclose(float(hsic.nhsic(x, y, dtype="float64")), ref.cka(K, L), rtol=1e-10)


def test_hand_computed_two_point_case():
    # x = (0, 1), y = (0, 2), σ = 1: K = [[1, a], [a, 1]] with a = e^{-1/2}, L likewise with
    # b = e^{-2}. HKH = (1 − a)/2 · [[1, −1], [−1, 1]], so tr(KHLH)/n² = (1 − a)(1 − b)/4.
    a, b = np.exp(-0.5), np.exp(-2.0)
    got = hsic.hsic([0.0, 1.0], [0.0, 2.0], kernel_x=Gaussian(1.0), kernel_y=Gaussian(1.0))
    np.testing.assert_allclose(float(got), (1 - a) * (1 - b) / 4, rtol=1e-6)
    # Linear kernel: centred x = ±1/2, y = ±1; Σ K̄∘L̄ / 4 = 4 · (1/4 · 1) / 4 = 1/4.
    got = hsic.hsic([0.0, 1.0], [0.0, 2.0], kernel_x="linear", kernel_y="linear")
    np.testing.assert_allclose(float(got), 0.25, rtol=1e-6)


@pytest.mark.parametrize(
    "kernel, gram",
    [
        (Gaussian(0.8), lambda a: ref.gaussian_gram(a, 0.8)),
        (Laplace(1.5), lambda a: np.exp(-np.sqrt(ref.pairwise_sq_dists(a)) / 1.5)),
        (Linear(), lambda a: a @ a.T),
        (Polynomial(degree=3, scale=0.5, offset=1.0), lambda a: (0.5 * a @ a.T + 1.0) ** 3),
    ],
    ids=["gaussian", "laplace", "linear", "polynomial"],
)
def test_each_kernel_matches_numpy(rng, kernel, gram):
    x, y = _data(rng)
    expected = ref.hsic_biased(gram(x), gram(y))
    got = hsic.hsic(x, y, kernel_x=kernel, kernel_y=kernel, dtype="float64")
    # 1e-8: distances come from the expansion |a|² + |b|² − 2a·b, whose rounding the Laplace
    # kernel's square root magnifies for close pairs
    np.testing.assert_allclose(float(got), expected, rtol=1e-8)


def test_delta_kernel_on_labels(rng):
    labels = rng.integers(0, 3, size=N)
    x = labels + 0.3 * rng.normal(size=N)
    L = (labels[:, None] == labels[None, :]).astype(float)
    K = ref.gaussian_gram(x, 1.0)
    got = hsic.hsic(x, labels, kernel_x=Gaussian(1.0), kernel_y="delta", dtype="float64")
    np.testing.assert_allclose(float(got), ref.hsic_biased(K, L), rtol=1e-10)


def test_precomputed_equals_data_path(rng):
    x, y = _data(rng)
    K = ref.gaussian_gram(x, 1.0)
    L = ref.gaussian_gram(y, 2.0)
    got = hsic.hsic(K, L, kernel_x="precomputed", kernel_y=Precomputed(), dtype="float64")
    direct = hsic.hsic(x, y, kernel_x=Gaussian(1.0), kernel_y=Gaussian(2.0), dtype="float64")
    np.testing.assert_allclose(float(got), float(direct), rtol=1e-10)
    np.testing.assert_allclose(float(hsic.hsic_from_gram(K, L)), ref.hsic_biased(K, L), rtol=1e-5)


# ---- dense and tiled agree ---------------------------------------------------------------------


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
@pytest.mark.parametrize("rows", [8, 64])
def test_tiled_equals_dense_over_several_tiles(rng, monkeypatch, estimator, rows):
    x, y = _data(rng, n=203)  # not a multiple of the tile: exercises padding
    x32, y32 = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    kx, ky = Gaussian().fit(x32), Laplace().fit(y32)
    dense = gram.centred_sums(x32, y32, kx, ky, estimator=estimator, algorithm="dense")
    monkeypatch.setattr(gram, "tile_rows", lambda n: rows)  # several tiles of `rows` rows
    tiled = gram.centred_sums(x32, y32, kx, ky, estimator=estimator, algorithm="tiled")
    for name in dense._fields:
        np.testing.assert_allclose(
            float(getattr(tiled, name)), float(getattr(dense, name)), rtol=2e-5, err_msg=name
        )


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_public_tiled_matches_numpy(rng, estimator):
    x, y = _data(rng, n=150)
    K = ref.gaussian_gram(x, ref.median_bandwidth(x))
    L = ref.gaussian_gram(y, ref.median_bandwidth(y))
    expected = ref.hsic_biased(K, L) if estimator == "biased" else ref.hsic_unbiased(K, L)
    got = hsic.hsic(x, y, estimator=estimator, algorithm="tiled", dtype="float64")
    np.testing.assert_allclose(float(got), expected, rtol=1e-9)
    np.testing.assert_allclose(
        float(hsic.nhsic(x, y, algorithm="tiled", dtype="float64")), ref.cka(K, L), rtol=1e-9
    )


def test_float32_stays_accurate_at_moderate_n(rng):
    n = 3000
    x = rng.normal(size=(n, 3)) + 1000.0  # far from the origin: a naive |a|²+|b|²−2ab breaks
    y = np.sin(x[:, :1]) + 0.5 * rng.normal(size=(n, 1))
    kx, ky = Gaussian(1.5), Gaussian(0.9)
    exact = hsic.hsic(x, y, kernel_x=kx, kernel_y=ky, dtype="float64")
    for algorithm in ("dense", "tiled"):
        got = hsic.hsic(x, y, kernel_x=kx, kernel_y=ky, algorithm=algorithm)
        np.testing.assert_allclose(float(got), float(exact), rtol=1e-3)


def test_auto_algorithm_rule():
    k = Gaussian(1.0)
    assert gram.choose_algorithm("auto", k, k) == "tiled"
    assert gram.choose_algorithm("dense", k, k) == "dense"
    assert gram.choose_algorithm("auto", Precomputed(), k) == "dense"
    with pytest.raises(ValueError, match="precomputed"):
        gram.choose_algorithm("tiled", Precomputed(), k)


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_dense_and_tiled_agree_through_the_api(rng, estimator):
    x, y = _data(rng, n=90)
    dense = hsic.hsic(x, y, estimator=estimator, algorithm="dense")
    tiled = hsic.hsic(x, y, estimator=estimator, algorithm="tiled")
    np.testing.assert_allclose(float(tiled), float(dense), rtol=1e-4, atol=1e-8)


# ---- properties ----------------------------------------------------------------------------------

seeds = st.integers(min_value=0, max_value=2**32 - 1)


@settings(max_examples=20, deadline=None)
@given(seed=seeds, scale=st.floats(min_value=1e-3, max_value=1e3))
def test_properties_hold_on_random_data(seed, scale):
    r = np.random.default_rng(seed)
    x = r.normal(size=(30, 2))
    y = np.tanh(x[:, :1]) + r.normal(size=(30, 1))
    h = float(hsic.hsic(x, y))
    # symmetry in x and y
    np.testing.assert_allclose(float(hsic.hsic(y, x)), h, rtol=1e-5)
    # biased HSIC >= 0
    assert h >= 0
    # invariance to permuting samples jointly
    p = r.permutation(30)
    np.testing.assert_allclose(float(hsic.hsic(x[p], y[p])), h, rtol=1e-4, atol=1e-8)
    # invariance to rescaling a variable under the median heuristic
    np.testing.assert_allclose(float(hsic.hsic(scale * x, y)), h, rtol=1e-3, atol=1e-7)
    # nhsic(x, x) = 1, and nhsic in [0, 1]
    np.testing.assert_allclose(float(hsic.nhsic(x, x)), 1.0, rtol=1e-5)
    assert 0.0 <= float(hsic.nhsic(x, y)) <= 1.0


def test_jit_equals_eager(rng):
    x, y = _data(rng)
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    for fn in (hsic.hsic, hsic.nhsic):
        eager = fn(x, y)
        jitted = jax.jit(lambda a, b, fn=fn: fn(a, b))(x, y)
        np.testing.assert_allclose(float(jitted), float(eager), rtol=1e-5)
    jitted_u = jax.jit(lambda a, b: hsic.hsic(a, b, estimator="unbiased"))(x, y)
    np.testing.assert_allclose(float(jitted_u), float(hsic.hsic(x, y, estimator="unbiased")),
                               rtol=1e-4)


def test_vmap_over_datasets(rng):
    xs = jnp.asarray(rng.normal(size=(4, N, 2)), jnp.float32)
    ys = jnp.sin(xs[..., :1]) + 0.3 * jnp.asarray(rng.normal(size=(4, N, 1)), jnp.float32)
    batched = jax.vmap(lambda a, b: hsic.hsic(a, b))(xs, ys)
    singles = [float(hsic.hsic(xs[i], ys[i])) for i in range(4)]
    np.testing.assert_allclose(np.array(batched), singles, rtol=1e-5)


def test_gradient_matches_finite_differences(rng):
    x, y = _data(rng, n=25)
    kx, ky = Gaussian(1.2), Gaussian(0.8)

    def numpy_hsic(a):
        return ref.hsic_biased(ref.gaussian_gram(a, 1.2), ref.gaussian_gram(y, 0.8))

    with jax.enable_x64(True):
        grad = np.array(jax.grad(lambda a: hsic.hsic(a, y, kernel_x=kx, kernel_y=ky))(
            jnp.asarray(x)))
    eps = 1e-6
    for i, j in [(0, 0), (3, 1), (17, 0)]:
        up, down = x.copy(), x.copy()
        up[i, j] += eps
        down[i, j] -= eps
        fd = (numpy_hsic(up) - numpy_hsic(down)) / (2 * eps)
        np.testing.assert_allclose(grad[i, j], fd, rtol=1e-5, atol=1e-10)


def test_gradient_with_median_bandwidth_is_finite(rng):
    x, y = _data(rng, n=25)
    g = jax.grad(lambda a: hsic.nhsic(a, y))(jnp.asarray(x, jnp.float32))
    assert np.all(np.isfinite(np.array(g))) and np.any(np.array(g) != 0)
    g = jax.grad(lambda a: hsic.hsic(a, y, kernel_x="laplace"))(jnp.asarray(x, jnp.float32))
    assert np.all(np.isfinite(np.array(g)))


def test_no_retrace_on_second_call_of_same_shape(rng, caplog):
    x, y = _data(rng, n=37)
    hsic.hsic(x, y)
    x2, y2 = _data(rng, n=37)
    caplog.clear()
    with caplog.at_level("WARNING"), jax.log_compiles():
        hsic.hsic(x2, y2)  # new data, new median bandwidths
        hsic.hsic(x2, y2, kernel_x=Gaussian(3.0))  # a fixed bandwidth of the same kernel type
    assert not [r for r in caplog.records if r.getMessage().startswith("Compiling")]
    # the check sees a compilation: n = 777 is padded to 832 rows, n = 37 to 48 (bucket_size);
    # a padded size no other test uses, so that the test does not depend on which ran before
    with caplog.at_level("WARNING"), jax.log_compiles():
        hsic.hsic(*_data(rng, n=777))
    assert [r for r in caplog.records if r.getMessage().startswith("Compiling")]


def test_float64_on_request_leaves_x64_mode_off(rng):
    x, y = _data(rng)
    assert hsic.hsic(x, y, dtype="float64").dtype == jnp.float64
    assert hsic.hsic(x, y).dtype == jnp.float32
    assert not jax.config.jax_enable_x64


def test_constant_variable_warns_and_gives_zero(rng):
    x = np.ones(20)
    y = rng.normal(size=20)
    with pytest.warns(RuntimeWarning, match="`x` is constant"):
        with pytest.warns(RuntimeWarning, match="median distance"):
            assert float(hsic.hsic(x, y)) == pytest.approx(0.0, abs=1e-7)
    with pytest.warns(RuntimeWarning, match="`x` is constant"):
        with pytest.warns(RuntimeWarning, match="median distance"):
            assert float(hsic.nhsic(x, y)) == 0.0


def test_inputs_of_every_container_type_agree(rng):
    pd = pytest.importorskip("pandas")
    x = rng.integers(0, 5, size=(30, 2))
    y = rng.integers(0, 2, size=30).astype(bool)
    kw = dict(kernel_y=Gaussian(1.0))  # y is binary: its median distance would be 0
    expected = float(hsic.hsic(x.astype(float), y.astype(float), **kw))
    for xx, yy in [
        (x.tolist(), y.tolist()),
        (pd.DataFrame(x, columns=["a", "b"]), pd.Series(y)),
        (jnp.asarray(x), jnp.asarray(y)),
        (x, y),
    ]:
        np.testing.assert_allclose(float(hsic.hsic(xx, yy, **kw)), expected, rtol=1e-6)


@pytest.mark.parametrize("n", [2, 3, 8, 1001, 2500])
def test_median_heuristic_traced_and_concrete_paths_agree(rng, n):
    from hsic import kernels

    x = rng.normal(size=(n, 3)) * [1.0, 5.0, 0.1]
    rows = np.linspace(0, n - 1, min(n, 1000)).round().astype(int)
    expected = ref.median_bandwidth(x[rows])
    assert kernels.median_distance(x) == pytest.approx(expected, rel=1e-12)
    traced = jax.jit(lambda a: kernels.median_distance(a))(jnp.asarray(x, jnp.float32))
    assert float(traced) == pytest.approx(expected, rel=1e-5)
    with jax.enable_x64(True):
        traced64 = jax.jit(lambda a: kernels.median_distance(a))(jnp.asarray(x))
    assert float(traced64) == pytest.approx(expected, rel=1e-10)


def test_median_fallback_rule_under_jit():
    from hsic import kernels

    x = np.r_[np.zeros(30), [1.0, 3.0]]
    with pytest.warns(RuntimeWarning, match="median distance"):
        concrete = kernels.median_distance(x)
    traced = float(jax.jit(lambda a: kernels.median_distance(a))(jnp.asarray(x, jnp.float32)))
    # non-zero distances: 30 pairs at 1, 30 at 3, one at 2 -> mean 2
    assert concrete == pytest.approx(2.0) and traced == pytest.approx(2.0, rel=1e-6)
    assert float(jax.jit(lambda a: kernels.median_distance(a))(jnp.ones(5))) == 1.0


@pytest.mark.parametrize(
    "n", [6000, pytest.param(30_000, marks=pytest.mark.slow)], ids=["6k", "30k"]
)
def test_float32_does_not_drift_from_float64_at_large_n(n):
    # The tiled sums add one partial sum per tile, over explicitly centred blocks; a naive
    # float32 accumulation of n² terms, or the expanded tr(KHLH), would drift as n grows.
    r = np.random.default_rng(n)
    x = r.normal(size=(n, 3))
    y = np.sin(x[:, :1]) + r.normal(size=(n, 1))
    kx, ky = Gaussian().fit(x), Gaussian().fit(y)
    for estimator in ("biased", "unbiased"):
        exact = float(hsic.hsic(x, y, kernel_x=kx, kernel_y=ky, estimator=estimator,
                                dtype="float64"))
        single = float(hsic.hsic(x, y, kernel_x=kx, kernel_y=ky, estimator=estimator))
        assert single == pytest.approx(exact, rel=1e-4), estimator
