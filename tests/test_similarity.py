"""hsic.similarity: CKA from features against NumPy transcriptions of the Gram-space formulas,
the invariances of linear CKA (Kornblith et al. 2019), the minibatch estimator of Nguyen et al.
(2021), the heatmap, and the errors on bad input."""

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

import hsic
from hsic.similarity import CKAMatrixResult, cka, cka_matrix

# ---- independent references: NumPy transcriptions of the Gram-space formulas (float64) ----


def hsic_biased_ref(K, L):
    """Gretton et al. (2005): tr(K H L H) / n²."""
    n = len(K)
    H = np.eye(n) - 1.0 / n
    return np.trace(K @ H @ L @ H) / n**2


def hsic_unbiased_ref(K, L):
    """Song et al. (2012), eq. 5, term by term on the zero-diagonal Gram matrices."""
    n = len(K)
    Kt, Lt = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    one = np.ones(n)
    return (
        np.trace(Kt @ Lt)
        + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * (one @ Kt @ Lt @ one)
    ) / (n * (n - 3))


def cka_ref(K, L, estimator="biased"):
    h = hsic_biased_ref if estimator == "biased" else hsic_unbiased_ref
    return h(K, L) / np.sqrt(h(K, K) * h(L, L))


def linear_gram(x, dtype=np.float64):
    """``XXᵀ`` of the flattened activations, in ``dtype``."""
    x = np.asarray(x, dtype=dtype).reshape(len(x), -1)
    return x @ x.T


def gaussian_gram(x, sigma):
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    sq = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    return np.exp(-sq / (2.0 * sigma**2))


@pytest.fixture
def pair(rng):
    a = rng.normal(size=(300, 12))
    b = np.tanh(a @ rng.normal(size=(12, 9))) + 0.3 * rng.normal(size=(300, 9))
    return a, b


ESTIMATORS = ["biased", "unbiased"]


# ---- linear CKA: feature space against Gram space ----


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_feature_space_linear_cka_equals_gram_space(pair, estimator):
    a, b = pair
    expected = cka_ref(linear_gram(a), linear_gram(b), estimator)
    assert float(cka(a, b, estimator=estimator)) == pytest.approx(expected, rel=2e-5)
    with jax.enable_x64(True):
        got = float(cka(a, b, estimator=estimator, dtype="float64"))
    assert got == pytest.approx(expected, rel=1e-11)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_feature_space_equals_gram_space_with_offsets_and_wide_layers(rng, estimator):
    """Far from the origin (the centring matters) and wider than the sample (d > n)."""
    a = 50.0 + rng.normal(size=(40, 200))
    b = -20.0 + a[:, :30] ** 2 + rng.normal(size=(40, 30))
    # On the raw data the Gram-space formula cancels terms of ~1e17 and keeps ~7 digits, even
    # in long double; both estimators are invariant to shifting the features (the U-statistic
    # too: a shift adds f(i) + f(j) + c to K, which U-centring removes), so the precise
    # reference takes centred features.
    raw = cka_ref(linear_gram(a, np.longdouble), linear_gram(b, np.longdouble), estimator)
    expected = cka_ref(linear_gram(a - a.mean(0)), linear_gram(b - b.mean(0)), estimator)
    assert float(raw) == pytest.approx(expected, rel=1e-6)
    with jax.enable_x64(True):
        got = float(cka(a, b, estimator=estimator, dtype="float64"))
    assert got == pytest.approx(expected, rel=1e-12)
    assert float(cka(a, b, estimator=estimator)) == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_blocks_of_rows_and_padding_do_not_change_the_sums(rng, estimator):
    """The streamed sums over blocks (the last one overlapping the one before) and over padded
    rows equal those of one block over the unpadded data."""
    from hsic._stats.similarity import linear_cka_from_sums, linear_sums

    a, b = rng.normal(size=(300, 6)), rng.normal(size=(300, 4))
    a[:, 0] += b[:, 0]
    unbiased = estimator == "unbiased"
    with jax.enable_x64(True):
        one = linear_sums(jnp.asarray(a), jnp.asarray(b), 300, rows=300, unbiased=unbiased)
        padded_a = np.pad(a, ((0, 20), (0, 0)), constant_values=7.0)
        padded_b = np.pad(b, ((0, 20), (0, 0)), constant_values=-3.0)
        streamed = linear_sums(jnp.asarray(padded_a), jnp.asarray(padded_b), 300, rows=64,
                               unbiased=unbiased)
        for x, y in zip(one, streamed, strict=True):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-11, atol=1e-9)
        assert float(linear_cka_from_sums(streamed, 300, unbiased=unbiased)) == pytest.approx(
            cka_ref(linear_gram(a), linear_gram(b), estimator), rel=1e-10)


