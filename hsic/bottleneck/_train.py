"""The layer-wise HSIC-bottleneck trainer, the format layer, accuracies and the baselines.

* [`train`][hsic.bottleneck.train]: each block ``i`` is updated with the gradient of its own
  loss ``nHSIC(Z_i, X) − β·nHSIC(Z_i, Y)`` only; its input is ``stop_gradient``-ed, so no
  gradient crosses blocks. Two update orders:

  - ``"simultaneous"``: one forward pass computes every block's loss, and one jitted step
    updates every block (each with its own gradient);
  - ``"sequential"``: the paper's order. Block ``i`` is updated first, then its output is
    recomputed with the new weights, so block ``i + 1`` sees the updated block ``i`` within
    the same batch. It costs one extra block forward per block.

* [`train_format`][hsic.bottleneck.train_format]: a linear softmax layer trained with
  cross-entropy on the frozen network's output;
  [`unformatted_accuracy`][hsic.bottleneck.unformatted_accuracy] is the paper's "HSIC-solve"
  accuracy.
* [`train_sigma_combined`][hsic.bottleneck.train_sigma_combined] and
  [`train_backprop`][hsic.bottleneck.train_backprop]: the paper's σ-combined network and the
  end-to-end cross-entropy baseline.
* [`hsic_plane`][hsic.bottleneck.hsic_plane]: per-block ``nHSIC(Z, X)`` and ``nHSIC(Z, Y)`` of
  any network.

Runs are reproducible: the initial weights and the batch order come only from ``seed``, and a
run resumed from its per-epoch checkpoint ends with exactly the weights of an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from hsic._base.rng import as_generator
from hsic._base.validation import check_choice, check_positive_int
from hsic.bottleneck._models import Network, network_from_config
from hsic.bottleneck._objective import (
    EPSILON,
    NORMALISATIONS,
    block_losses,
    bottleneck_gram,
    check_sigma,
    layer_loss,
    layer_targets,
)

__all__ = [
    "FormatLayer",
    "HSICPlane",
    "TrainingDiverged",
    "TrainResult",
    "bottleneck_losses",
    "class_map",
    "features",
    "format_accuracy",
    "hsic_plane",
    "load_run",
    "paper_optimizer",
    "train",
    "train_backprop",
    "train_format",
    "train_sigma_combined",
    "unformatted_accuracy",
]

UPDATES = ("simultaneous", "sequential")
EVAL_BATCH = 1000


class TrainingDiverged(RuntimeError):
    """A loss became NaN or inf; the message names the block and the step."""


@functools.lru_cache(maxsize=32)  # the same settings give the same object: no recompilation
def paper_optimizer(
    learning_rate: float = 0.01, *, momentum: float = 0.9, weight_decay: float = 1e-3
) -> optax.GradientTransformation:
    """The paper's optimizer: SGD with momentum and (L2) weight decay.

    ``g ← ∇loss + λ·w``; ``v ← μ·v + g``; ``w ← w − η·v`` (PyTorch's ``SGD`` with
    ``weight_decay=λ``, ``momentum=μ``).

    Args:
      learning_rate: η.
      momentum: μ.
      weight_decay: λ.

    Example:
      >>> import optax
      >>> from hsic.bottleneck import paper_optimizer
      >>> isinstance(paper_optimizer(0.05), optax.GradientTransformation)
      True
    """
    for value, name in ((learning_rate, "learning_rate"), (momentum, "momentum"),
                        (weight_decay, "weight_decay")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value >= 0
        ):
            raise ValueError(f"`{name}` must be a non-negative number; got {value!r}.")
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be a positive number; got {learning_rate!r}.")
    return optax.chain(
        optax.add_decayed_weights(weight_decay),
        optax.sgd(learning_rate, momentum=momentum or None),
    )


# --------------------------------------------------------------------------------------------
# The local losses and the training steps
# --------------------------------------------------------------------------------------------


def _flat(x):
    return x.reshape(x.shape[0], -1)


def bottleneck_losses(
    model: Network,
    params: Sequence,
    state: Sequence,
    x: ArrayLike,
    y_onehot: ArrayLike,
    *,
    beta: float,
    sigma: float,
    normalisation: Literal["nocco", "cka", "hsic"] = "nocco",
    epsilon: float = EPSILON,
    train: bool = True,
) -> tuple[jax.Array, tuple[jax.Array, jax.Array], list]:
    """Every block's local loss on a batch, with no gradient crossing blocks.

    Block ``i`` runs on ``stop_gradient(Z_{i−1})`` and its loss is
    ``nHSIC(Z_i, X) − β·nHSIC(Z_i, Y)`` (see [`layer_loss`][hsic.bottleneck.layer_loss]), so
    ``∂loss_j/∂params_i = 0`` for ``i ≠ j``: ``jax.grad`` of the sum of the losses gives each
    block exactly the gradient of its own loss.

    Args:
      model: the network.
      params: its per-block parameters.
      state: its per-block BatchNorm statistics.
      x: a batch of inputs, ``(m, ...)``.
      y_onehot: the batch's one-hot labels, ``(m, classes)``.
      beta: β.
      sigma: σ of every kernel (width ``σ·√d``).
      normalisation: ``"nocco"``, ``"cka"`` or ``"hsic"``.
      epsilon: NOCCO's regulariser.
      train: BatchNorm mode.

    Returns:
      ``(losses, (nhsic_zx, nhsic_zy), new_state)``; the first two are ``(n_blocks,)`` arrays.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from hsic.bottleneck import bottleneck_losses, mlp
      >>> net = mlp([16, 8], input_shape=(4,))
      >>> params, state = net.init(0)
      >>> x = jax.random.normal(jax.random.key(1), (32, 4))
      >>> y = jax.nn.one_hot(jnp.arange(32) % 2, 2)
      >>> losses, (zx, zy), _ = bottleneck_losses(net, params, state, x, y, beta=10.0, sigma=5.0)
      >>> losses.shape
      (2,)
    """
    x = jnp.asarray(x)
    Kx = bottleneck_gram(_flat(x), sigma=sigma)
    Ky = bottleneck_gram(y_onehot, sigma=sigma)
    targets = layer_targets(Kx, Ky, normalisation=normalisation, epsilon=epsilon)
    h = x
    grams, new_state = [], []
    for i in range(model.n_blocks):
        z, s = model.block(i, params[i], state[i], jax.lax.stop_gradient(h), train=train)
        grams.append(bottleneck_gram(z, sigma=sigma))
        new_state.append(s)
        h = z
    # Every block's loss at once (one batched NOCCO projection); block i's loss depends on
    # params[i] only, through grams[i].
    losses, aux = block_losses(jnp.stack(grams), targets, beta=beta,
                               normalisation=normalisation, epsilon=epsilon)
    return losses, aux, new_state


def _all_finite(values: jax.Array) -> jax.Array:
    return jnp.all(jnp.isfinite(values))


def _keep_if(ok, new, old):
    """``new`` where the step is good, else ``old`` (a NaN step leaves everything unchanged)."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, old)


