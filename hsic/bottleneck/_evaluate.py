"""Reading a network out: its features, the format layer, the accuracies and the HSIC plane.

* [`features`][hsic.bottleneck.features]: the network's output in evaluation mode;
* [`train_format`][hsic.bottleneck.train_format]: a linear softmax layer trained with
  cross-entropy on the frozen network's output, scored by
  [`format_accuracy`][hsic.bottleneck.format_accuracy];
* [`class_map`][hsic.bottleneck.class_map] and
  [`unformatted_accuracy`][hsic.bottleneck.unformatted_accuracy]: the paper's "HSIC-solve"
  read-out, with no trained layer;
* [`hsic_plane`][hsic.bottleneck.hsic_plane]: per-block ``nHSIC(Z, X)`` and ``nHSIC(Z, Y)``
  of any network.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from hsic._base.rng import as_generator
from hsic._base.validation import check_positive_int
from hsic.bottleneck._models import Network
from hsic.bottleneck._objective import Objective, bottleneck_losses, check_objective

__all__ = [
    "FormatLayer",
    "HSICPlane",
    "class_map",
    "features",
    "format_accuracy",
    "hsic_plane",
    "train_format",
    "unformatted_accuracy",
]

EVAL_BATCH = 1000


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """The mean softmax cross-entropy of integer ``labels``."""
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


@functools.partial(jax.jit, static_argnums=(0,))
def _eval_outputs(model, params, state, x):
    outputs, _ = model.apply(params, state, x, train=False)
    return [z.reshape(z.shape[0], -1) for z in outputs]


def _batched(x: np.ndarray, batch: int):
    """Fixed-size batches (the last padded) so that one compiled shape serves every batch."""
    n = x.shape[0]
    for start in range(0, n, batch):
        chunk = x[start:start + batch]
        valid = chunk.shape[0]
        if valid < batch and n > batch:
            chunk = np.concatenate([chunk, np.zeros((batch - valid, *x.shape[1:]), x.dtype)])
        yield chunk, valid


def features(
    model: Network, params: Sequence, state: Sequence, x: ArrayLike, *, batch_size: int = EVAL_BATCH
) -> np.ndarray:
    """The network's output (its last block's, flattened) in evaluation mode.

    Args:
      model: the network.
      params: its parameters.
      state: its BatchNorm statistics (the running statistics are used).
      x: inputs, ``(n, ...)``.
      batch_size: evaluation batch size.

    Returns:
      A NumPy array ``(n, model.output_dim)``.

    Example:
      >>> import numpy as np
      >>> from hsic.bottleneck import features, mlp
      >>> net = mlp([8, 3], input_shape=(2,))
      >>> params, state = net.init(0)
      >>> features(net, params, state, np.ones((5, 2), np.float32)).shape
      (5, 3)
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    x = np.asarray(x, dtype=np.float32)
    out = []
    for chunk, valid in _batched(x, batch_size):
        out.append(np.asarray(_eval_outputs(model, params, state, jnp.asarray(chunk))[-1])[:valid])
    return np.concatenate(out)


def class_map(feats: ArrayLike, labels: ArrayLike, *, num_classes: int) -> np.ndarray:
    """The paper's "HSIC-solve" read-out: class ``c`` ↦ argmax of its mean activation.

    ``map[c] = argmax_j mean{ z_j : y = c }``.

    Example:
      >>> import numpy as np
      >>> from hsic.bottleneck import class_map
      >>> class_map(np.array([[0.0, 1.0], [2.0, 0.0]]), np.array([0, 1]), num_classes=2)
      array([1, 0])
    """
    num_classes = check_positive_int(num_classes, "num_classes")
    feats = np.asarray(feats)
    labels = np.asarray(labels)
    mapping = np.zeros(num_classes, dtype=np.int64)
    for c in range(num_classes):
        rows = feats[labels == c]
        mapping[c] = int(np.argmax(rows.mean(axis=0))) if rows.size else -1
    return mapping