def test_jax_arrays_stay_on_device_and_agree_with_numpy(pair):
    a, b = pair
    for estimator in ESTIMATORS:
        on_host = float(cka(a, b, estimator=estimator))
        assert float(cka(jnp.asarray(a), jnp.asarray(b), estimator=estimator)) == pytest.approx(
            on_host, rel=1e-5)
        assert float(cka(jnp.asarray(a), b, estimator=estimator)) == pytest.approx(
            on_host, rel=1e-5)


def test_higher_rank_activations_are_flattened(rng):
    conv = rng.normal(size=(80, 4, 3, 3))  # (n, channels, height, width)
    dense = conv.reshape(80, -1)[:, :10] ** 2 + rng.normal(size=(80, 10))
    flat = conv.reshape(80, -1)
    assert float(cka(conv, dense)) == pytest.approx(float(cka(flat, dense)), rel=1e-6)
    assert float(cka(conv, dense)) == pytest.approx(
        cka_ref(linear_gram(flat), linear_gram(dense)), rel=2e-5)


# ---- the literature's properties of linear CKA ----


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_linear_cka_is_invariant_to_orthogonal_maps_and_isotropic_scaling(pair, rng, estimator):
    a, b = pair
    base = float(cka(a, b, estimator=estimator))
    q_a, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    q_b, _ = np.linalg.qr(rng.normal(size=(9, 9)))
    assert float(cka(a @ q_a, b @ q_b, estimator=estimator)) == pytest.approx(base, rel=1e-4)
    assert float(cka(7.5 * a, 0.01 * b, estimator=estimator)) == pytest.approx(base, rel=1e-5)
    assert float(cka(1e4 * a, 1e-4 * b, estimator=estimator)) == pytest.approx(base, rel=1e-5)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_linear_cka_is_not_invariant_to_arbitrary_invertible_maps(pair, rng, estimator):
    a, b = pair
    stretch = np.diag(np.geomspace(1.0, 100.0, 12)) @ rng.normal(size=(12, 12))
    assert abs(np.linalg.det(stretch)) > 1e-6  # invertible
    base = float(cka(a, b, estimator=estimator))
    moved = float(cka(a @ stretch, b, estimator=estimator))
    assert abs(moved - base) > 0.05
    assert moved == pytest.approx(
        cka_ref(linear_gram(a @ stretch), linear_gram(b), estimator), rel=1e-4)


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("kernel", ["linear", hsic.kernels.Gaussian(), hsic.kernels.Laplace(2.0)],
                         ids=["linear", "gaussian-median", "laplace"])
def test_cka_of_a_representation_with_itself_is_one(pair, kernel, estimator):
    a, _ = pair
    assert float(cka(a, a, kernel=kernel, estimator=estimator)) == pytest.approx(1.0, abs=1e-5)


def test_unrelated_representations_have_small_cka(rng):
    a, b = rng.normal(size=(2000, 5)), rng.normal(size=(2000, 5))
    assert float(cka(a, b)) < 0.02
    assert abs(float(cka(a, b, estimator="unbiased"))) < 0.01


# ---- other kernels: the Gram-space path ----


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_gaussian_kernel_cka_against_numpy(pair, estimator):
    a, b = pair
    kernel = hsic.kernels.Gaussian(bandwidth=3.0)
    expected = cka_ref(gaussian_gram(a, 3.0), gaussian_gram(b, 3.0), estimator)
    assert float(cka(a, b, kernel=kernel, estimator=estimator)) == pytest.approx(
        expected, rel=1e-4)
    with jax.enable_x64(True):
        got = float(cka(a, b, kernel=kernel, estimator=estimator, dtype="float64"))
    assert got == pytest.approx(expected, rel=1e-10)