@functools.lru_cache(maxsize=16)  # one compiled step per (network, settings)
def _make_step(model: Network, optimizer, *, beta, sigma, normalisation, epsilon, update,
               num_classes, batch_size):
    """The jitted training step on batch ``b`` of the permutation ``order`` (no host work)."""

    def batch_of(x_all, y_all, order, b):
        idx = jax.lax.dynamic_slice_in_dim(order, b * batch_size, batch_size)
        return x_all[idx], jax.nn.one_hot(y_all[idx], num_classes, dtype=x_all.dtype)

    objective = functools.partial(
        layer_loss, beta=beta, sigma=sigma, normalisation=normalisation, epsilon=epsilon
    )

    def simultaneous(params, state, opt_states, x_all, y_all, order, b):
        x, y = batch_of(x_all, y_all, order, b)

        def total(p):
            losses, aux, new_state = bottleneck_losses(
                model, p, state, x, y, beta=beta, sigma=sigma, normalisation=normalisation,
                epsilon=epsilon,
            )
            return jnp.sum(losses), (losses, aux, new_state)

        grads, (losses, (zx, zy), new_state) = jax.grad(total, has_aux=True)(params)
        new_params, new_opt = [], []
        for g, o, p in zip(grads, opt_states, params, strict=True):
            updates, o = optimizer.update(g, o, p)
            new_params.append(optax.apply_updates(p, updates))
            new_opt.append(o)
        ok = _all_finite(losses)
        carry = _keep_if(ok, (new_params, new_state, new_opt), (params, state, opt_states))
        return (*carry, losses, zx, zy)

    def sequential(params, state, opt_states, x_all, y_all, order, b):
        x, y = batch_of(x_all, y_all, order, b)
        Kx = bottleneck_gram(_flat(x), sigma=sigma)
        Ky = bottleneck_gram(y, sigma=sigma)
        targets = layer_targets(Kx, Ky, normalisation=normalisation, epsilon=epsilon)
        h = x
        new_params, new_state, new_opt, losses, zxs, zys = [], [], [], [], [], []
        for i in range(model.n_blocks):
            h_in = jax.lax.stop_gradient(h)

            def local(p_i, i=i, h_in=h_in):
                z, s = model.block(i, p_i, state[i], h_in, train=True)
                loss, aux = objective(z, Kx, Ky, targets=targets)
                return loss, (aux, s)

            (loss, ((zx, zy), s)), g = jax.value_and_grad(local, has_aux=True)(params[i])
            updates, o = optimizer.update(g, opt_states[i], params[i])
            p_new = optax.apply_updates(params[i], updates)
            # The next block sees this block's output with the updated weights.
            h, _ = model.block(i, p_new, state[i], h_in, train=True)
            new_params.append(p_new)
            new_state.append(s)
            new_opt.append(o)
            losses.append(loss)
            zxs.append(zx)
            zys.append(zy)
        losses = jnp.stack(losses)
        ok = _all_finite(losses)
        carry = _keep_if(ok, (new_params, new_state, new_opt), (params, state, opt_states))
        return (*carry, losses, jnp.stack(zxs), jnp.stack(zys))

    step = simultaneous if update == "simultaneous" else sequential
    return jax.jit(step, donate_argnums=(0, 1, 2))


