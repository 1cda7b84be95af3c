"""hsic.losses: values against NumPy transcriptions of the published formulas and against the
package's own estimators, gradients against central finite differences (float64), finite
gradients on coincident and constant batches for every kernel, jit / vmap, the batch median
(no gradient, no recompilation), float32 stability, the HBaR regulariser and bad inputs."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from support import count_compilations

import hsic
from hsic import losses
from hsic.bottleneck import bottleneck_gram, layer_hsic
from hsic.kernels import Delta, Gaussian, Laplace, Linear, Polynomial, Precomputed

PAIR_LOSSES = {
    "hsic": losses.hsic,
    "nhsic": losses.nhsic,
    "nocco": losses.nocco,
    "hsic_unbiased": losses.hsic_unbiased,
}


# ---- independent references (float64 NumPy) -------------------------------------------------


def laplace_gram(a, sigma):
    return np.exp(-np.sqrt(ref.pairwise_sq_dists(a)) / sigma)


def nocco_ref(K, L, epsilon):
    """Fukumizu et al. 2008: tr(R_K R_L), R = K̄(K̄ + εnI)⁻¹, K̄ = HKH."""
    n = len(K)
    H = np.eye(n) - np.ones((n, n)) / n

    def R(G):
        Gc = H @ G @ H
        return Gc @ np.linalg.inv(Gc + epsilon * n * np.eye(n))

    return np.trace(R(K) @ R(L))


REFERENCE = {
    "hsic": ref.hsic_biased,
    "nhsic": ref.cka,
    "hsic_unbiased": ref.hsic_unbiased,
    "nocco": lambda K, L: nocco_ref(K, L, 1e-5),
}


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def sample(seed=0, m=40, d=3):
    """A dependent pair: y is a noisy nonlinear function of x."""
    r = np.random.default_rng(seed)
    x = r.normal(size=(m, d))
    y = np.sin(2.0 * x[:, :1]) + 0.3 * r.normal(size=(m, 2))
    return x, y


# ---- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize("measure", list(PAIR_LOSSES))
def test_values_match_numpy_transcriptions(measure, x64):
    x, y = sample()
    cases = [  # (kernel_x, kernel_y, K, L) with the references' Gram matrices
        (Gaussian(1.3), Gaussian(0.7), ref.gaussian_gram(x, 1.3), ref.gaussian_gram(y, 0.7)),
        ("gaussian", "gaussian", ref.gaussian_gram(x, ref.median_bandwidth(x)),
         ref.gaussian_gram(y, ref.median_bandwidth(y))),
        (Laplace(2.0), Laplace("median", factor=0.5), laplace_gram(x, 2.0),
         laplace_gram(y, 0.5 * ref.median_bandwidth(y))),
        (Gaussian("sqrt_dim", factor=5.0), "linear", ref.gaussian_gram(x, 5.0 * math.sqrt(3)),
         y @ y.T),
        (Polynomial(degree=3, scale=0.5), Linear(), (0.5 * x @ x.T + 1.0) ** 3, y @ y.T),
    ]
    for kx, ky, K, L in cases:
        ours = float(PAIR_LOSSES[measure](x, y, kernel_x=kx, kernel_y=ky))
        # NOCCO inverts K̄ + εmI, whose condition number reaches 1/ε: a looser tolerance
        rel = 1e-7 if measure == "nocco" else 1e-9
        assert ours == pytest.approx(REFERENCE[measure](K, L), rel=rel, abs=1e-12), (kx, ky)


def test_delta_kernel_on_labels_and_a_precomputed_gram(x64):
    x, _ = sample()
    labels = np.arange(40) % 3
    Ly = (labels[:, None] == labels[None, :]).astype(float)
    K = ref.gaussian_gram(x, 1.0)
    ours = losses.hsic(x, labels, kernel_x=Gaussian(1.0), kernel_y=Delta())
    assert float(ours) == pytest.approx(ref.hsic_biased(K, Ly), rel=1e-10)
    ours = losses.nhsic(K, labels, kernel_x=Precomputed(), kernel_y="delta")
    assert float(ours) == pytest.approx(ref.cka(K, Ly), rel=1e-10)


@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "linear", Gaussian(0.8)])
def test_equal_to_the_package_estimators(kernel, x64):
    """Where they overlap, the losses are hsic.hsic, hsic.nhsic and the Gram-matrix functions."""
    x, y = sample(1, m=60)
    kw = {"kernel_x": kernel, "kernel_y": kernel}
    # hsic.hsic takes the median on the host (from the differences), the losses in JAX (from
    # the expansion): the same rule, equal bandwidths to ~1e-10
    rel = 1e-8
    assert float(losses.hsic(x, y, **kw)) == pytest.approx(float(hsic.hsic(x, y, **kw)), rel=rel)
    assert float(losses.hsic_unbiased(x, y, **kw)) == pytest.approx(
        float(hsic.hsic(x, y, estimator="unbiased", **kw)), rel=rel
    )
    assert float(losses.nhsic(x, y, **kw)) == pytest.approx(float(hsic.nhsic(x, y, **kw)),
                                                            rel=rel)
    K, L = Gaussian(1.1).gram(x), Gaussian(1.1).gram(y)
    got = losses.nocco(K, L, kernel_x="precomputed", kernel_y="precomputed", epsilon=1e-3)
    assert float(got) == pytest.approx(float(hsic.nocco_from_gram(K, L, epsilon=1e-3)), rel=1e-9)


def test_sqrt_dim_is_the_bottleneck_width():
    """Gaussian("sqrt_dim", factor=σ) is the bottleneck's σ·√d kernel: nocco and nhsic equal
    the bottleneck objective's terms on images (trailing axes flattened)."""
    r = np.random.default_rng(3)
    z = r.normal(size=(32, 4, 4, 2)).astype(np.float32)
    x = r.normal(size=(32, 28, 28, 1)).astype(np.float32)
    k = Gaussian("sqrt_dim", factor=5.0)
    assert k.fit(z.reshape(32, -1)).bandwidth == 5.0 * math.sqrt(32)
    assert Laplace("sqrt_dim").fit(np.ones(7)).bandwidth == 1.0  # 1-D: d = 1
    # the rule is the kernels': hsic.hsic takes it too
    fixed = float(hsic.hsic(z[:, 0, 0], x[:, 0, :3, 0], kernel_y=Gaussian(5.0 * math.sqrt(3))))
    rule = float(hsic.hsic(z[:, 0, 0], x[:, 0, :3, 0], kernel_y=k))
    assert rule == fixed
    Kz, Kx = bottleneck_gram(z, sigma=5.0), bottleneck_gram(x, sigma=5.0)
    for measure, norm in (("nocco", "nocco"), ("nhsic", "cka"), ("hsic", "hsic")):
        ours = PAIR_LOSSES[measure](z, x, kernel_x=k, kernel_y=k)
        assert float(ours) == pytest.approx(float(layer_hsic(Kz, Kx, normalisation=norm)),
                                            rel=1e-6)


