"""The critics of the neural MI bounds: small MLPs as plain JAX pytrees, and their options.

This module owns [`Critic`][hsic.mi.Critic] (the architecture, validated when built) and the
pure functions that initialise a critic's parameters and compute its score matrix
``S_ij = f(x_i, y_j)`` over all pairs of two batches, which the bounds of ``hsic.mi._bounds``
take.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp

from hsic._base.validation import check_choice, check_positive_int, is_number

__all__ = ["CRITICS", "Critic", "init_critic", "scores"]

#: Critic architectures: ``g(x)ᵀh(y)`` with two MLPs, or one MLP on the concatenation ``[x, y]``.
CRITICS = ("separable", "concat")


@dataclasses.dataclass(frozen=True)
class Critic:
    r"""The critic network ``f(x, y)`` of the neural MI bounds.

    * ``kind="separable"``: ``f(x, y) = g(x)ᵀh(y)``, with ``g`` and ``h`` two MLPs from the
      dimension of x (resp. y) through the ``hidden`` widths to ``embed_dim`` outputs. The
      score matrix of a batch of b pairs costs two network passes and one ``b × b`` product.
    * ``kind="concat"``: ``f(x, y) = MLP([x, y])``, one MLP from ``d_x + d_y`` inputs through
      the ``hidden`` widths to one output. More flexible, but a batch's score matrix takes b²
      network evaluations.

    The MLPs use ReLU between layers and none after the last. Weights start uniform on
    ``±1/√fan_in`` (PyTorch's default) and biases at zero: the initial scores are near 0, so
    ``exp f`` starts near 1.

    Attributes:
      kind: ``"separable"`` (default) or ``"concat"``.
      hidden: the widths of the hidden layers of each MLP, a non-empty sequence of positive
        integers (stored as a tuple); default ``(64, 64)``.
      embed_dim: the output width of ``g`` and ``h`` for the separable critic (default 32;
        the concat critic ignores it).

    Raises:
      ValueError: at construction, if a field is invalid; the message names the field.

    Example:
      >>> import hsic.mi
      >>> hsic.mi.Critic(kind="concat", hidden=[32])
      Critic(kind='concat', hidden=(32,), embed_dim=32)
      >>> hsic.mi.Critic(hidden=(64, 0))
      Traceback (most recent call last):
      ...
      ValueError: `hidden` must be a non-empty sequence of positive layer widths, ...; got (64, 0).
    """

    kind: Literal["separable", "concat"] = "separable"
    hidden: tuple[int, ...] = (64, 64)
    embed_dim: int = 32

    def __post_init__(self):
        check_choice(self.kind, "kind", CRITICS)
        object.__setattr__(self, "hidden", _check_hidden(self.hidden))
        object.__setattr__(self, "embed_dim", check_positive_int(self.embed_dim, "embed_dim"))


def _check_hidden(hidden: Any) -> tuple[int, ...]:
    try:
        widths = tuple(hidden)
    except TypeError:
        widths = None
    if not widths or not all(is_number(w, integer=True) and w >= 1 for w in widths):
        raise ValueError(
            "`hidden` must be a non-empty sequence of positive layer widths, e.g. (64, 64); "
            f"got {hidden!r}."
        )
    return tuple(int(w) for w in widths)


def _init_mlp(key: jax.Array, sizes: Sequence[int], dtype) -> list[tuple[jax.Array, jax.Array]]:
    """Weights uniform on ``±1/√fan_in`` and zero biases, one ``(W, b)`` pair per layer."""
    layers = []
    keys = jax.random.split(key, len(sizes) - 1)
    for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:], strict=True):
        limit = 1.0 / math.sqrt(n_in)
        w = jax.random.uniform(k, (n_in, n_out), dtype=dtype, minval=-limit, maxval=limit)
        layers.append((w, jnp.zeros((n_out,), dtype=dtype)))
    return layers


def _mlp(layers, h: jax.Array) -> jax.Array:
    for w, b in layers[:-1]:
        h = jax.nn.relu(h @ w + b)
    w, b = layers[-1]
    return h @ w + b


def init_critic(key: jax.Array, critic: Critic, d_x: int, d_y: int, dtype) -> dict[str, Any]:
    """The initial parameters of ``critic`` for inputs of dimensions ``d_x`` and ``d_y``: a
    dict of MLPs (``"g"`` and ``"h"`` for the separable critic, ``"f"`` for concat), each a
    list of ``(W, b)`` pairs.

    Example:
      >>> import jax, hsic.mi
      >>> from hsic.mi._critics import init_critic
      >>> params = init_critic(jax.random.key(0), hsic.mi.Critic(hidden=(8,)), 2, 3, "float32")
      >>> [w.shape for w, _ in params["h"]]
      [(3, 8), (8, 32)]
    """
    if critic.kind == "separable":
        kx, ky = jax.random.split(key)
        return {
            "g": _init_mlp(kx, [d_x, *critic.hidden, critic.embed_dim], dtype),
            "h": _init_mlp(ky, [d_y, *critic.hidden, critic.embed_dim], dtype),
        }
    return {"f": _init_mlp(key, [d_x + d_y, *critic.hidden, 1], dtype)}


def scores(params, kind: str, x: jax.Array, y: jax.Array) -> jax.Array:
    """``S_ij = f(x_i, y_j)`` for all pairs, ``(len(x), len(y))``, for a critic of ``kind``.

    Example:
      >>> import jax, jax.numpy as jnp, hsic.mi
      >>> from hsic.mi._critics import init_critic, scores
      >>> params = init_critic(jax.random.key(0), hsic.mi.Critic(kind="concat"), 1, 1, "float32")
      >>> scores(params, "concat", jnp.zeros((4, 1)), jnp.ones((5, 1))).shape
      (4, 5)
    """
    if kind == "separable":
        return _mlp(params["g"], x) @ _mlp(params["h"], y).T

    def row(xi):  # f([x_i, y_j]) for every j
        pairs = jnp.concatenate([jnp.broadcast_to(xi, (y.shape[0], xi.shape[0])), y], axis=1)
        return _mlp(params["f"], pairs)[:, 0]

    if x.shape[0] * y.shape[0] <= 2**16:  # a training batch: all pairs at once
        return jax.vmap(row)(x)
    return jax.lax.map(row, x, batch_size=16)  # held-out part: 16 rows of pairs at a time