# --------------------------------------------------------------------------------------------
# Features, format layer and accuracies
# --------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnums=(0,))
def _eval_outputs(model, params, state, x):
    outputs, _ = model.apply(params, state, x, train=False)
    return [_flat(z) for z in outputs]


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


def _cross_entropy(logits, labels):
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


@functools.partial(jax.jit, static_argnums=(0, 6))
def _format_epoch(optimizer, head, opt_state, feats, labels, order, batch_size):
    def one(carry, b):
        head, opt_state = carry
        idx = jax.lax.dynamic_slice_in_dim(order, b * batch_size, batch_size)

        def loss(h):
            return _cross_entropy(feats[idx] @ h["w"] + h["b"], labels[idx])

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
    seed: int | jax.Array = 0,
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
      seed: an int or JAX key: the batch order.

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
    rng = as_generator(seed, "seed")
    head = {"w": jnp.zeros((d, num_classes), feats.dtype), "b": jnp.zeros((num_classes,))}
    opt_state = optimizer.init(head)
    for _ in range(epochs):
        order = jnp.asarray(rng.permutation(n).astype(np.int32))
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


# --------------------------------------------------------------------------------------------
# The trainer
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """The outcome of a training run.

    Attributes:
      model: the network.
      params: its trained per-block parameters.
      state: its BatchNorm statistics.
      history: one metrics record per epoch (as written to ``metrics.jsonl``).
      run_dir: the run directory, or None.
    """

    model: Network
    params: list
    state: list
    history: tuple[dict, ...]
    run_dir: str | None = None


def _check_number(value, name, *, positive=True):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number; got {value!r}.")
    if positive and not value > 0:
        raise ValueError(f"`{name}` must be a positive number; got {value!r}.")
    return float(value)


def _check_data(data):
    for field in ("x_train", "y_train", "num_classes"):
        if not hasattr(data, field):
            raise ValueError(
                "`data` must be a Dataset (x_train, y_train, x_test, y_test, num_classes), "
                f"e.g. from hsic.bottleneck.load_dataset; it has no `{field}`."
            )
    x = np.asarray(data.x_train, dtype=np.float32)
    y = np.asarray(data.y_train, dtype=np.int32)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"`data.x_train` and `data.y_train` must have the same number of samples; got "
            f"{x.shape[0]} and {y.shape[0]}."
        )
    return x, y


def _progress(total, enabled, desc):
    from tqdm.auto import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, disable=not enabled, desc=desc, leave=False)


def _epoch_rng(base: int, epoch: int) -> np.random.Generator:
    """The batch order of ``epoch``: independent of how many epochs ran before (resumable)."""
    return np.random.default_rng([base, epoch])


def _checkpoint_name(run_dir, epoch):
    return os.path.join(run_dir, f"epoch_{epoch:04d}")


def _evaluate(model, params, state, data, num_classes, format_epochs, seed):
    """Unformatted (and, if ``format_epochs``, format) accuracies on train and test."""
    x_train, y_train = _check_data(data)
    f_train = features(model, params, state, x_train)
    mapping = class_map(f_train, y_train, num_classes=num_classes)
    record = {"train_acc_unformatted": unformatted_accuracy(f_train, y_train, mapping),
              "test_acc_unformatted": None, "train_acc": None, "test_acc": None}
    has_test = getattr(data, "x_test", None) is not None and len(data.x_test)
    f_test = features(model, params, state, data.x_test) if has_test else None
    if has_test:
        record["test_acc_unformatted"] = unformatted_accuracy(f_test, data.y_test, mapping)
    if format_epochs:
        layer = train_format(f_train, y_train, num_classes=num_classes, epochs=format_epochs,
                             seed=seed)
        record["train_acc"] = format_accuracy(layer, f_train, y_train)
        if has_test:
            record["test_acc"] = format_accuracy(layer, f_test, data.y_test)
    return record