def unformatted_accuracy(feats: ArrayLike, labels: ArrayLike, mapping: ArrayLike) -> float:
    """The fraction of samples whose most active unit is the one of their class's map.

    A sample of class ``c`` counts as correct when ``argmax_j z_j = map[c]``, with ``map`` from
    [`class_map`][hsic.bottleneck.class_map] (fitted on the training set).

    Example:
      >>> import numpy as np
      >>> from hsic.bottleneck import unformatted_accuracy
      >>> unformatted_accuracy(np.array([[0.0, 1.0], [2.0, 0.0]]), [0, 0], np.array([1, 0]))
      0.5
    """
    feats = np.asarray(feats)
    return float(np.mean(np.argmax(feats, axis=1) == np.asarray(mapping)[np.asarray(labels)]))


@dataclasses.dataclass(frozen=True)
class FormatLayer:
    """A linear softmax read-out ``p(y | z) = softmax(z W + b)``.

    Attributes:
      w: ``(d, classes)`` weights.
      b: ``(classes,)`` biases.
    """

    w: np.ndarray
    b: np.ndarray

    def predict(self, feats: ArrayLike) -> np.ndarray:
        """The most likely class of each row of ``feats``."""
        return np.argmax(np.asarray(feats) @ self.w + self.b, axis=1)


@functools.partial(jax.jit, static_argnums=(0, 6))
def _format_epoch(optimizer, head, opt_state, feats, labels, order, batch_size):
    def one(carry, b):
        head, opt_state = carry
        idx = jax.lax.dynamic_slice_in_dim(order, b * batch_size, batch_size)

        def loss(h):
            return cross_entropy(feats[idx] @ h["w"] + h["b"], labels[idx])

        g = jax.grad(loss)(head)
        updates, opt_state = optimizer.update(g, opt_state, head)
        return (optax.apply_updates(head, updates), opt_state), None

    steps = feats.shape[0] // batch_size
    (head, opt_state), _ = jax.lax.scan(one, (head, opt_state), jnp.arange(steps))
    return head, opt_state


def train_format(
    feats: ArrayLike,
    labels: ArrayLike,
    *,
    num_classes: int,
    epochs: int = 5,
    batch_size: int = 256,
    optimizer: optax.GradientTransformation | None = None,
    rng: int | jax.Array = 0,
) -> FormatLayer:
    """Train the format layer: a linear softmax with cross-entropy, on frozen features.

    Minimises ``mean −log softmax(z W + b)_y`` with ``optax`` (Adam, learning rate 1e-2, by
    default) over shuffled mini-batches of the features ``z`` of the frozen network (see
    [`features`][hsic.bottleneck.features]).

    Args:
      feats: ``(n, d)`` features.
      labels: ``(n,)`` integer labels.
      num_classes: the number of classes.
      epochs: passes over the data.
      batch_size: mini-batch size.
      optimizer: an optax optimizer; Adam(1e-2) by default.
      rng: a non-negative int or a JAX key: the batch order.

    Returns:
      A [`FormatLayer`][hsic.bottleneck.FormatLayer].

    Example:
      >>> import numpy as np
      >>> from hsic.bottleneck import train_format
      >>> z = np.eye(4, dtype=np.float32).repeat(64, axis=0)
      >>> y = np.arange(4).repeat(64)
      >>> layer = train_format(z, y, num_classes=4, epochs=20, batch_size=32)
      >>> float(np.mean(layer.predict(z) == y))
      1.0
    """
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    num_classes = check_positive_int(num_classes, "num_classes")
    feats = jnp.asarray(feats, dtype=jnp.float32)
    labels = jnp.asarray(labels, dtype=jnp.int32)
    n, d = feats.shape
    batch_size = min(batch_size, n)
    optimizer = optimizer or _default_format_optimizer()
    generator = as_generator(rng)
    head = {"w": jnp.zeros((d, num_classes), feats.dtype), "b": jnp.zeros((num_classes,))}
    opt_state = optimizer.init(head)
    for _ in range(epochs):
        order = jnp.asarray(generator.permutation(n).astype(np.int32))
        head, opt_state = _format_epoch(optimizer, head, opt_state, feats, labels, order,
                                        batch_size)
    return FormatLayer(np.asarray(head["w"]), np.asarray(head["b"]))