# ---- gradients ----------------------------------------------------------------------------------

FD_KERNELS = [
    (Gaussian(1.2), Gaussian(0.9)),
    (Laplace(1.5), Gaussian("sqrt_dim", factor=1.0)),
    (Polynomial(degree=2, scale=0.3), Linear()),
]


#: NOCCO's finite differences: (h, atol relative to the gradient's scale). NOCCO inverts
#: K̄ + εmI (condition number up to 1/ε = 1e5), so its rounding error swamps a step of 1e-6
#: (measured: max error 5e-6 at h = 1e-6, 1e-7 at h = 1e-4, on a gradient of scale 1.6).
NOCCO_FD = (1e-4, 1e-6)


def central_difference(f, args, h=1e-6):
    """∂f/∂a for every entry of every argument, by central differences."""
    grads = []
    for i, a in enumerate(args):
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            plus, minus = [list(args) for _ in range(2)]
            ap, am = a.copy(), a.copy()
            ap[idx] += h
            am[idx] -= h
            plus[i], minus[i] = ap, am
            g[idx] = (float(f(*plus)) - float(f(*minus))) / (2 * h)
        grads.append(g)
    return grads


@pytest.mark.parametrize("measure", list(PAIR_LOSSES))
@pytest.mark.parametrize("kernels", FD_KERNELS, ids=["gaussian", "laplace-sqrtdim", "poly-lin"])
def test_gradients_match_finite_differences(measure, kernels, x64):
    x, y = sample(2, m=8, d=2)
    kx, ky = kernels
    f = jax.jit(lambda a, b: PAIR_LOSSES[measure](a, b, kernel_x=kx, kernel_y=ky))
    gx, gy = jax.grad(f, argnums=(0, 1))(x, y)
    h, atol = NOCCO_FD if measure == "nocco" else (1e-6, 1e-7)
    fx, fy = central_difference(f, (x, y), h=h)
    scale = max(np.abs(fx).max(), np.abs(fy).max())
    assert scale > 1e-6  # not a vacuous comparison
    np.testing.assert_allclose(np.asarray(gx), fx, rtol=1e-5, atol=atol * scale)
    np.testing.assert_allclose(np.asarray(gy), fy, rtol=1e-5, atol=atol * scale)