def test_gaussian_median_bandwidth_is_set_per_representation(pair):
    a, b = pair
    sa = float(hsic.kernels.median_distance(a))
    sb = float(hsic.kernels.median_distance(10.0 * b))
    expected = cka_ref(gaussian_gram(a, sa), gaussian_gram(10.0 * b, sb))
    got = float(cka(a, 10.0 * b, kernel="gaussian"))
    assert got == pytest.approx(expected, rel=1e-4)


# ---- the minibatch CKA matrix ----


def minibatch_ref(layers_a, layers_b, size, gram=linear_gram):
    """Nguyen et al. (2021): the unbiased HSIC of each pair averaged over consecutive batches
    (the last one taking the remainder), then normalised."""
    n = len(layers_a[0])
    bounds = [i * size for i in range(n // size)] + [n]
    p, q = len(layers_a), len(layers_b)
    cross, self_a, self_b = np.zeros((p, q)), np.zeros(p), np.zeros(q)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        Ks = [gram(x[lo:hi]) for x in layers_a]
        Ls = [gram(y[lo:hi]) for y in layers_b]
        cross += [[hsic_unbiased_ref(K, L) for L in Ls] for K in Ks]
        self_a += [hsic_unbiased_ref(K, K) for K in Ks]
        self_b += [hsic_unbiased_ref(L, L) for L in Ls]
    return cross / np.sqrt(np.outer(self_a, self_b))


@pytest.fixture
def network(rng):
    """The layers of a small random MLP on 400 samples, and a second one."""
    x = rng.normal(size=(400, 8))
    h1 = np.maximum(x @ rng.normal(size=(8, 16)), 0.0)
    h2 = np.tanh(h1 @ rng.normal(size=(16, 6)) / 4.0)
    g1 = np.maximum(x @ rng.normal(size=(8, 10)), 0.0)
    return x, [x, h1, h2], [g1, g1**2]


def test_cka_matrix_against_the_minibatch_reference(network):
    _, layers_a, layers_b = network
    res = cka_matrix(layers_a, layers_b, batch_size=96)  # 4 batches, the last of 112 rows
    assert isinstance(res, CKAMatrixResult)
    assert res.n == 400 and res.n_batches == 4 and res.matrix.shape == (3, 2)
    np.testing.assert_allclose(res.matrix, minibatch_ref(layers_a, layers_b, 96), rtol=1e-4)
    assert res.names_a == ("0", "1", "2") and res.names_b == ("0", "1")


def test_cka_matrix_with_gaussian_kernels_against_numpy(network):
    _, layers_a, _ = network
    res = cka_matrix(layers_a, batch_size=100, kernel=hsic.kernels.Gaussian(2.0))
    ref = minibatch_ref(layers_a, layers_a, 100, gram=lambda x: gaussian_gram(x, 2.0))
    np.testing.assert_allclose(res.matrix, ref, rtol=1e-4)
    np.testing.assert_allclose(np.diag(res.matrix), 1.0, rtol=1e-6)


def test_one_batch_is_the_full_unbiased_cka(network):
    _, layers_a, layers_b = network
    res = cka_matrix(layers_a, layers_b)
    for i, a in enumerate(layers_a):
        for j, b in enumerate(layers_b):
            assert res.matrix[i, j] == pytest.approx(
                float(cka(a, b, estimator="unbiased")), rel=1e-4, abs=1e-6)


def test_minibatch_estimate_converges_to_the_full_unbiased_cka(rng):
    n = 4096
    x = rng.normal(size=(n, 6))
    y = np.sin(x @ rng.normal(size=(6, 12))) + 0.5 * rng.normal(size=(n, 12))
    full = float(cka(x, y, estimator="unbiased"))
    errors = {
        size: abs(cka_matrix([x], [y], batch_size=size).matrix[0, 0] - full)
        for size in (16, 64, 256, 1024, n)
    }
    assert errors[n] < 1e-5
    assert errors[1024] < errors[64] < errors[16]
    assert errors[1024] < errors[16] / 10 and errors[1024] < 1e-3


def test_layers_as_a_function_of_batches_equal_the_arrays(network):
    x, layers_a, layers_b = network
    index = np.arange(400)

    def net_a(rows):
        return {"x": layers_a[0][rows], "h1": layers_a[1][rows], "h2": layers_a[2][rows]}

    def net_b(rows):
        return [jnp.asarray(y[rows]) for y in layers_b]  # JAX arrays, kept on the device

    batches = [index[i : i + 100] for i in range(0, 400, 100)]
    res = cka_matrix(net_a, net_b, batches=batches, names_b=["g1", "g1^2"])
    expected = cka_matrix(layers_a, layers_b, batch_size=100)
    np.testing.assert_allclose(res.matrix, expected.matrix, rtol=1e-5)
    assert res.names_a == ("x", "h1", "h2") and res.names_b == ("g1", "g1^2")
    # a generator (no length) works too
    again = cka_matrix(net_a, net_b, batches=iter(batches))
    np.testing.assert_allclose(again.matrix, res.matrix, rtol=1e-6)


def test_progress_bar_over_batches(network, capsys):
    _, layers_a, _ = network
    cka_matrix(layers_a, batch_size=100, progress=True)
    assert "cka_matrix" in capsys.readouterr().err
    cka_matrix(layers_a, batch_size=100, progress=False)
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="`progress` must be True, False or None"):
        cka_matrix(layers_a, progress="yes")


def test_plot_cka_matrix(network, tmp_path):
    _, layers_a, layers_b = network
    res = cka_matrix({"in": layers_a[0], "h1": layers_a[1], "h2": layers_a[2]},
                     {"g1": layers_b[0], "g1^2": layers_b[1]}, batch_size=100)
    ax = res.plot()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["in", "h1", "h2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["g1", "g1^2"]
    assert len(ax.texts) == 6  # the values, written in the cells
    ax.figure.savefig(tmp_path / "cka.png")
    assert (tmp_path / "cka.png").stat().st_size > 1000
    ax2 = hsic.plot.cka_matrix(res, annotate=False)
    assert len(ax2.texts) == 0
    from matplotlib.figure import Figure

    given = Figure().add_subplot()
    backend = matplotlib.get_backend()
    assert res.plot(ax=given) is given
    assert matplotlib.get_backend() == backend


# ---- bad input ----


def test_batches_smaller_than_four_are_refused(network, rng):
    _, layers_a, _ = network
    with pytest.raises(ValueError, match="`batch_size` must be an integer >= 4; got 3"):
        cka_matrix(layers_a, batch_size=3)
    with pytest.raises(ValueError, match="`batches`: batch 1 has 3 samples.*at least 4"):
        cka_matrix(lambda rows: [layers_a[0][rows]], batches=[np.arange(10), np.arange(3)])
    with pytest.raises(ValueError, match="`a` and `b`: the unbiased estimator needs at least 4"):
        cka(rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), estimator="unbiased")
    with pytest.raises(ValueError, match="`layers_a`: batch 0 has 3 samples"):
        cka_matrix([rng.normal(size=(3, 2))])


def test_mismatched_numbers_of_samples_are_refused(rng):
    with pytest.raises(ValueError, match=r"`a` has 50, `b` has 40"):
        cka(rng.normal(size=(50, 3)), rng.normal(size=(40, 3)))
    with pytest.raises(ValueError, match="same number of samples"):
        cka_matrix([rng.normal(size=(50, 3))], [rng.normal(size=(40, 3))])

    def net(rows):
        return [rng.normal(size=(len(rows), 3)), rng.normal(size=(len(rows) + 1, 3))]

    with pytest.raises(ValueError, match=r"`layers_a\['1'\]` has 11"):
        cka_matrix(net, batches=[np.arange(10)])


def test_one_dimensional_layers_are_refused(rng):
    with pytest.raises(ValueError, match=r"`a` must be a layer's activations.*got 1-D"):
        cka(rng.normal(size=50), rng.normal(size=(50, 2)))
    with pytest.raises(ValueError, match=r"`b` must be a layer's.*x\[:, None\]"):
        cka(rng.normal(size=(50, 2)), jnp.zeros(50))
    with pytest.raises(ValueError, match=r"`layers_a\['1'\]` must be a layer's activations"):
        cka_matrix([rng.normal(size=(50, 2)), rng.normal(size=50)])


def test_nan_and_inf_are_refused(rng):
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    bad = a.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="`a` must be finite"):
        cka(bad, b)
    with pytest.raises(ValueError, match="`b` must be finite"):
        cka(a, jnp.asarray(bad).at[0, 0].set(jnp.inf))  # checked on the device
    with pytest.raises(ValueError, match="`b` must be finite"):
        cka(a, jnp.asarray(bad), kernel="gaussian")
    with pytest.raises(ValueError, match=r"`layers_b\['0'\]` must be finite.*in batch 1"):
        cka_matrix(lambda r: [a[r]], lambda r: [jnp.asarray(bad[r])],
                   batches=[np.arange(4), np.arange(4, 10)])