def train(
    model: Network,
    data: Any,
    *,
    epochs: int = 5,
    beta: float = 50.0,
    sigma: float = 5.0,
    batch_size: int = 256,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float = 0.01,
    normalisation: Literal["nocco", "cka", "hsic"] = "nocco",
    epsilon: float = EPSILON,
    update: Literal["simultaneous", "sequential"] = "simultaneous",
    seed: int | jax.Array = 0,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    evaluate: bool = True,
    format_epochs: int = 0,
    progress: bool | None = None,
) -> TrainResult:
    """Train a network layer-wise with the HSIC-bottleneck objective.

    Each step draws a batch of m samples (shuffled from ``seed``; the last incomplete batch of
    an epoch is dropped) and updates each block ``i`` with the gradient of its own loss
    ``loss_i = nHSIC(Z_i, X) − β·nHSIC(Z_i, Y)`` only (see
    [`bottleneck_losses`][hsic.bottleneck.bottleneck_losses]), in the ``update`` order. Every
    block has its own optimizer state.

    After each epoch it logs a record (per-block mean loss, ``nhsic_zx`` and ``nhsic_zy`` over
    the epoch's batches; unformatted accuracies if ``evaluate``; format accuracies if
    ``format_epochs``; cumulative ``wall_time``) and, with ``run_dir``, appends it to
    ``run_dir/metrics.jsonl`` and writes a checkpoint ``run_dir/epoch_NNNN.npz/.json``.

    A NaN or inf loss stops training with [`TrainingDiverged`][hsic.bottleneck.TrainingDiverged]
    naming the block and the step; the weights of that step are discarded, and the last
    checkpoint written is the last good one.

    Args:
      model: the network ([`mlp`][hsic.bottleneck.mlp] or [`resnet`][hsic.bottleneck.resnet]).
      data: a [`Dataset`][hsic.bottleneck.Dataset] (``x_test`` may be None).
      epochs: the total number of epochs (a resumed run continues up to it).
      beta: β, the weight of the label term (50: the official code's MNIST MLP setting,
        the best of 20, 50, 100, 500 and 2000 in a sweep on MNIST; see docs/bottleneck.md).
      sigma: σ of the Gaussian kernels (width ``σ·√d``).
      batch_size: m.
      optimizer: any optax optimizer; by default
        [`paper_optimizer`][hsic.bottleneck.paper_optimizer]``(learning_rate)``.
      learning_rate: the default optimizer's learning rate.
      normalisation: ``"nocco"`` (the official code's), ``"cka"`` or ``"hsic"``.
      epsilon: NOCCO's regulariser ε.
      update: ``"simultaneous"`` or ``"sequential"`` (see the module notes).
      seed: an int or JAX key: the initial weights and the batch order.
      run_dir: where to write ``config.json``, ``metrics.jsonl`` and checkpoints.
      resume: continue from the latest checkpoint in ``run_dir``.
      evaluate: log the unformatted train/test accuracies after each epoch.
      format_epochs: if > 0, also train a format layer for that many epochs after each epoch
        and log its accuracies.
      progress: show a progress bar; by default only on a terminal.

    Returns:
      A [`TrainResult`][hsic.bottleneck.TrainResult].

    Raises:
      TrainingDiverged: on a NaN or inf loss.

    Example:
      >>> import numpy as np
      >>> from hsic.bottleneck import Dataset, mlp, train
      >>> rng = np.random.default_rng(0)
      >>> y = rng.integers(0, 2, 256).astype(np.int32)
      >>> x = (rng.normal(size=(256, 4)) + 2.0 * y[:, None]).astype(np.float32)
      >>> data = Dataset(x, y, None, None, 2, "toy")
      >>> result = train(mlp([16, 2], input_shape=(4,)), data, epochs=2, batch_size=64)
      >>> last = result.history[-1]
      >>> len(result.history), last.get("train_acc_unformatted") > 0.8
      (2, True)

    References:
      Ma, Lewis, Kleijn (2020), "The HSIC bottleneck: deep learning without
      back-propagation", AAAI.
    """
    epochs = check_positive_int(epochs, "epochs")
    beta = _check_number(beta, "beta", positive=False)
    sigma = check_sigma(sigma)
    batch_size = check_positive_int(batch_size, "batch_size")
    check_choice(normalisation, "normalisation", NORMALISATIONS)
    check_choice(update, "update", UPDATES)
    epsilon = _check_number(epsilon, "epsilon")
    if isinstance(format_epochs, bool) or not isinstance(format_epochs, int) or format_epochs < 0:
        raise ValueError(f"`format_epochs` must be a non-negative integer; got {format_epochs!r}.")
    if resume and run_dir is None:
        raise ValueError("`resume`=True needs a `run_dir` to resume from.")
    x_train, y_train = _check_data(data)
    num_classes = check_positive_int(data.num_classes, "data.num_classes")
    n = x_train.shape[0]
    if batch_size > n:
        raise ValueError(
            f"`batch_size` must be at most the number of training samples ({n}); got {batch_size}."
        )
    if batch_size < 2:
        raise ValueError(f"`batch_size` must be at least 2 (HSIC needs pairs); got {batch_size}.")
    if optimizer is None:
        optimizer = paper_optimizer(_check_number(learning_rate, "learning_rate"))

    rng = as_generator(seed, "seed")
    init_seed, order_base = (int(v) for v in rng.integers(0, 2**62, size=2))
    params, state = model.init(jax.random.key(init_seed))
    opt_states = [optimizer.init(p) for p in params]
    config = {
        "epochs": epochs, "beta": beta, "sigma": sigma, "batch_size": batch_size,
        "normalisation": normalisation, "epsilon": epsilon, "update": update,
        "seed": seed if isinstance(seed, int) else None, "num_classes": num_classes,
        "data": getattr(data, "name", None), "model": model.config_dict(),
        "format_epochs": format_epochs,
    }

    from hsic.bottleneck._checkpoint import (
        append_jsonl,
        latest_checkpoint,
        load_checkpoint,
        read_jsonl,
        save_checkpoint,
        write_json,
        write_jsonl,
    )

    start_epoch, wall_offset, history = 0, 0.0, []
    if run_dir is not None:
        run_dir = os.fspath(run_dir)
        os.makedirs(run_dir, exist_ok=True)
        metrics_path = os.path.join(run_dir, "metrics.jsonl")
        latest = latest_checkpoint(run_dir) if resume else None
        if latest is not None:
            tree, meta = load_checkpoint(latest, {"params": params, "state": state})
            _check_resumable(meta.get("config", {}), config)
            opt_tree, _ = load_checkpoint(_optimizer_checkpoint(latest), opt_states)
            params, state, opt_states = list(tree["params"]), list(tree["state"]), list(opt_tree)
            start_epoch, wall_offset = int(meta["epoch"]), float(meta.get("wall_time", 0.0))
            old = read_jsonl(metrics_path) if os.path.exists(metrics_path) else []
            history = [r for r in old if r["epoch"] <= start_epoch]
            write_jsonl(metrics_path, history)  # atomic: a crash here keeps the old log
        else:
            if os.path.exists(metrics_path):
                os.remove(metrics_path)
        write_json(os.path.join(run_dir, "config.json"), config)

    step_fn = _make_step(
        model, optimizer, beta=beta, sigma=sigma, normalisation=normalisation, epsilon=epsilon,
        update=update, num_classes=num_classes, batch_size=batch_size,
    )
    x_dev, y_dev = jnp.asarray(x_train), jnp.asarray(y_train)
    steps = n // batch_size
    bar = _progress((epochs - start_epoch) * steps, progress, "hsic bottleneck")
    started = time.perf_counter() - wall_offset
    try:
        for epoch in range(start_epoch, epochs):
            order = jnp.asarray(_epoch_rng(order_base, epoch).permutation(n).astype(np.int32))
            per_step = []
            for b in range(steps):
                params, state, opt_states, losses, zx, zy = step_fn(
                    params, state, opt_states, x_dev, y_dev, order, b
                )
                per_step.append((losses, zx, zy))
                bar.update(1)
            losses, zx, zy = (np.asarray(jnp.stack(v)) for v in zip(*per_step, strict=True))
            _raise_if_diverged(losses, epoch, steps, run_dir)
            record = {
                "epoch": epoch + 1, "step": (epoch + 1) * steps,
                "loss": losses.mean(axis=0).tolist(), "nhsic_zx": zx.mean(axis=0).tolist(),
                "nhsic_zy": zy.mean(axis=0).tolist(), "train_acc": None, "test_acc": None,
                "train_acc_unformatted": None, "test_acc_unformatted": None,
            }
            if evaluate or format_epochs:
                record.update(_evaluate(model, params, state, data, num_classes,
                                        format_epochs, seed=epoch))
                if not evaluate:
                    record["train_acc_unformatted"] = record["test_acc_unformatted"] = None
            record["wall_time"] = time.perf_counter() - started
            history.append(record)
            if run_dir is not None:
                meta = {"epoch": epoch + 1, "step": record["step"], "config": config,
                        "wall_time": record["wall_time"]}
                path = _checkpoint_name(run_dir, epoch + 1)
                # The optimizer state first, in a subdirectory: the network's checkpoint is
                # the commit record that latest_checkpoint finds.
                os.makedirs(os.path.dirname(_optimizer_checkpoint(path)), exist_ok=True)
                save_checkpoint(_optimizer_checkpoint(path), opt_states, meta)
                save_checkpoint(path, {"params": params, "state": state}, meta)
                append_jsonl(metrics_path, record)
    finally:
        bar.close()
    return TrainResult(model, list(params), list(state), tuple(history), run_dir)