@pytest.mark.parametrize("measure", list(PAIR_LOSSES))
def test_hbar_gradient_matches_finite_differences(measure, x64):
    """The regulariser of a two-layer network, differentiated in its weights."""
    r = np.random.default_rng(4)
    x = r.normal(size=(10, 3))
    labels = np.arange(10) % 3
    w1, w2 = r.normal(size=(3, 4)), r.normal(size=(4, 2))
    k = Gaussian("sqrt_dim", factor=1.0)

    def reg(w1, w2):
        z1 = jnp.tanh(x @ w1)
        z2 = z1 @ w2
        return losses.hbar(x, labels, [z1, z2], lambda_x=0.7, lambda_y=2.0, measure=measure,
                           kernel_x=k, kernel_y=k, kernel_z=k, num_classes=3)

    g1, g2 = jax.grad(jax.jit(reg), argnums=(0, 1))(w1, w2)
    h, atol = NOCCO_FD if measure == "nocco" else (1e-6, 1e-7)
    f1, f2 = central_difference(jax.jit(reg), (w1, w2), h=h)
    scale = max(np.abs(f1).max(), np.abs(f2).max())
    np.testing.assert_allclose(np.asarray(g1), f1, rtol=1e-5, atol=atol * scale)
    np.testing.assert_allclose(np.asarray(g2), f2, rtol=1e-5, atol=atol * scale)


ALL_KERNELS = {
    "gaussian-median": Gaussian(),
    "gaussian-fixed": Gaussian(1.0),
    "laplace-median": Laplace(),
    "laplace-fixed": Laplace(1.0),
    "linear": Linear(),
    "polynomial": Polynomial(degree=3),
    "delta": Delta(),
    "precomputed": Precomputed(),
}
DISTANCE_KERNELS = [k for k in ALL_KERNELS if k.startswith(("gaussian", "laplace"))]


def degenerate_batches(name, d):
    """A batch with two coincident samples (rows 0 and 1), and a constant batch."""
    r = np.random.default_rng(5)
    x = r.normal(size=(16, d)).astype(np.float32)
    x[1] = x[0]
    constant = np.full((16, d), 0.7, np.float32)
    if name == "delta":  # labels, several samples each (as the delta kernel expects)
        x = (np.arange(16) % 4).astype(np.float32)[:, None].repeat(d, 1)
    if name == "precomputed":
        return np.asarray(Gaussian(1.0).gram(x)), np.ones((16, 16), np.float32)
    return x, constant


# Distance kernels take two paths: 1-D data from the differences, d > 1 from the expansion.
NAN_CASES = [("gaussian-median", 3), ("gaussian-fixed", 1), ("laplace-median", 1),
             ("laplace-median", 3), ("laplace-fixed", 3)]
NAN_CASES += [(k, 3) for k in ALL_KERNELS if k not in DISTANCE_KERNELS]


