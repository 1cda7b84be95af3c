"""Networks for the HSIC bottleneck, as pure-JAX pytrees: the MLP and the residual network.

A [`Network`][hsic.bottleneck.Network] is a frozen description (no arrays). Its parameters
and BatchNorm statistics live in two lists with **one entry per HSIC-trained block**, so that
block ``i`` can be trained on its own loss:

* ``params, state = net.init(key)``;
* ``outputs, state = net.apply(params, state, x, train=True)`` returns the output of every
  block (the last is the network's output); with ``train=True`` BatchNorm normalises with the
  batch statistics and updates its running statistics, with ``train=False`` it uses them;
* ``z, state_i = net.block(i, params[i], state[i], h, train=True)`` runs one block.

BatchNorm comes in two kinds (``batch_norm=``): ``"parameter-free"`` (the default, the
official code's ``affine=False``) only standardises, ``(h − mean) / √(var + ε)``, and has no
parameters; ``"learnable"`` follows it with a learnable per-channel scale and bias. With the
HSIC loss a learnable scale tends to grow without bound (a larger scale makes the kernel width
``σ·√d`` small beside the features, which raises nHSIC(Z, Y)), until both nHSIC terms sit at
their ceilings and the weight gradients vanish; docs/bottleneck.md says which to use when.

The layer-wise step ([`hsic.bottleneck.layerwise_step`][hsic.bottleneck.layerwise_step]) calls
``block`` with ``jax.lax.stop_gradient`` on ``h`` so that no gradient crosses blocks.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from hsic._base.rng import as_key
from hsic._base.validation import check_choice, check_positive_int, float_dtype
from hsic.bottleneck._convolution import conv2d

__all__ = ["ACTIVATIONS", "BATCH_NORMS", "STEM_PADDINGS", "Network", "mlp", "resnet"]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "elu": jax.nn.elu,
    "sigmoid": jax.nn.sigmoid,
}

#: The kinds of BatchNorm: without parameters (the default) or with a learnable scale and bias.
BATCH_NORMS = ("parameter-free", "learnable")
#: The resnet stem's padding: "same" (2, 28×28 → 14×14) or "valid" (none, 28×28 → 12×12).
STEM_PADDINGS = ("same", "valid")

BN_MOMENTUM = 0.1  # weight of the new batch in the running statistics (PyTorch's convention)
BN_EPS = 1e-5


# --------------------------------------------------------------------------------------------
# Layers: plain functions of (params, state, inputs)
# --------------------------------------------------------------------------------------------


def _uniform(key, shape, fan_in, dtype):
    """PyTorch's default initialisation, U(−1/√fan_in, 1/√fan_in), as the official code."""
    bound = 1.0 / math.sqrt(fan_in)
    return jax.random.uniform(key, shape, dtype, -bound, bound)


def _bn_init(channels, dtype, learnable):
    """BatchNorm's parameters (an empty dict when parameter-free: no leaves) and statistics."""
    params = ({"scale": jnp.ones((channels,), dtype), "bias": jnp.zeros((channels,), dtype)}
              if learnable else {})
    state = {"mean": jnp.zeros((channels,), dtype), "var": jnp.ones((channels,), dtype)}
    return params, state


def _batch_norm(params, state, h, *, train: bool):
    """BatchNorm over every axis but the last (features or channels).

    ``(h − mean) / √(var + ε)``, then ``· scale + bias`` if ``params`` holds them (learnable
    BatchNorm); parameter-free BatchNorm has ``params == {}``.
    """
    axes = tuple(range(h.ndim - 1))
    if train:
        mean = jnp.mean(h, axis=axes)
        var = jnp.var(h, axis=axes)
        count = math.prod(h.shape[:-1])
        unbiased = var * (count / max(count - 1, 1))
        state = {
            "mean": (1 - BN_MOMENTUM) * state["mean"] + BN_MOMENTUM * mean,
            "var": (1 - BN_MOMENTUM) * state["var"] + BN_MOMENTUM * unbiased,
        }
    else:
        mean, var = state["mean"], state["var"]
    out = (h - mean) * jax.lax.rsqrt(var + BN_EPS)
    if params:
        out = out * params["scale"] + params["bias"]
    return out, state


def _dense_block_init(key, d_in, d_out, dtype, learnable):
    kw, kb = jax.random.split(key)
    bn_params, bn_state = _bn_init(d_out, dtype, learnable)
    params = {
        "w": _uniform(kw, (d_in, d_out), d_in, dtype),
        "b": _uniform(kb, (d_out,), d_in, dtype),
        "bn": bn_params,
    }
    return params, {"bn": bn_state}