def _optimizer_checkpoint(path):
    """Where the optimizer state of checkpoint ``path`` lives: ``<run_dir>/optimizer/<name>``.

    Kept apart so that the network's checkpoint loads without knowing the optimizer."""
    head, name = os.path.split(os.fspath(path))
    return os.path.join(head, "optimizer", name)


def _check_resumable(saved: dict, config: dict):
    config = json.loads(json.dumps(config))  # as saved: tuples become lists
    for key in ("beta", "sigma", "batch_size", "normalisation", "epsilon", "update", "model",
                "num_classes"):
        if key in saved and saved[key] != config[key]:
            raise ValueError(
                f"Cannot resume: the checkpoint was trained with {key}={saved[key]!r}, but this "
                f"run asks for {key}={config[key]!r}. Use the same settings, or a new run "
                "directory."
            )


def _raise_if_diverged(losses: np.ndarray, epoch: int, steps: int, run_dir):
    bad = ~np.isfinite(losses)
    if not bad.any():
        return
    step, layer = np.argwhere(bad)[0]
    where = (f"The last good checkpoint is {_checkpoint_name(run_dir, epoch)}."
             if run_dir is not None and epoch > 0 else "No checkpoint was written.")
    raise TrainingDiverged(
        f"The loss of block {layer} became {losses[step, layer]} at step "
        f"{epoch * steps + step + 1} (epoch {epoch + 1}, batch {step + 1}); training stopped. "
        f"{where} Lower the learning rate or beta, or use normalisation='cka'."
    )