def test_other_bad_arguments(network, rng):
    _, layers_a, layers_b = network
    a = rng.normal(size=(20, 2))
    with pytest.raises(ValueError, match="`estimator` must be one of"):
        cka(a, a, estimator="block")
    with pytest.raises(ValueError, match="`kernel`='precomputed' does not apply"):
        cka(a, a, kernel="precomputed")
    with pytest.raises(ValueError, match="`kernel` must be one of"):
        cka(a, a, kernel="rbf")
    with pytest.raises(ValueError, match="`batches` is required"):
        cka_matrix(lambda rows: [a[rows]])
    with pytest.raises(ValueError, match="`batches` applies when"):
        cka_matrix(layers_a, batches=[np.arange(10)])
    with pytest.raises(ValueError, match="`layers_b` must be a function"):
        cka_matrix(lambda rows: [a[rows]], layers_b, batches=[np.arange(10)])
    with pytest.raises(ValueError, match="`names_a` must give one name per layer"):
        cka_matrix(layers_a, names_a=["x"])
    with pytest.raises(ValueError, match="`layers_a` is empty"):
        cka_matrix([])
    with pytest.raises(ValueError, match="`batches` is empty"):
        cka_matrix(lambda rows: [a[rows]], batches=[])
    with pytest.raises(ValueError, match="traced"):
        jax.jit(lambda x: cka(x, x))(jnp.asarray(a))