@pytest.mark.parametrize("name, d", NAN_CASES)
def test_no_nan_gradient_on_coincident_or_constant_batches(name, d):
    """Every loss, with every kernel, on a batch with two equal samples and on a constant
    batch, against a random batch and against itself. (The four losses are summed: a NaN in
    any of their values or gradients makes the sum's NaN.)"""
    kernel = ALL_KERNELS[name]
    coincident, constant = degenerate_batches(name, d)
    y = np.random.default_rng(6).normal(size=(16, 2)).astype(np.float32)

    def total(a, b, kernel_y):
        return sum(f(a, b, kernel_x=kernel, kernel_y=kernel_y) for f in PAIR_LOSSES.values())

    against_y = jax.jit(jax.value_and_grad(lambda a, b: total(a, b, "gaussian"), argnums=(0, 1)))
    against_self = jax.jit(jax.value_and_grad(lambda a, b: total(a, b, kernel), argnums=(0, 1)))
    cases = [(against_y, coincident, y), (against_y, constant, y),
             (against_self, coincident, coincident), (against_self, constant, constant),
             (against_self, coincident, constant)]
    for f, a, b in cases:
        value, grads = f(a, b)
        assert np.isfinite(float(value)), name
        for g in grads:
            assert np.all(np.isfinite(np.asarray(g))), name


@pytest.mark.parametrize("measure", list(PAIR_LOSSES))
def test_constant_batch_gives_zero_and_a_zero_gradient(measure):
    """A constant batch holds no information: its centred Gram matrix is 0, so is the loss
    (for every measure but the unbiased one, whose U-centring of a constant matrix is 0 too),
    and so is its gradient."""
    x = np.full((16, 3), 2.0, np.float32)
    y = np.random.default_rng(7).normal(size=(16, 2)).astype(np.float32)
    value, g = jax.value_and_grad(PAIR_LOSSES[measure])(x, y)
    assert abs(float(value)) < 1e-6
    assert float(jnp.abs(g).max()) == 0.0


def test_hbar_no_nan_gradient_on_degenerate_layers():
    x = np.random.default_rng(8).normal(size=(16, 3)).astype(np.float32)
    labels = np.arange(16) % 2

    def reg(w):
        z_dead = jnp.maximum(x @ w - 100.0, 0.0)  # a dead ReLU layer: constant 0
        z_same = jnp.tile((x[:1] @ w), (16, 1))  # every sample mapped to one point
        return losses.hbar(x, labels, [z_dead, z_same, x @ w], lambda_y=10.0,
                           measure="nhsic", kernel_z="laplace")

    g = jax.grad(reg)(jnp.ones((3, 4)))
    assert np.all(np.isfinite(np.asarray(g)))


# ---- jit, vmap, the median ----------------------------------------------------------------------


@pytest.mark.parametrize("measure", list(PAIR_LOSSES))
def test_jit_and_vmap(measure):
    f = PAIR_LOSSES[measure]
    r = np.random.default_rng(9)
    xs = r.normal(size=(3, 24, 2)).astype(np.float32)
    ys = np.sin(xs) + 0.1 * r.normal(size=xs.shape).astype(np.float32)
    eager = np.array([float(f(a, b)) for a, b in zip(xs, ys, strict=True)])
    np.testing.assert_allclose(np.asarray(jax.vmap(f)(xs, ys)), eager, rtol=2e-5, atol=1e-7)
    np.testing.assert_allclose(float(jax.jit(f)(xs[0], ys[0])), eager[0], rtol=2e-5)
    grads = jax.vmap(jax.grad(f))(xs, ys)
    assert grads.shape == xs.shape and np.all(np.isfinite(np.asarray(grads)))


@pytest.mark.parametrize("kernel", [Gaussian(), Laplace(factor=2.0)])
def test_median_bandwidth_sends_no_gradient(kernel, x64):
    """The gradient with the batch median is that with the median held fixed: the median is
    computed under stop_gradient (the finite-difference gradient, which moves it, differs)."""
    x, y = sample(10, m=20)
    sigma = kernel.factor * float(jax.jit(hsic.kernels.median_distance)(x))
    fixed = type(kernel)(bandwidth=sigma)
    g_median = jax.grad(losses.hsic)(x, y, kernel_x=kernel)
    g_fixed = jax.grad(losses.hsic)(x, y, kernel_x=fixed)
    np.testing.assert_allclose(np.asarray(g_median), np.asarray(g_fixed), rtol=1e-10)
    assert float(losses.hsic(x, y, kernel_x=kernel)) == pytest.approx(
        float(losses.hsic(x, y, kernel_x=fixed)), rel=1e-12
    )
    f = lambda a: losses.hsic(a, y, kernel_x=kernel)  # noqa: E731
    (fd,) = central_difference(f, (x,))
    assert np.abs(fd - np.asarray(g_median)).max() > 1e-3 * np.abs(fd).max()