# --------------------------------------------------------------------------------------------
# Research API, sigma-combined networks and the backprop baseline
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HSICPlane:
    """Per-block coordinates in the HSIC plane.

    Attributes:
      nhsic_zx: ``(n_blocks,)`` normalised HSIC between each block's output and X.
      nhsic_zy: ``(n_blocks,)`` normalised HSIC between each block's output and Y.
    """

    nhsic_zx: np.ndarray
    nhsic_zy: np.ndarray


@functools.partial(jax.jit, static_argnames=("model", "sigma", "normalisation", "epsilon",
                                             "num_classes"))
def _plane_batch(model, params, state, x, y, *, sigma, normalisation, epsilon, num_classes):
    y1h = jax.nn.one_hot(y, num_classes, dtype=x.dtype)
    _, (zx, zy), _ = bottleneck_losses(model, params, state, x, y1h, beta=0.0, sigma=sigma,
                                       normalisation=normalisation, epsilon=epsilon, train=False)
    return zx, zy


def hsic_plane(
    model: Network,
    params: Sequence,
    state: Sequence,
    x: ArrayLike,
    y: ArrayLike,
    *,
    sigma: float = 5.0,
    normalisation: Literal["nocco", "cka", "hsic"] = "nocco",
    epsilon: float = EPSILON,
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
      sigma: σ of the kernels.
      normalisation: ``"nocco"``, ``"cka"`` or ``"hsic"``.
      epsilon: NOCCO's regulariser.
      num_classes: the number of classes (by default ``max(y) + 1``).
      batch_size: the batch size m.

    Returns:
      An [`HSICPlane`][hsic.bottleneck.HSICPlane].

    Example:
      >>> import numpy as np
      >>> from hsic.bottleneck import hsic_plane, mlp
      >>> net = mlp([8, 4], input_shape=(3,))
      >>> params, state = net.init(0)
      >>> x = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
      >>> plane = hsic_plane(net, params, state, x, np.arange(64) % 2, normalisation="cka",
      ...                    batch_size=32)
      >>> plane.nhsic_zx.shape
      (2,)
    """
    sigma = check_sigma(sigma)
    check_choice(normalisation, "normalisation", NORMALISATIONS)
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
    num_classes = int(num_classes or int(y.max()) + 1)
    zx, zy = [], []
    for start in range(0, x.shape[0] - batch_size + 1, batch_size):
        a, b = _plane_batch(model, params, state, jnp.asarray(x[start:start + batch_size]),
                            jnp.asarray(y[start:start + batch_size]), sigma=sigma,
                            normalisation=normalisation, epsilon=float(epsilon),
                            num_classes=num_classes)
        zx.append(a)
        zy.append(b)
    return HSICPlane(np.asarray(jnp.stack(zx)).mean(0), np.asarray(jnp.stack(zy)).mean(0))


def train_sigma_combined(
    model: Network,
    data: Any,
    *,
    sigmas: Sequence[float] = (1.0, 5.0, 10.0),
    seed: int = 0,
    format_epochs: int = 5,
    run_dir: str | os.PathLike | None = None,
    **train_kwargs: Any,
) -> tuple[list[TrainResult], FormatLayer, dict]:
    """The paper's σ-combined network: one network per σ, outputs averaged, then a format layer.

    Network ``k`` is trained by [`train`][hsic.bottleneck.train] with ``sigma=sigmas[k]`` and
    seed ``seed + k`` (in ``run_dir/sigma_<σ>`` if ``run_dir``). The combined feature is
    ``z = (1/K) Σ_k z_k``, and a format layer is trained on it.

    Args:
      model: the architecture (shared by every network).
      data: a [`Dataset`][hsic.bottleneck.Dataset].
      sigmas: the σ of each network.
      seed: the base seed.
      format_epochs: epochs of the format layer.
      run_dir: optional parent directory of the runs.
      **train_kwargs: passed on to [`train`][hsic.bottleneck.train].

    Returns:
      ``(results, format_layer, accuracies)`` with ``accuracies`` holding ``train_acc`` and
      ``test_acc`` (None without test data).

    Example:
      >>> import numpy as np
      >>> from hsic.bottleneck import Dataset, mlp, train_sigma_combined
      >>> rng = np.random.default_rng(0)
      >>> y = rng.integers(0, 2, 128).astype(np.int32)
      >>> x = (rng.normal(size=(128, 3)) + 2.0 * y[:, None]).astype(np.float32)
      >>> data = Dataset(x, y, None, None, 2, "toy")
      >>> runs, layer, acc = train_sigma_combined(mlp([8], input_shape=(3,)), data,
      ...     sigmas=(1.0, 5.0), epochs=1, batch_size=64, beta=500.0, evaluate=False)
      >>> len(runs), acc["train_acc"] > 0.8
      (2, True)
    """
    if not sigmas:
        raise ValueError("`sigmas` must list at least one sigma; got an empty list.")
    sigmas = [check_sigma(s) for s in sigmas]
    format_epochs = check_positive_int(format_epochs, "format_epochs")
    results = []
    for k, s in enumerate(sigmas):
        sub = None if run_dir is None else os.path.join(os.fspath(run_dir), f"sigma_{s:g}")
        results.append(train(model, data, sigma=s, seed=seed + k, run_dir=sub, **train_kwargs))
    x_train, y_train = _check_data(data)
    f_train = np.mean([features(model, r.params, r.state, x_train) for r in results], axis=0)
    layer = train_format(f_train, y_train, num_classes=data.num_classes, epochs=format_epochs,
                         seed=seed)
    acc = {"train_acc": format_accuracy(layer, f_train, y_train), "test_acc": None}
    if getattr(data, "x_test", None) is not None and len(data.x_test):
        f_test = np.mean([features(model, r.params, r.state, data.x_test) for r in results],
                         axis=0)
        acc["test_acc"] = format_accuracy(layer, f_test, data.y_test)
    return results, layer, acc


def train_backprop(
    model: Network,
    data: Any,
    *,
    epochs: int = 5,
    batch_size: int = 256,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float = 0.01,
    seed: int | jax.Array = 0,
    progress: bool | None = None,
) -> tuple[list, list, FormatLayer, dict]:
    """The backprop baseline: the same network plus a linear softmax, end to end.

    Minimises the cross-entropy of ``softmax(z W + b)`` (``z`` the network's output) over every
    parameter by backpropagation, with the same optimizer, batch size, epochs and batch order
    as [`train`][hsic.bottleneck.train].

    Args:
      model: the network.
      data: a [`Dataset`][hsic.bottleneck.Dataset].
      epochs: passes over the data.
      batch_size: mini-batch size.
      optimizer: any optax optimizer; by default ``paper_optimizer(learning_rate)``.
      learning_rate: the default optimizer's learning rate.
      seed: an int or JAX key.
      progress: show a progress bar; by default only on a terminal.

    Returns:
      ``(params, state, head, accuracies)``: ``head`` is the trained softmax layer as a
      [`FormatLayer`][hsic.bottleneck.FormatLayer], ``accuracies`` holds ``train_acc``,
      ``test_acc`` and ``epoch_times`` (seconds).

    Example:
      >>> import numpy as np
      >>> from hsic.bottleneck import Dataset, mlp, train_backprop
      >>> rng = np.random.default_rng(0)
      >>> y = rng.integers(0, 2, 256).astype(np.int32)
      >>> x = (rng.normal(size=(256, 4)) + 2.0 * y[:, None]).astype(np.float32)
      >>> _, _, head, acc = train_backprop(mlp([16], input_shape=(4,)),
      ...     Dataset(x, y, None, None, 2, "toy"), epochs=3, batch_size=32)
      >>> acc["train_acc"] > 0.8
      True
    """
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    x_train, y_train = _check_data(data)
    num_classes = check_positive_int(data.num_classes, "data.num_classes")
    n = x_train.shape[0]
    if not 2 <= batch_size <= n:
        raise ValueError(
            f"`batch_size` must be between 2 and the number of samples ({n}); got {batch_size}."
        )
    if optimizer is None:
        optimizer = paper_optimizer(_check_number(learning_rate, "learning_rate"))
    rng = as_generator(seed, "seed")
    init_seed, order_base = (int(v) for v in rng.integers(0, 2**62, size=2))
    k_net, k_head = jax.random.split(jax.random.key(init_seed))
    params, state = model.init(k_net)
    bound = 1.0 / math.sqrt(model.output_dim)
    head = {
        "w": jax.random.uniform(k_head, (model.output_dim, num_classes), jnp.float32,
                                -bound, bound),
        "b": jnp.zeros((num_classes,), jnp.float32),
    }
    trainable = {"net": params, "head": head}
    opt_state = optimizer.init(trainable)

    def step(trainable, state, opt_state, x_all, y_all, order, b):
        idx = jax.lax.dynamic_slice_in_dim(order, b * batch_size, batch_size)
        x, y = x_all[idx], y_all[idx]

        def loss(t):
            outputs, new_state = model.apply(t["net"], state, x, train=True)
            logits = _flat(outputs[-1]) @ t["head"]["w"] + t["head"]["b"]
            return _cross_entropy(logits, y), new_state

        (value, new_state), g = jax.value_and_grad(loss, has_aux=True)(trainable)
        updates, opt_state = optimizer.update(g, opt_state, trainable)
        return optax.apply_updates(trainable, updates), new_state, opt_state, value

    step = jax.jit(step, donate_argnums=(0, 1, 2))
    x_dev, y_dev = jnp.asarray(x_train), jnp.asarray(y_train)
    steps = n // batch_size
    bar = _progress(epochs * steps, progress, "backprop")
    epoch_times = []
    try:
        for epoch in range(epochs):
            t0 = time.perf_counter()
            order = jnp.asarray(_epoch_rng(order_base, epoch).permutation(n).astype(np.int32))
            for b in range(steps):
                trainable, state, opt_state, value = step(trainable, state, opt_state, x_dev,
                                                          y_dev, order, b)
                bar.update(1)
            value.block_until_ready()
            epoch_times.append(time.perf_counter() - t0)
            if not np.isfinite(float(value)):
                raise TrainingDiverged(
                    f"The backprop loss became {float(value)} in epoch {epoch + 1}; lower the "
                    "learning rate."
                )
    finally:
        bar.close()
    params = list(trainable["net"])
    layer = FormatLayer(np.asarray(trainable["head"]["w"]), np.asarray(trainable["head"]["b"]))
    acc = {"train_acc": format_accuracy(layer, features(model, params, state, x_train), y_train),
           "test_acc": None, "epoch_times": epoch_times}
    if getattr(data, "x_test", None) is not None and len(data.x_test):
        acc["test_acc"] = format_accuracy(layer, features(model, params, state, data.x_test),
                                          data.y_test)
    return params, list(state), layer, acc


def load_run(
    run_dir: str | os.PathLike, *, checkpoint: str | None = None
) -> tuple[Network, list, list, dict]:
    """The network, parameters, state and config of a run directory's latest checkpoint.

    Args:
      run_dir: a directory written by [`train`][hsic.bottleneck.train].
      checkpoint: a specific checkpoint path (without extension); by default the latest.

    Returns:
      ``(model, params, state, config)``.
    """
    from hsic.bottleneck._checkpoint import latest_checkpoint, load_checkpoint

    run_dir = os.fspath(run_dir)
    path = checkpoint or latest_checkpoint(run_dir)
    if path is None:
        raise ValueError(f"`run_dir` {run_dir!r} holds no checkpoint; train a network first.")
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    model = network_from_config(config["model"])
    params, state = model.init(0)
    tree, _ = load_checkpoint(path, {"params": params, "state": state})
    return model, list(tree["params"]), list(tree["state"]), config
