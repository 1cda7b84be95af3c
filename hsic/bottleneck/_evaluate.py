"""Reading a network out: its features, the format layer, the accuracies and the HSIC plane.

* [`features`][hsic.bottleneck.features]: the network's output in evaluation mode;
* [`train_format`][hsic.bottleneck.train_format]: a linear softmax layer trained with
  cross-entropy on the frozen network's output, scored by
  [`format_accuracy`][hsic.bottleneck.format_accuracy];
* [`class_map`][hsic.bottleneck.class_map] and
  [`unformatted_accuracy`][hsic.bottleneck.unformatted_accuracy]: the paper's "HSIC-solve"
  read-out, with no trained layer;
* [`hsic_plane`][hsic.bottleneck.hsic_plane]: per-block ``nHSIC(Z, X)`` and ``nHSIC(Z, Y)``
  of any network;
* the format stage as one protocol: a [`FormatProtocol`][hsic.bottleneck.FormatProtocol]
  (named ones in ``FORMAT_PROTOCOLS``: ``"paper"`` and ``"paper-mlp"``, the official code's
  SGD for its ResConv and its MLP; ``"best"``, the project's best; ``"default"``,
  ``train_format``'s own) run by
  [`fit_format`][hsic.bottleneck.fit_format] on every training image, with the network in
  evaluation mode.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from hsic._base.rng import as_generator
from hsic._base.validation import check_choice, check_number, check_positive_int
from hsic.bottleneck._models import Network
from hsic.bottleneck._objective import Objective, bottleneck_losses, check_objective

__all__ = [
    "FORMAT_PROTOCOLS",
    "FormatLayer",
    "FormatProtocol",
    "FormatResult",
    "HSICPlane",
    "class_map",
    "features",
    "fit_format",
    "format_accuracy",
    "format_protocol",
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


def _format_heads(feats, labels, *, num_classes, epochs, batch_size, optimizer, rng,
                  drop_last) -> Iterator[dict]:
    """The format layer's head after each epoch (checked inputs). With ``drop_last=False`` an
    incomplete last batch is one more step, so every sample is used in every epoch."""
    feats = jnp.asarray(feats, dtype=jnp.float32)
    labels = jnp.asarray(labels, dtype=jnp.int32)
    n, d = feats.shape
    batch_size = min(batch_size, n)
    generator = as_generator(rng)
    head = {"w": jnp.zeros((d, num_classes), feats.dtype), "b": jnp.zeros((num_classes,))}
    opt_state = optimizer.init(head)
    rest = n % batch_size
    for _ in range(epochs):
        order = jnp.asarray(generator.permutation(n).astype(np.int32))
        head, opt_state = _format_epoch(optimizer, head, opt_state, feats, labels, order,
                                        batch_size)
        if rest and not drop_last:  # the last rows of the order, as one smaller batch
            tail = order[n - rest:]
            head, opt_state = _format_epoch(optimizer, head, opt_state, feats[tail],
                                            labels[tail], jnp.arange(rest, dtype=jnp.int32),
                                            rest)
        yield head


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
      rng: the batch order: an int seed, a JAX key, a ``numpy.random.Generator`` or None
        (fresh entropy).

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
    *_, head = _format_heads(feats, labels, num_classes=num_classes, epochs=epochs,
                             batch_size=batch_size,
                             optimizer=optimizer or _default_format_optimizer(), rng=rng,
                             drop_last=True)
    return FormatLayer(np.asarray(head["w"]), np.asarray(head["b"]))


@functools.lru_cache(maxsize=1)
def _default_format_optimizer():
    return optax.adam(1e-2)


FORMAT_OPTIMIZERS = ("sgd", "adam")
FORMAT_SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass(frozen=True)
class FormatProtocol:
    """How the format layer is trained: a linear softmax fitted by cross-entropy on the frozen
    network's features (evaluation mode) of every training image.

    The optimizer is ``optimizer`` at ``learning_rate`` (constant, or decayed to 0 by a cosine
    over all the steps), with L2 ``weight_decay`` added to the gradient (PyTorch's
    ``weight_decay``) and, for SGD, ``momentum``. Each epoch is a shuffled pass over all
    samples in batches of ``batch_size`` (the last one smaller when the size does not divide
    the count). The head starts at zero. Checked when built (``ValueError`` naming the field).

    Attributes:
      name: a label for records (``"paper"``, ``"paper-mlp"``, ``"best"``, ``"default"`` or
        your own).
      optimizer: ``"sgd"`` or ``"adam"``.
      learning_rate: > 0.
      schedule: ``"constant"`` or ``"cosine"``.
      momentum: SGD's momentum, ≥ 0 (0: plain SGD; Adam takes none).
      weight_decay: ≥ 0.
      batch_size: the mini-batch size.
      epochs: passes over the training images.

    Example:
      >>> from hsic.bottleneck import FORMAT_PROTOCOLS, FormatProtocol
      >>> paper = FORMAT_PROTOCOLS["paper"]
      >>> paper.optimizer, paper.learning_rate, paper.weight_decay, paper.batch_size
      ('sgd', 0.01, 0.001, 512)
      >>> FormatProtocol("mine", optimizer="adam", momentum=0.9)
      Traceback (most recent call last):
      ...
      ValueError: `momentum` must be 0 with optimizer='adam'; got 0.9.
    """

    name: str = "custom"
    optimizer: Literal["sgd", "adam"] = "adam"
    learning_rate: float = 1e-2
    schedule: Literal["constant", "cosine"] = "constant"
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 256
    epochs: int = 10

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"`name` must be a non-empty string; got {self.name!r}.")
        checked = {
            "optimizer": check_choice(self.optimizer, "optimizer", FORMAT_OPTIMIZERS),
            "learning_rate": check_number(self.learning_rate, "learning_rate",
                                          "a positive number", low=0, low_open=True),
            "schedule": check_choice(self.schedule, "schedule", FORMAT_SCHEDULES),
            "momentum": check_number(self.momentum, "momentum", "a non-negative number", low=0),
            "weight_decay": check_number(self.weight_decay, "weight_decay",
                                         "a non-negative number", low=0),
            "batch_size": check_positive_int(self.batch_size, "batch_size"),
            "epochs": check_positive_int(self.epochs, "epochs"),
        }
        if checked["optimizer"] == "adam" and checked["momentum"]:
            raise ValueError(
                f"`momentum` must be 0 with optimizer='adam'; got {self.momentum!r}."
            )
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def transformation(self, n: int) -> optax.GradientTransformation:
        """The optax optimizer for ``n`` training samples (the cosine spans every step)."""
        n = check_positive_int(n, "n")
        steps = self.epochs * -(-n // min(self.batch_size, n))
        return _protocol_optimizer(self, steps if self.schedule == "cosine" else 0)

    def settings(self) -> dict[str, Any]:
        """Every field, JSON-ready (for ``format.json`` and ``config.json``)."""
        return dataclasses.asdict(self)


@functools.lru_cache(maxsize=16)  # equal settings, the same object: no recompilation
def _protocol_optimizer(protocol: FormatProtocol, steps: int):
    rate = (optax.cosine_decay_schedule(protocol.learning_rate, steps) if steps
            else protocol.learning_rate)
    if protocol.optimizer == "sgd":
        base = optax.sgd(rate, momentum=protocol.momentum or None)
    else:
        base = optax.adam(rate)
    if protocol.weight_decay:
        return optax.chain(optax.add_decayed_weights(protocol.weight_decay), base)
    return base


#: The named format protocols.
FORMAT_PROTOCOLS: dict[str, FormatProtocol] = {
    # The official code's format stage (MNIST ResConv): a fresh SGD, lr 0.01, weight decay
    # 1e-3, no momentum, batch 512, 5 epochs on all 60k images, the network in eval mode.
    "paper": FormatProtocol("paper", optimizer="sgd", learning_rate=0.01, weight_decay=1e-3,
                            batch_size=512, epochs=5),
    # The official code's format stage of its MNIST MLP (general-format.yaml): SGD, lr 0.005,
    # weight decay 1e-3, no momentum, batch 256, 5 epochs.
    "paper-mlp": FormatProtocol("paper-mlp", optimizer="sgd", learning_rate=0.005,
                                weight_decay=1e-3, batch_size=256, epochs=5),
    # The project's best on the HSIC MLP's features (97.8% against 97.2% for "default"):
    # Adam with its learning rate decayed from 1e-2 to 0 (cosine), 10 epochs.
    "best": FormatProtocol("best", optimizer="adam", learning_rate=1e-2, schedule="cosine",
                           batch_size=256, epochs=10),
    # train_format's own default (constant Adam 1e-2): short runs on small data need its
    # larger steps.
    "default": FormatProtocol("default", optimizer="adam", learning_rate=1e-2,
                              batch_size=256, epochs=5),
}


def format_protocol(protocol: str | FormatProtocol) -> FormatProtocol:
    """The [`FormatProtocol`][hsic.bottleneck.FormatProtocol] named ``protocol`` (or
    ``protocol`` itself).

    Example:
      >>> from hsic.bottleneck import FORMAT_PROTOCOLS, format_protocol
      >>> format_protocol("best").schedule
      'cosine'
      >>> sorted(FORMAT_PROTOCOLS)
      ['best', 'default', 'paper', 'paper-mlp']
    """
    if isinstance(protocol, FormatProtocol):
        return protocol
    if isinstance(protocol, str) and protocol in FORMAT_PROTOCOLS:
        return FORMAT_PROTOCOLS[protocol]
    names = ", ".join(repr(k) for k in FORMAT_PROTOCOLS)
    raise ValueError(f"`format` must be a FormatProtocol or one of {names}; got {protocol!r}.")


@dataclasses.dataclass(frozen=True)
class FormatResult:
    """A fitted format layer and its record.

    Attributes:
      layer: the [`FormatLayer`][hsic.bottleneck.FormatLayer].
      record: JSON-ready: ``protocol`` (every setting), ``train_images``, ``train_acc``,
        ``test_acc``, ``train_acc_unformatted``, ``test_acc_unformatted`` and
        ``test_acc_per_format_epoch`` (the test accuracy after each format epoch: the x-axis
        of the official code's accuracy curves). Test entries are None without test data.
    """

    layer: FormatLayer
    record: dict


def fit_format(
    model: Network,
    params: Sequence,
    state: Sequence,
    data: Any,
    *,
    protocol: str | FormatProtocol = "best",
    rng: int | jax.Array = 0,
    precomputed: tuple[np.ndarray, np.ndarray | None] | None = None,
) -> FormatResult:
    """The format stage: a format layer fitted on the frozen network by ``protocol``.

    The features of every training image (the network in evaluation mode, see
    [`features`][hsic.bottleneck.features]) are fitted with the protocol's optimizer, batch
    size and epochs; the test accuracy is measured after each format epoch. The unformatted
    ("HSIC-solve") accuracies come with it.

    Args:
      model: the network.
      params: its parameters.
      state: its BatchNorm statistics.
      data: a [`Dataset`][hsic.bottleneck.Dataset] (``x_test`` may be None).
      protocol: a [`FormatProtocol`][hsic.bottleneck.FormatProtocol] or the name of one in
        ``FORMAT_PROTOCOLS``: ``"best"`` (default), ``"paper"``, ``"paper-mlp"`` or
        ``"default"``.
      rng: the batch order: an int seed, a JAX key, a ``numpy.random.Generator`` or None
        (fresh entropy).
      precomputed: the ``(train, test)`` features of this network, as
        [`features`][hsic.bottleneck.features] gives them (test None without test data), to
        fit several protocols on one pass of the network.

    Returns:
      A [`FormatResult`][hsic.bottleneck.FormatResult] ``(layer, record)``.

    Example:
      >>> import numpy as np
      >>> from hsic.bottleneck import Dataset, fit_format, mlp
      >>> rng = np.random.default_rng(0)
      >>> y = rng.integers(0, 2, 300).astype(np.int32)
      >>> x = (rng.normal(size=(300, 4)) + 3.0 * y[:, None]).astype(np.float32)
      >>> net = mlp([8, 4], input_shape=(4,))
      >>> params, state = net.init(0)
      >>> data = Dataset(x[:200], y[:200], x[200:], y[200:], 2, "toy")
      >>> result = fit_format(net, params, state, data, protocol="paper")
      >>> result.record["train_images"], len(result.record["test_acc_per_format_epoch"])
      (200, 5)
    """
    protocol = format_protocol(protocol)
    num_classes = check_positive_int(data.num_classes, "data.num_classes")
    x_train = np.asarray(data.x_train, dtype=np.float32)
    y_train = np.asarray(data.y_train, dtype=np.int32)
    has_test = getattr(data, "x_test", None) is not None and len(data.x_test) > 0
    if precomputed is not None:
        f_train, f_test = (None if f is None else np.asarray(f, np.float32) for f in precomputed)
        if f_train is None or len(f_train) != len(x_train) or (f_test is None) == has_test:
            raise ValueError(
                "`precomputed` must be the (train, test) features of `data`'s images (test "
                "None without test data), from hsic.bottleneck.features."
            )
    else:
        f_train = features(model, params, state, x_train)
        f_test = features(model, params, state, data.x_test) if has_test else None
    per_epoch, head = [], None
    for head in _format_heads(f_train, y_train, num_classes=num_classes, epochs=protocol.epochs,
                              batch_size=protocol.batch_size,
                              optimizer=protocol.transformation(len(f_train)), rng=rng,
                              drop_last=False):
        if f_test is not None:
            layer = FormatLayer(np.asarray(head["w"]), np.asarray(head["b"]))
            per_epoch.append(format_accuracy(layer, f_test, data.y_test))
    assert head is not None  # epochs ≥ 1
    layer = FormatLayer(np.asarray(head["w"]), np.asarray(head["b"]))
    mapping = class_map(f_train, y_train, num_classes=num_classes)
    record: dict[str, Any] = {
        "protocol": protocol.settings(), "train_images": int(len(x_train)),
        "train_acc": format_accuracy(layer, f_train, y_train), "test_acc": None,
        "train_acc_unformatted": unformatted_accuracy(f_train, y_train, mapping),
        "test_acc_unformatted": None, "test_acc_per_format_epoch": None,
    }
    if f_test is not None:
        record.update(test_acc=per_epoch[-1], test_acc_per_format_epoch=per_epoch,
                      test_acc_unformatted=unformatted_accuracy(f_test, data.y_test, mapping))
    return FormatResult(layer, record)


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