@pytest.mark.parametrize("measure", list(PAIR_LOSSES))
def test_no_recompilation_across_batches_of_one_shape(measure):
    """A new batch of the same shape reuses the compiled code, eagerly and inside jit, with the
    batch median (data-dependent) and with a new fixed bandwidth (a traced leaf)."""
    f = PAIR_LOSSES[measure]
    r = np.random.default_rng(11)
    batches = [(r.normal(size=(32, 3)).astype(np.float32) * s,
                r.normal(size=(32, 2)).astype(np.float32)) for s in (1.0, 5.0, 0.2)]
    traces = [0]

    def step(x, y, sigma):
        traces[0] += 1
        return jax.value_and_grad(f)(x, y, kernel_y=Gaussian(sigma))

    step_jit = jax.jit(step)
    jax.block_until_ready((f(*batches[0]), jax.grad(f)(*batches[0]), step_jit(*batches[0], 1.0)))
    with count_compilations() as count:
        for (x, y), sigma in zip(batches[1:], (2.0, 3.0), strict=True):
            jax.block_until_ready((f(x, y), jax.grad(f)(x, y), step_jit(x, y, sigma)))
    assert count[0] == 0
    assert traces[0] == 1


# ---- float32 -------------------------------------------------------------------------------------


def float32_gap(measure, m):
    """The float32 value, its float64 value, the scale they are compared on, and whether the
    float32 gradient is finite."""
    r = np.random.default_rng(12)
    x = r.normal(size=(m, 8))
    y = np.tanh(x[:, :2] @ np.ones((2, 3))) + 0.5 * r.normal(size=(m, 3))
    f = PAIR_LOSSES[measure]
    kw = {"kernel_x": Gaussian("sqrt_dim", factor=1.0), "kernel_y": Gaussian("sqrt_dim")}
    value32, g32 = jax.value_and_grad(f)(x.astype(np.float32), y.astype(np.float32), **kw)
    with jax.enable_x64(True):
        value64 = float(f(x, y, **kw))
        # the unbiased estimate can be near 0: compare on the Cauchy–Schwarz scale
        scale = (math.sqrt(float(f(x, x, **kw)) * float(f(y, y, **kw)))
                 if measure in ("hsic", "hsic_unbiased") else abs(value64))
    return float(value32), value64, scale, bool(np.all(np.isfinite(np.asarray(g32))))


@pytest.mark.parametrize("measure", list(PAIR_LOSSES))
@pytest.mark.parametrize("m", [32, 512])
def test_float32_agrees_with_float64(measure, m):
    value32, value64, scale, finite = float32_gap(measure, m)
    assert finite
    assert abs(value32 - value64) <= 2e-4 * scale, (value32, value64)


@pytest.mark.slow
@pytest.mark.parametrize("measure", list(PAIR_LOSSES))
def test_float32_agrees_with_float64_at_4096(measure):
    value32, value64, scale, finite = float32_gap(measure, 4096)
    assert finite
    assert abs(value32 - value64) <= 1e-3 * scale, (value32, value64)


# ---- the HBaR regulariser -----------------------------------------------------------------------