def test_a_constant_representation_gives_zero_with_a_warning(rng):
    a = rng.normal(size=(30, 3))
    with pytest.warns(RuntimeWarning, match="`b` is constant"):
        assert float(cka(a, np.ones((30, 2)))) == 0.0
    with pytest.warns(RuntimeWarning, match="`a` is constant"):
        assert float(cka(np.full((30, 2), 3.0), a, kernel="gaussian")) == 0.0


def test_a_new_n_in_the_same_padded_size_does_not_compile_again(rng):
    """Host arrays are padded to ``bucket_size(n)`` rows: n = 300 and 301 share one
    compilation of the feature-space sums."""
    from hsic._stats.gram import bucket_size
    from hsic._stats.similarity import linear_sums

    assert bucket_size(300) == bucket_size(301)
    cka(rng.normal(size=(300, 5)), rng.normal(size=(300, 3)))
    before = linear_sums._cache_size()
    value = float(cka(rng.normal(size=(301, 5)), rng.normal(size=(301, 3))))
    assert linear_sums._cache_size() == before
    assert 0.0 <= value < 0.1


def test_one_batch_too_large_for_memory_is_refused_before_it_is_computed(rng, monkeypatch):
    import hsic._base.validation as validation

    monkeypatch.setattr(validation, "available_memory_bytes", lambda: 10**6)
    with pytest.raises(ValueError, match="Pass a smaller `batch_size`"):
        cka_matrix([rng.normal(size=(400, 3))])