def _dense_block(params, state, h, *, train, act):
    h = h.reshape(h.shape[0], -1) @ params["w"] + params["b"]
    h, bn = _batch_norm(params["bn"], state["bn"], h, train=train)
    return act(h), {"bn": bn}


def _conv_init(key, size, c_in, c_out, dtype):
    kw, kb = jax.random.split(key)
    fan_in = size * size * c_in
    return (
        _uniform(kw, (size, size, c_in, c_out), fan_in, dtype),
        _uniform(kb, (c_out,), fan_in, dtype),
    )


def _stem_init(key, c_in, channels, dtype, learnable):
    w, b = _conv_init(key, 5, c_in, channels, dtype)
    bn_params, bn_state = _bn_init(channels, dtype, learnable)
    return {"w": w, "b": b, "bn": bn_params}, {"bn": bn_state}


def _stem(params, state, h, *, train, act, padded):
    h = conv2d(params["w"], params["b"], h, stride=2, padded=padded)
    h, bn = _batch_norm(params["bn"], state["bn"], h, train=train)
    return act(h), {"bn": bn}


def _residual_init(key, channels, dtype, learnable):
    w, b = _conv_init(key, 5, channels, channels, dtype)
    bn1_p, bn1_s = _bn_init(channels, dtype, learnable)
    bn2_p, bn2_s = _bn_init(channels, dtype, learnable)
    return {"w": w, "b": b, "bn1": bn1_p, "bn2": bn2_p}, {"bn1": bn1_s, "bn2": bn2_s}


def _residual(params, state, h, *, train, act):
    """conv 5×5 (padding 2) → BN → act → + identity → BN → act."""
    z = conv2d(params["w"], params["b"], h, stride=1)
    z, bn1 = _batch_norm(params["bn1"], state["bn1"], z, train=train)
    z = act(z) + h
    z, bn2 = _batch_norm(params["bn2"], state["bn2"], z, train=train)
    return act(z), {"bn1": bn1, "bn2": bn2}


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class Network:
    """A network as a sequence of HSIC-trained blocks (a frozen description; no arrays).

    Attributes:
      name: ``"mlp"`` or ``"resnet"``.
      config: the keyword arguments that rebuild it (``mlp(**config)`` or
        ``resnet(**config)``), as ``(name, value)`` pairs; saved in checkpoints.
      n_blocks: the number of HSIC-trained blocks.
      output_dim: the width of the last block's output (the format layer's input).
    """

    name: str
    config: tuple[tuple[str, Any], ...]
    n_blocks: int
    output_dim: int
    _inits: tuple[Callable, ...] = dataclasses.field(repr=False)
    _blocks: tuple[Callable, ...] = dataclasses.field(repr=False)

    def init(self, key: jax.Array | int) -> tuple[list, list]:
        """Initial ``(params, state)``: lists with one entry (a dict of arrays) per block.

        Args:
          key: a JAX key or a non-negative int (``jax.random.key(key)``).
        """
        keys = jax.random.split(as_key(key, "key"), self.n_blocks)
        pairs = [init(k) for init, k in zip(self._inits, keys, strict=True)]
        return [p for p, _ in pairs], [s for _, s in pairs]

    def block(self, i: int, params_i, state_i, h: ArrayLike, *, train: bool):
        """Run block ``i`` on its input ``h``; returns ``(output, new state_i)``."""
        return self._blocks[i](params_i, state_i, h, train=train)

    def apply(
        self, params: Sequence, state: Sequence, x: ArrayLike, *, train: bool
    ) -> tuple[list[jax.Array], list]:
        """Every block's output, in order, and the new BatchNorm state.

        Args:
          params: the list of per-block parameters from [`init`][hsic.bottleneck.Network.init].
          state: the list of per-block BatchNorm statistics.
          x: a batch of inputs, ``(m, H, W, C)`` images (or ``(m, d)`` for an MLP).
          train: batch statistics (and updated running statistics) if True; the running
            statistics if False.

        Returns:
          ``(outputs, state)``: ``outputs[i]`` is block ``i``'s output, ``(m, ...)``.
        """
        h = jnp.asarray(x)
        outputs, new_state = [], []
        for i in range(self.n_blocks):
            h, s = self.block(i, params[i], state[i], h, train=train)
            outputs.append(h)
            new_state.append(s)
        return outputs, new_state

    def __eq__(self, other) -> bool:  # equal descriptions build equal networks
        return (isinstance(other, Network) and (self.name, self.config)
                == (other.name, other.config))

    def __hash__(self) -> int:  # so that jitted code is reused across equal networks
        return hash((self.name, self.config))

    def config_dict(self) -> dict[str, Any]:
        """``{"model": name, **config}``: JSON-ready, for checkpoint metadata."""
        return {"model": self.name, **{k: v for k, v in self.config}}


