"""Shapes, dtypes and BatchNorm behaviour of the bottleneck networks, and their bad inputs."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hsic import bottleneck as bt


@pytest.mark.parametrize("activation", ["relu", "tanh", "elu", "sigmoid"])
def test_mlp_shapes_dtypes(activation):
    net = bt.mlp([16, 8, 3], input_shape=(5, 5, 1), activation=activation)
    params, state = net.init(0)
    assert len(params) == len(state) == net.n_blocks == 3
    outputs, new_state = net.apply(params, state, jnp.ones((4, 5, 5, 1)), train=True)
    assert [z.shape for z in outputs] == [(4, 16), (4, 8), (4, 3)]
    assert all(z.dtype == jnp.float32 for z in outputs)
    assert jax.tree_util.tree_structure(new_state) == jax.tree_util.tree_structure(state)


def test_mlp_block_is_linear_batchnorm_activation(rng):
    """Block 0 against a NumPy transcription: act(BN(x W + b)) with batch statistics."""
    net = bt.mlp([4], input_shape=(3,), activation="tanh", batch_norm="learnable")
    params, state = net.init(1)
    params[0]["bn"] = {"scale": jnp.asarray([0.5, 1.0, 2.0, 3.0]),
                       "bias": jnp.asarray([0.0, -1.0, 0.25, 1.0])}
    x = rng.normal(size=(10, 3)).astype(np.float32)
    (z,), (s,) = net.apply(params, state, x, train=True)
    p = jax.tree_util.tree_map(np.asarray, params[0])
    h = x @ p["w"] + p["b"]
    want = np.tanh((h - h.mean(0)) / np.sqrt(h.var(0) + 1e-5) * p["bn"]["scale"]
                   + p["bn"]["bias"])
    np.testing.assert_allclose(z, want, rtol=1e-4, atol=1e-5)
    # Running statistics: 0.9 · old + 0.1 · batch (unbiased variance).
    np.testing.assert_allclose(s["bn"]["mean"], 0.1 * h.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s["bn"]["var"], 0.9 + 0.1 * h.var(0, ddof=1), rtol=1e-5)
    # Evaluation uses the running statistics, not the batch's.
    (z_eval,), _ = net.apply(params, [s], x, train=False)
    want_eval = np.tanh((h - s["bn"]["mean"]) / np.sqrt(s["bn"]["var"] + 1e-5)
                        * p["bn"]["scale"] + p["bn"]["bias"])
    np.testing.assert_allclose(z_eval, want_eval, rtol=1e-4, atol=1e-5)


def _numpy_batch_norm(h, running_mean, running_var, *, train):
    """BatchNorm without parameters, in float64 (PyTorch's ``affine=False``): over every axis
    but the last, the batch's mean and biased variance in training mode (the running
    statistics become 0.9 · old + 0.1 · batch, with the unbiased variance), the running
    statistics in evaluation mode; ε = 1e-5."""
    h = np.asarray(h, np.float64)
    axes = tuple(range(h.ndim - 1))
    if not train:
        return (h - running_mean) / np.sqrt(running_var + 1e-5), running_mean, running_var
    mean, var = h.mean(axis=axes), h.var(axis=axes)
    count = h.size // h.shape[-1]
    new_mean = 0.9 * running_mean + 0.1 * mean
    new_var = 0.9 * running_var + 0.1 * var * count / (count - 1)
    return (h - mean) / np.sqrt(var + 1e-5), new_mean, new_var


@pytest.mark.parametrize("train", [True, False])
def test_parameter_free_batch_norm_matches_numpy(train, rng):
    """The default BatchNorm has no parameters: act(BN(x W + b)) with BN a standardisation
    only, in training and evaluation mode, against NumPy; the same for a resnet's stem
    (statistics over batch, height and width)."""
    net = bt.mlp([4], input_shape=(3,), activation="tanh")
    params, state = net.init(1)
    assert params[0]["bn"] == {}
    running = {"mean": jnp.asarray([0.5, -1.0, 0.0, 2.0]),
               "var": jnp.asarray([1.0, 4.0, 0.25, 2.0])}
    x = rng.normal(size=(10, 3)).astype(np.float32)
    (z,), (s,) = net.apply(params, [{"bn": running}], x, train=train)
    p = jax.tree_util.tree_map(np.asarray, params[0])
    h = x @ p["w"] + p["b"]
    want, mean, var = _numpy_batch_norm(h, np.asarray(running["mean"]),
                                        np.asarray(running["var"]), train=train)
    np.testing.assert_allclose(z, np.tanh(want), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(s["bn"]["mean"], mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s["bn"]["var"], var, rtol=1e-5, atol=1e-6)

    conv = bt.resnet(1, input_shape=(7, 7, 2), channels=3, hidden=4, stem_padding="valid")
    params, state = conv.init(2)
    x = rng.normal(size=(4, 7, 7, 2)).astype(np.float32)
    running = {"mean": jnp.asarray([0.1, 0.2, -0.3]), "var": jnp.asarray([1.5, 0.5, 2.0])}
    z, s = conv.block(0, params[0], {"bn": running}, x, train=train)
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params[0])
    pre = _numpy_conv(x, p["w"], p["b"], 2, pad=0)
    want, mean, var = _numpy_batch_norm(pre, np.asarray(running["mean"]),
                                        np.asarray(running["var"]), train=train)
    np.testing.assert_allclose(z, np.maximum(want, 0.0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(s["bn"]["var"], var, rtol=1e-4, atol=1e-6)


def test_parameter_free_networks_have_no_scale_or_bias_leaves():
    """Only weights and biases of the linear maps and convolutions are trainable; the
    learnable kind adds a scale and a bias per BatchNorm."""
    def names(params):
        return {jax.tree_util.keystr(path) for path, _ in
                jax.tree_util.tree_leaves_with_path(params)}

    for build in (lambda bn: bt.mlp([8, 4], input_shape=(3,), batch_norm=bn),
                  lambda bn: bt.resnet(1, input_shape=(8, 8, 1), channels=2, hidden=4,
                                       batch_norm=bn)):
        free, learnable = names(build("parameter-free").init(0)[0]), names(
            build("learnable").init(0)[0])
        assert not any("scale" in n or "bias" in n for n in free)
        assert {n for n in learnable if "scale" in n or "bias" in n} and free < learnable
        assert all(n.endswith(("['w']", "['b']")) for n in free)
    assert bt.mlp([3]) == bt.mlp([3], batch_norm="parameter-free")
    assert bt.mlp([3]) != bt.mlp([3], batch_norm="learnable")
    assert bt.mlp([3]).config_dict()["batch_norm"] == "parameter-free"


@pytest.mark.parametrize(
    "shape", [(28, 28, 1), pytest.param((32, 32, 3), marks=pytest.mark.slow)])
def test_resnet_shapes(shape):
    net = bt.resnet(2, input_shape=shape, channels=8, hidden=32)
    params, state = net.init(jax.random.key(0))
    assert net.n_blocks == len(params) == 4  # stem, 2 residual blocks, dense
    outputs, _ = net.apply(params, state, jnp.ones((2, *shape)), train=True)
    half = shape[0] // 2
    assert [z.shape for z in outputs] == [(2, half, half, 8)] * 3 + [(2, 32)]
    assert net.output_dim == 32


def test_resnet_default_is_the_papers():
    net = bt.resnet()
    params, _ = net.init(0)
    assert net.n_blocks == 7
    assert params[0]["w"].shape == (5, 5, 1, 64)  # stem 5×5, 64 channels
    assert params[1]["w"].shape == (5, 5, 64, 64)
    assert params[-1]["w"].shape == (14 * 14 * 64, 512)


@pytest.mark.parametrize(("shape", "side"), [((28, 28, 1), 12), ((32, 32, 3), 14),
                                             ((7, 9, 1), None)])
def test_unpadded_stem_shapes(shape, side):
    """The official code's stem: 5×5, stride 2, no padding: 28×28 → 12×12 (9216 features into
    the dense block with 64 channels), 32×32 → 14×14; the residual blocks keep the size."""
    if side is None:  # not square: (7 − 5)//2 + 1 = 2 rows, (9 − 5)//2 + 1 = 3 columns
        net = bt.resnet(1, input_shape=shape, channels=2, hidden=5, stem_padding="valid")
        outputs, _ = net.apply(*net.init(0), jnp.ones((2, *shape)), train=True)
        assert [z.shape for z in outputs] == [(2, 2, 3, 2)] * 2 + [(2, 5)]
        return
    net = bt.resnet(2, input_shape=shape, channels=4, hidden=6, stem_padding="valid")
    params, state = net.init(0)
    outputs, _ = net.apply(params, state, jnp.ones((2, *shape)), train=True)
    assert [z.shape for z in outputs] == [(2, side, side, 4)] * 3 + [(2, 6)]
    assert params[-1]["w"].shape == (side * side * 4, 6)
    if side == 12:
        full, _ = bt.resnet(stem_padding="valid").init(0)
        assert full[-1]["w"].shape == (9216, 512)
    with pytest.raises(ValueError, match="`stem_padding` must be one of 'same', 'valid'"):
        bt.resnet(1, stem_padding="none")
    with pytest.raises(ValueError, match="at least 5×5 for the unpadded"):
        bt.resnet(1, input_shape=(4, 8, 1), stem_padding="valid")


def test_networks_of_old_checkpoints_keep_learnable_batch_norm():
    """A config saved before the options existed rebuilds the network it was trained as."""
    from hsic.bottleneck._models import network_from_config

    old = {"model": "resnet", "n_blocks": 1, "input_shape": [8, 8, 1], "channels": 2,
           "hidden": 3, "activation": "relu", "dtype": "float32"}
    net = network_from_config(old)
    assert net == bt.resnet(1, input_shape=(8, 8, 1), channels=2, hidden=3,
                            batch_norm="learnable", stem_padding="same")
    new = bt.resnet(1, input_shape=(8, 8, 1), channels=2, hidden=3, stem_padding="valid")
    assert network_from_config(json.loads(json.dumps(new.config_dict()))) == new


def test_residual_block_adds_identity():
    """With a zero convolution, the block is act(BN(act(BN(0)) + h)) = act(BN(h))."""
    net = bt.resnet(1, input_shape=(4, 4, 2), channels=2, hidden=3)
    params, state = net.init(0)
    params[1] = {**params[1], "w": jnp.zeros_like(params[1]["w"]),
                 "b": jnp.zeros_like(params[1]["b"])}
    h = jax.random.normal(jax.random.key(1), (3, 2, 2, 2))
    z, _ = net.block(1, params[1], state[1], h, train=False)
    np.testing.assert_allclose(z, jax.nn.relu(jax.nn.relu(0.0) + h / np.sqrt(1 + 1e-5)),
                               rtol=1e-5)


def test_float64_and_equality():
    with jax.enable_x64(True):
        net = bt.mlp([3], input_shape=(2,), dtype="float64")
        params, _ = net.init(0)
        assert params[0]["w"].dtype == jnp.float64
    assert bt.mlp([3], input_shape=(2,)) == bt.mlp([3], input_shape=(2,))
    assert hash(bt.mlp([3], input_shape=(2,))) == hash(bt.mlp([3], input_shape=(2,)))
    assert bt.mlp([3], input_shape=(2,)) != bt.mlp([4], input_shape=(2,))


def test_init_depends_on_key():
    net = bt.mlp([3], input_shape=(2,))
    a, _ = net.init(0)
    b, _ = net.init(0)
    c, _ = net.init(1)
    np.testing.assert_array_equal(a[0]["w"], b[0]["w"])
    assert not np.allclose(a[0]["w"], c[0]["w"])
    # An int is jax.random.key(int); an old-style uint32 key works too.
    d, _ = net.init(jax.random.key(1))
    e, _ = net.init(jax.random.PRNGKey(1))
    np.testing.assert_array_equal(c[0]["w"], d[0]["w"])
    np.testing.assert_array_equal(c[0]["w"], e[0]["w"])


def test_bad_inputs():
    with pytest.raises(ValueError, match="`activation` must be one of"):
        bt.mlp([3], activation="gelu")
    with pytest.raises(ValueError, match="`widths` must be a positive integer; got 0"):
        bt.mlp([3, 0])
    with pytest.raises(ValueError, match="`widths` must list at least one"):
        bt.mlp([])
    with pytest.raises(ValueError, match="`n_blocks` must be a positive integer; got 0"):
        bt.resnet(0)
    with pytest.raises(ValueError, match=r"`input_shape` of a resnet must be \(H, W, C\)"):
        bt.resnet(1, input_shape=(28, 28))
    with pytest.raises(ValueError, match="`input_shape` must be the positive shape"):
        bt.mlp([3], input_shape=(0,))
    with pytest.raises(ValueError, match="`dtype` must be float32 or float64"):
        bt.mlp([3], dtype="int32")
    with pytest.raises(ValueError, match=r"`key` must be a non-negative integer \(below 2\*\*64\)"):
        bt.mlp([3]).init(-1)
    with pytest.raises(ValueError, match=r"`key` must be a non-negative integer \(below 2\*\*64\)"):
        bt.mlp([3]).init(0.5)


# --------------------------------------------------------------------------------------------
# The resnet's convolution and residual block against NumPy transcriptions
# --------------------------------------------------------------------------------------------


def _numpy_conv(x, w, b, stride, pad=None):
    """Direct transcription: out[n,i,j,o] = b[o] + Σ_{dy,dx,c} x̃[n, s·i+dy, s·j+dx, c]·w[dy,dx,c,o],
    x̃ = x zero-padded by ``pad`` (default k//2) on each side (float64)."""
    k = w.shape[0]
    pad = k // 2 if pad is None else pad
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    n, height, width, _ = x.shape
    out_h = (height + 2 * pad - k) // stride + 1
    out_w = (width + 2 * pad - k) // stride + 1
    out = np.zeros((n, out_h, out_w, w.shape[-1])) + np.asarray(b, np.float64)
    for dy in range(k):
        for dx in range(k):
            patch = xp[:, dy:dy + stride * out_h:stride, dx:dx + stride * out_w:stride, :]
            out += np.einsum("nhwc,co->nhwo", patch, np.asarray(w[dy, dx], np.float64))
    return out


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (14, 14, 64)])
@pytest.mark.parametrize("stride", [1, 2])
def test_conv_matches_numpy_and_lax_nchw(shape, stride, rng):
    from hsic.bottleneck._convolution import conv2d

    x = rng.normal(size=(2, *shape)).astype(np.float32)
    w = (rng.normal(size=(5, 5, shape[-1], 6)) / 5).astype(np.float32)
    b = rng.normal(size=(6,)).astype(np.float32)
    got = np.asarray(jax.jit(conv2d, static_argnames="stride")(w, b, x, stride=stride))
    assert got.dtype == np.float32
    assert got.shape == (2, -(-shape[0] // stride), -(-shape[1] // stride), 6)
    np.testing.assert_allclose(got, _numpy_conv(x, w, b, stride), rtol=1e-4, atol=1e-4)
    # The same convolution through XLA in the other layout (NCHW input, OIHW kernel).
    other = jax.lax.conv_general_dilated(
        x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), (stride, stride), [(2, 2), (2, 2)],
        dimension_numbers=("NCHW", "OIHW", "NCHW")).transpose(0, 2, 3, 1) + b
    np.testing.assert_allclose(got, other, rtol=1e-4, atol=1e-4)


def _numpy_weight_grad(x, g, k, stride, pad):
    """Direct transcription of ∂/∂w Σ g·conv(x, w): dW[dy,dx,c,o] = Σ x̃[n, s·i+dy, s·j+dx, c]
    · g[n,i,j,o] (float64)."""
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out_h, out_w = g.shape[1:3]
    g = np.asarray(g, np.float64)
    return np.stack([np.stack([np.einsum(
        "nhwc,nhwo->co", xp[:, dy:dy + stride * out_h:stride, dx:dx + stride * out_w:stride], g)
        for dx in range(k)]) for dy in range(k)])


@pytest.mark.parametrize("shape,k,stride,padded", [
    ((14, 14, 8), 5, 1, True),    # the residual convolution: the DFT weight gradient
    ((12, 12, 4), 5, 1, True),    # the paper preset's 12 × 12 maps
    ((9, 7, 3), 3, 1, True),      # odd, non-square maps, a 3 × 3 kernel
    ((28, 28, 1), 5, 2, False),   # the unpadded stem: XLA's gradient
    ((28, 28, 1), 5, 2, True),
])
def test_conv_gradients_match_numpy(shape, k, stride, padded, rng):
    """Both gradients of conv2d (the DFT weight gradient where it applies) against float64
    NumPy: the weights' by the direct sum, the input's by the adjoint of the convolution."""
    from hsic.bottleneck._convolution import conv2d

    x = rng.normal(size=(3, *shape)).astype(np.float32)
    w = (rng.normal(size=(k, k, shape[-1], 6)) / k).astype(np.float32)
    b = rng.normal(size=(6,)).astype(np.float32)
    out = conv2d(w, b, x, stride=stride, padded=padded)
    g = rng.normal(size=out.shape).astype(np.float32)

    def loss(w_, b_, x_):
        return jnp.sum(conv2d(w_, b_, x_, stride=stride, padded=padded) * g)

    dw, db, dx = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(w, b, x)
    pad = k // 2 if padded else 0
    ref_dw = _numpy_weight_grad(x, g, k, stride, pad)
    scale = np.max(np.abs(ref_dw))
    assert np.max(np.abs(np.asarray(dw, np.float64) - ref_dw)) <= 1e-5 * scale
    np.testing.assert_allclose(db, g.sum(axis=(0, 1, 2)), rtol=1e-5, atol=1e-4)
    # the input gradient: <dx, v> = <g, conv(v) - b> for a random direction v (adjoint identity)
    v = rng.normal(size=x.shape)
    lhs = float(np.sum(np.asarray(dx, np.float64) * v))
    rhs = float(np.sum(np.asarray(g, np.float64) * (_numpy_conv(v, w, np.zeros(6), stride, pad))))
    assert abs(lhs - rhs) <= 1e-4 * (abs(rhs) + 1.0)


def test_dft_weight_gradient_is_used_and_matches_xla(rng):
    """The stride-1 'same' convolution's weight gradient is the DFT one (conv2d's own, not
    XLA's) and equals XLA's to float32 rounding; other convolutions keep XLA's."""
    from hsic.bottleneck._convolution import conv2d, weight_grad_dft

    x = jnp.asarray(rng.normal(size=(4, 10, 10, 5)).astype(np.float32))
    w = jnp.asarray(rng.normal(size=(5, 5, 5, 7)).astype(np.float32) / 5)
    g = jnp.asarray(rng.normal(size=(4, 10, 10, 7)).astype(np.float32))
    ours = jax.grad(lambda w_: jnp.sum(conv2d(w_, jnp.zeros(7), x, stride=1) * g))(w)
    np.testing.assert_array_equal(ours, weight_grad_dft(x, g, 5))
    xla = jax.grad(lambda w_: jnp.sum(jax.lax.conv_general_dilated(
        x, w_, (1, 1), [(2, 2), (2, 2)], dimension_numbers=("NHWC", "HWIO", "NHWC")) * g))(w)
    np.testing.assert_allclose(ours, xla, rtol=0, atol=2e-5 * float(jnp.max(jnp.abs(xla))))


def test_residual_block_matches_numpy(rng):
    """act(BN(act(BN(conv(h))) + h)) with batch statistics, against a NumPy transcription."""
    net = bt.resnet(1, input_shape=(8, 8, 1), channels=3, hidden=4, batch_norm="learnable")
    params, state = net.init(3)
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params[1])
    h = rng.normal(size=(5, 4, 4, 3)).astype(np.float32)
    z, _ = net.block(1, params[1], state[1], h, train=True)

    def bn(v, q):
        mean, var = v.mean(axis=(0, 1, 2)), v.var(axis=(0, 1, 2))
        return (v - mean) / np.sqrt(var + 1e-5) * q["scale"] + q["bias"]

    u = np.maximum(bn(_numpy_conv(h, p["w"], p["b"], 1), p["bn1"]), 0.0) + h
    np.testing.assert_allclose(z, np.maximum(bn(u, p["bn2"]), 0.0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_resnet_shapes_dtypes_both_inputs(shape, dtype):
    with jax.enable_x64(dtype == "float64"):
        net = bt.resnet(1, input_shape=shape, channels=4, hidden=8, dtype=dtype)
        params, state = net.init(0)
        x = jnp.ones((3, *shape), dtype)
        outputs, new_state = net.apply(params, state, x, train=True)
        half = shape[0] // 2
        assert [z.shape for z in outputs] == [(3, half, half, 4)] * 2 + [(3, 8)]
        assert all(z.dtype == jnp.dtype(dtype) for z in outputs)
        assert all(a.dtype == jnp.dtype(dtype) for a in jax.tree_util.tree_leaves(new_state))