@functools.lru_cache(maxsize=1)
def _default_format_optimizer():
    return optax.adam(1e-2)


def format_accuracy(layer: FormatLayer, feats: ArrayLike, labels: ArrayLike) -> float:
    """The accuracy of a format layer on features.

    Example:
      >>> import numpy as np
      >>> from hsic.bottleneck import FormatLayer, format_accuracy
      >>> layer = FormatLayer(np.eye(2), np.zeros(2))
      >>> format_accuracy(layer, np.array([[1.0, 0.0], [1.0, 0.0]]), [0, 1])
      0.5
    """
    return float(np.mean(layer.predict(feats) == np.asarray(labels)))


@dataclasses.dataclass(frozen=True)
class HSICPlane:
    """Per-block coordinates in the HSIC plane.

    Attributes:
      nhsic_zx: ``(n_blocks,)`` normalised HSIC between each block's output and X.
      nhsic_zy: ``(n_blocks,)`` normalised HSIC between each block's output and Y.
    """

    nhsic_zx: np.ndarray
    nhsic_zy: np.ndarray


@functools.partial(jax.jit, static_argnames=("model", "num_classes"))
def _plane_batch(model, params, state, x, y, objective, *, num_classes):
    y1h = jax.nn.one_hot(y, num_classes, dtype=x.dtype)
    _, (zx, zy), _ = bottleneck_losses(model, params, state, x, y1h, objective=objective,
                                       train=False)
    return zx, zy


def hsic_plane(
    model: Network,
    params: Sequence,
    state: Sequence,
    x: ArrayLike,
    y: ArrayLike,
    *,
    objective: Objective = Objective(),  # noqa: B008 (frozen: a shared default is safe)
    num_classes: int | None = None,
    batch_size: int = 256,
) -> HSICPlane:
    """Each block's ``nHSIC(Z, X)`` and ``nHSIC(Z, Y)`` for a trained (or any) network.

    The values are averaged over consecutive batches of ``batch_size`` samples (an incomplete
    last batch is dropped), with BatchNorm in evaluation mode, and the training objective's
    kernels (width ``σ·√d``) and normalisation.

    Args:
      model: the network.
      params: its parameters.
      state: its BatchNorm statistics.
      x: inputs, ``(n, ...)``.
      y: integer labels, ``(n,)``.
      objective: the [`Objective`][hsic.bottleneck.Objective] whose σ, normalisation and ε
        are used (β plays no part).
      num_classes: the number of classes (by default ``max(y) + 1``).
      batch_size: the batch size m.

    Returns:
      An [`HSICPlane`][hsic.bottleneck.HSICPlane].

    Example:
      >>> import numpy as np
      >>> from hsic.bottleneck import Objective, hsic_plane, mlp
      >>> net = mlp([8, 4], input_shape=(3,))
      >>> params, state = net.init(0)
      >>> x = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
      >>> plane = hsic_plane(net, params, state, x, np.arange(64) % 2,
      ...                    objective=Objective(normalisation="cka"), batch_size=32)
      >>> plane.nhsic_zx.shape
      (2,)
    """
    # β does not change nHSIC: one compilation serves every β.
    objective = dataclasses.replace(check_objective(objective), beta=0.0)
    batch_size = check_positive_int(batch_size, "batch_size")
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int32)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"`x` and `y` must have the same number of samples; got {x.shape[0]} and "
            f"{y.shape[0]}."
        )
    if x.shape[0] < batch_size:
        raise ValueError(
            f"`batch_size` must be at most the number of samples ({x.shape[0]}); got "
            f"{batch_size}."
        )
    if num_classes is None:
        num_classes = int(y.max()) + 1
    num_classes = check_positive_int(num_classes, "num_classes")
    zx, zy = [], []
    for start in range(0, x.shape[0] - batch_size + 1, batch_size):
        a, b = _plane_batch(model, params, state, jnp.asarray(x[start:start + batch_size]),
                            jnp.asarray(y[start:start + batch_size]), objective,
                            num_classes=num_classes)
        zx.append(a)
        zy.append(b)
    return HSICPlane(np.asarray(jnp.stack(zx)).mean(0), np.asarray(jnp.stack(zy)).mean(0))