def _activation(activation: str):
    check_choice(activation, "activation", tuple(ACTIVATIONS))
    return ACTIVATIONS[activation]


def _learnable(batch_norm: str) -> bool:
    return check_choice(batch_norm, "batch_norm", BATCH_NORMS) == "learnable"


def _input_dim(input_shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in input_shape)
    if not shape or any(s <= 0 for s in shape):
        raise ValueError(
            f"`input_shape` must be the positive shape of one sample, e.g. (28, 28, 1); "
            f"got {tuple(input_shape)!r}."
        )
    return shape


def mlp(
    widths: Sequence[int] = (256, 256, 256, 256, 256),
    *,
    input_shape: Sequence[int] = (28, 28, 1),
    activation: str = "relu",
    batch_norm: Literal["parameter-free", "learnable"] = "parameter-free",
    dtype: str | np.dtype | None = "float32",
) -> Network:
    """A multilayer perceptron of Linear → BatchNorm → activation blocks.

    Block ``i`` maps its (flattened) input to ``widths[i]`` units:
    ``z_i = act(BN(W_i z_{i−1} + b_i))``, with ``z_0 = x`` flattened. Each block is one
    HSIC-trained layer. Weights start as PyTorch's default, ``U(±1/√fan_in)``.

    Args:
      widths: the width of each block (5 blocks of 256 by default, as the paper's MNIST MLP).
      input_shape: the shape of one sample, e.g. ``(28, 28, 1)``.
      activation: ``"relu"``, ``"tanh"``, ``"elu"`` or ``"sigmoid"``.
      batch_norm: ``"parameter-free"`` (``BN(h) = (h − mean) / √(var + ε)``, the official
        code's; the default) or ``"learnable"`` (then ``· scale + bias``, learnable).
      dtype: the parameters' dtype (float32 by default).

    Returns:
      A [`Network`][hsic.bottleneck.Network].

    Example:
      >>> import jax.numpy as jnp
      >>> from hsic.bottleneck import mlp
      >>> net = mlp([32, 10], input_shape=(4,))
      >>> params, state = net.init(0)
      >>> outputs, state = net.apply(params, state, jnp.ones((8, 4)), train=True)
      >>> tuple(z.shape for z in outputs)
      ((8, 32), (8, 10))
    """
    widths = [check_positive_int(w, "widths") for w in widths]
    if not widths:
        raise ValueError("`widths` must list at least one layer width; got an empty list.")
    act = _activation(activation)
    learnable = _learnable(batch_norm)
    shape = _input_dim(input_shape)
    dt = float_dtype(dtype)
    dims = [math.prod(shape), *widths]
    inits = tuple(
        (lambda key, a=a, b=b: _dense_block_init(key, a, b, dt, learnable))
        for a, b in zip(dims, widths, strict=False)
    )
    blocks = tuple(_bound(_dense_block, act) for _ in widths)
    config = (
        ("widths", tuple(widths)), ("input_shape", shape), ("activation", activation),
        ("batch_norm", batch_norm), ("dtype", dt.name),
    )
    return Network("mlp", config, len(widths), widths[-1], inits, blocks)