@pytest.mark.parametrize("measure", list(PAIR_LOSSES))
def test_hbar_is_the_sum_over_layers(measure, x64):
    r = np.random.default_rng(13)
    x = r.normal(size=(20, 5))
    labels = np.arange(20) % 4
    onehot = np.eye(4)[labels]
    layers = [np.tanh(x @ r.normal(size=(5, 6))), r.normal(size=(20, 2, 3))]
    k = Gaussian(1.5)
    f = PAIR_LOSSES[measure]
    by_hand = sum(0.3 * float(f(z, x, kernel_x=k, kernel_y=k))
                  - 4.0 * float(f(z, onehot, kernel_x=k, kernel_y=k)) for z in layers)
    for y in (labels, onehot):
        got = losses.hbar(x, y, layers, lambda_x=0.3, lambda_y=4.0, measure=measure,
                          kernel_x=k, kernel_y=k, kernel_z=k)
        assert float(got) == pytest.approx(by_hand, rel=1e-10)
    # the published formula itself, for the biased measure
    if measure == "hsic":
        K, L = ref.gaussian_gram(x, 1.5), ref.gaussian_gram(onehot, 1.5)
        Ks = [ref.gaussian_gram(z, 1.5) for z in layers]
        expected = sum(0.3 * ref.hsic_biased(K, Kz) - 4.0 * ref.hsic_biased(L, Kz) for Kz in Ks)
        assert by_hand == pytest.approx(expected, rel=1e-9)


def test_hbar_under_jit_needs_num_classes():
    x = np.random.default_rng(14).normal(size=(16, 3)).astype(np.float32)
    labels = np.arange(16) % 4
    eager = losses.hbar(x, labels, [x ** 2])
    jitted = jax.jit(lambda x, y: losses.hbar(x, y, [x ** 2], num_classes=4))(x, labels)
    assert float(jitted) == pytest.approx(float(eager), rel=1e-5)
    with pytest.raises(ValueError, match=r"`num_classes` is needed for integer labels"):
        jax.jit(lambda x, y: losses.hbar(x, y, [x ** 2]))(x, labels)


# ---- bad inputs ---------------------------------------------------------------------------


def test_bad_inputs_name_the_argument():
    x = np.ones((8, 2))
    cases = [
        (lambda: losses.hsic_unbiased(x[:3], x[:3]),
         r"`x` must have at least 4 samples \(rows\) for hsic_unbiased .*got a batch of 3"),
        (lambda: losses.hsic(x[:1], x[:1]), r"`x` must have at least 2 samples"),
        (lambda: losses.hsic(x, x[:6]), r"`y` and `x` must have the same batch size .*6 and 8"),
        (lambda: losses.nocco(x, x, epsilon=0.0), r"`epsilon` must be a positive finite"),
        (lambda: losses.nhsic(np.float32(1.0), x), r"`x` must be a batch .* got a 0-D array"),
        (lambda: losses.hsic(x, np.ones((0, 2))), r"`y` is an empty batch"),
        (lambda: losses.hsic(x, x, kernel_x="rbf"), r"`kernel_x` must be one of 'gaussian'"),
        (lambda: losses.hsic(x, x, kernel_y=Precomputed()), r"`y` must be a square \(m, m\)"),
        (lambda: losses.hsic(np.array(["a"] * 8), x), r"`x` must hold real numbers"),
        (lambda: losses.hbar(x, x, [x, np.float32(2.0)]),
         r"`layers\[1\]` must be a batch .* got a 0-D array"),
        (lambda: losses.hbar(x, x, [x, x[:5]]),
         r"`layers\[1\]` and `x` must have the same batch size .*5 and 8"),
        (lambda: losses.hbar(x, x[:7], [x]), r"`y` and `x` must have the same batch size"),
        (lambda: losses.hbar(x, x, []), r"`layers` must be a non-empty list"),
        (lambda: losses.hbar(x, x, x), r"`layers` must be .*\(write \[z\] for one layer\)"),
        (lambda: losses.hbar(x, x, [x], measure="cka"), r"`measure` must be one of 'hsic'"),
        (lambda: losses.hbar(x, x, [x], lambda_y=float("nan")), r"`lambda_y` must be a finite"),
        (lambda: losses.hbar(x, x, [x], num_classes=3), r"`num_classes` applies to integer"),
        (lambda: losses.hbar(x, np.arange(8), [x], num_classes=1),
         r"`num_classes` must be an integer >= 2"),
        (lambda: losses.hbar(x, x, [x[:3], x[:3]], measure="hsic_unbiased"),
         r"must have the same batch size"),
        (lambda: losses.hbar(x[:3], x[:3], [x[:3]], measure="hsic_unbiased"),
         r"`x` must have at least 4 samples"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()