def resnet(
    n_blocks: int = 5,
    *,
    input_shape: Sequence[int] = (28, 28, 1),
    channels: int = 64,
    hidden: int = 512,
    activation: str = "relu",
    batch_norm: Literal["parameter-free", "learnable"] = "parameter-free",
    stem_padding: Literal["same", "valid"] = "same",
    dtype: str | np.dtype | None = "float32",
) -> Network:
    """The paper's convolutional residual network, as HSIC-trained blocks.

    * a stem: conv 5×5, stride 2, ``channels`` channels → BN → activation; with
      ``stem_padding="same"`` (padding 2) 28×28 → 14×14 and 32×32 → 16×16, with ``"valid"``
      (no padding, the official code's) 28×28 → 12×12 and 32×32 → 14×14;
    * ``n_blocks`` residual blocks: ``act(BN(act(BN(conv5×5(h))) + h))``, padding 2;
    * flatten → dense ``hidden`` (512) → BN → activation (MNIST: 14·14·64 = 12 544 inputs
      with the padded stem, 12·12·64 = 9216 with the unpadded one).

    The HSIC objective applies to the output of each of these ``n_blocks + 2`` blocks.

    Args:
      n_blocks: the number of residual blocks (5 by default).
      input_shape: ``(H, W, C)`` of one image: ``(28, 28, 1)`` for MNIST, ``(32, 32, 3)`` for
        CIFAR-10.
      channels: channels of the stem and residual convolutions.
      hidden: the width of the final dense layer.
      activation: ``"relu"``, ``"tanh"``, ``"elu"`` or ``"sigmoid"``.
      batch_norm: ``"parameter-free"`` (the default, the official code's) or ``"learnable"``
        (see [`mlp`][hsic.bottleneck.mlp]).
      stem_padding: ``"same"`` (the default) or ``"valid"`` (unpadded, the official code's).
      dtype: the parameters' dtype (float32 by default).

    Returns:
      A [`Network`][hsic.bottleneck.Network].

    Example:
      >>> import jax.numpy as jnp
      >>> from hsic.bottleneck import resnet
      >>> net = resnet(1, input_shape=(8, 8, 3), channels=4, hidden=16)
      >>> params, state = net.init(0)
      >>> outputs, _ = net.apply(params, state, jnp.ones((2, 8, 8, 3)), train=False)
      >>> tuple(z.shape for z in outputs)
      ((2, 4, 4, 4), (2, 4, 4, 4), (2, 16))

    References:
      Ma, Lewis, Kleijn (2020), "The HSIC bottleneck: deep learning without
      back-propagation", AAAI.
    """
    n_blocks = check_positive_int(n_blocks, "n_blocks")
    channels = check_positive_int(channels, "channels")
    hidden = check_positive_int(hidden, "hidden")
    shape = _input_dim(input_shape)
    if len(shape) != 3:
        raise ValueError(
            f"`input_shape` of a resnet must be (H, W, C), e.g. (28, 28, 1); got {shape!r}."
        )
    act = _activation(activation)
    learnable = _learnable(batch_norm)
    padded = check_choice(stem_padding, "stem_padding", STEM_PADDINGS) == "same"
    dt = float_dtype(dtype)
    height, width, c_in = shape
    if not padded and min(height, width) < 5:
        raise ValueError(
            f"`input_shape` must be at least 5×5 for the unpadded 5×5 stem; got {shape!r}. "
            "Use stem_padding='same'."
        )
    if padded:
        out_h, out_w = -(-height // 2), -(-width // 2)
    else:
        out_h, out_w = (height - 5) // 2 + 1, (width - 5) // 2 + 1
    flat = out_h * out_w * channels
    inits = (
        (lambda key: _stem_init(key, c_in, channels, dt, learnable)),
        *((lambda key: _residual_init(key, channels, dt, learnable)) for _ in range(n_blocks)),
        (lambda key: _dense_block_init(key, flat, hidden, dt, learnable)),
    )
    blocks = (
        _bound(functools.partial(_stem, padded=padded), act),
        *(_bound(_residual, act) for _ in range(n_blocks)),
        _bound(_dense_block, act),
    )
    config = (
        ("n_blocks", n_blocks), ("input_shape", shape), ("channels", channels),
        ("hidden", hidden), ("activation", activation), ("batch_norm", batch_norm),
        ("stem_padding", stem_padding), ("dtype", dt.name),
    )
    return Network("resnet", config, n_blocks + 2, hidden, inits, blocks)


def _bound(block, act):
    def run(params, state, h, *, train):
        return block(params, state, h, train=train, act=act)

    return run


def network_from_config(config: dict[str, Any]) -> Network:
    """Rebuild a network from [`Network.config_dict`][hsic.bottleneck.Network.config_dict]."""
    config = dict(config)
    name = config.pop("model", None)
    check_choice(name, "model", ("mlp", "resnet"))
    # Checkpoints written before these options existed were trained with learnable
    # BatchNorm and (the resnet) the padded stem.
    config.setdefault("batch_norm", "learnable")
    if name == "resnet":
        config.setdefault("stem_padding", "same")
    if "input_shape" in config:
        config["input_shape"] = tuple(config["input_shape"])
    if name == "mlp":
        return mlp(tuple(config.pop("widths")), **config)
    return resnet(config.pop("n_blocks"), **config)
