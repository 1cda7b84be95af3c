"""The layer-wise HSIC-bottleneck step, optax-style: ``init`` and ``update`` for one's own loop.

[`layerwise_step`][hsic.bottleneck.layerwise_step] returns a pair of pure functions: ``init``
builds a [`StepState`][hsic.bottleneck.StepState] (the network's parameters and BatchNorm
statistics, and one optimizer state per block), and ``update`` runs one batch. Each block
``i`` is updated with the gradient of its own loss ``nHSIC(Z_i, X) − β·nHSIC(Z_i, Y)`` only;
its input is ``stop_gradient``-ed, so no gradient crosses blocks. Two update orders:

- ``"simultaneous"``: one forward pass computes every block's loss, and every block is updated
  with the gradient of its own loss;
- ``"sequential"``: the paper's order. Block ``i`` is updated first, then its output is
  recomputed with the new weights, so block ``i + 1`` sees the updated block ``i`` within the
  same batch. It costs one extra block forward per block.

[`train`][hsic.bottleneck.train] is a convenience loop on top of this step. This module also
owns the paper's optimizer, the step's default.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from hsic._base.validation import check_choice, check_number, check_positive_int
from hsic.bottleneck._models import Network
from hsic.bottleneck._objective import (
    Objective,
    block_terms,
    bottleneck_gram,
    check_objective,
    layer_targets,
    network_terms,
)

__all__ = ["LayerwiseStep", "StepMetrics", "StepState", "layerwise_step", "paper_optimizer"]

UPDATES = ("simultaneous", "sequential")


def paper_optimizer(
    learning_rate: float = 0.01, *, momentum: float = 0.9, weight_decay: float = 1e-3
) -> optax.GradientTransformation:
    """The paper's optimizer: SGD with momentum and (L2) weight decay.

    ``g ← ∇loss + λ·w``; ``v ← μ·v + g``; ``w ← w − η·v`` (PyTorch's ``SGD`` with
    ``weight_decay=λ``, ``momentum=μ``). Equal settings give the same object, so the jitted
    steps that use it are not recompiled.

    Args:
      learning_rate: η > 0.
      momentum: μ ≥ 0 (0: plain SGD).
      weight_decay: λ ≥ 0.

    Returns:
      An ``optax.GradientTransformation``.

    Example:
      >>> import optax
      >>> from hsic.bottleneck import paper_optimizer
      >>> isinstance(paper_optimizer(0.05), optax.GradientTransformation)
      True
      >>> paper_optimizer(0.05) is paper_optimizer(0.05)
      True
    """
    learning_rate = check_number(learning_rate, "learning_rate", "a positive number", low=0,
                                 low_open=True)
    momentum = check_number(momentum, "momentum", "a non-negative number", low=0)
    weight_decay = check_number(weight_decay, "weight_decay", "a non-negative number", low=0)
    return _paper_optimizer(learning_rate, momentum, weight_decay)


@functools.lru_cache(maxsize=32)  # the same settings give the same object: no recompilation
def _paper_optimizer(learning_rate: float, momentum: float, weight_decay: float):
    return optax.chain(
        optax.add_decayed_weights(weight_decay),
        optax.sgd(learning_rate, momentum=momentum or None),
    )


class StepState(NamedTuple):
    """What the layer-wise step carries from one batch to the next.

    Attributes:
      params: the network's per-block parameters.
      model_state: its per-block BatchNorm statistics.
      opt_states: one optimizer state per block.
    """

    params: list
    model_state: list
    opt_states: list


class StepMetrics(NamedTuple):
    """One batch's per-block values, each a ``(n_blocks,)`` array, before the update.

    Attributes:
      losses: ``nHSIC(Z_i, X) − β·nHSIC(Z_i, Y)`` of each block.
      nhsic_zx: ``nHSIC(Z_i, X)``.
      nhsic_zy: ``nHSIC(Z_i, Y)``.
      saturation_zx: ``nhsic_zx`` over its ceiling on the batch, in [0, 1]: ``tr(R_X)`` for
        NOCCO (see [`Objective`][hsic.bottleneck.Objective]'s module notes, "Ceilings").
        A block near 1 in both ratios is saturated: its gradients vanish.
      saturation_zy: ``nhsic_zy`` over its ceiling (``tr(R_Y)`` for NOCCO).
    """

    losses: jax.Array
    nhsic_zx: jax.Array
    nhsic_zy: jax.Array
    saturation_zx: jax.Array
    saturation_zy: jax.Array


class LayerwiseStep(NamedTuple):
    """The layer-wise step as a pair of pure functions (as an optax transformation).

    Attributes:
      init: ``init(params, model_state) -> StepState``, with a fresh optimizer state per block.
      update: ``update(state, x, y_onehot) -> (state, metrics)`` on one batch of inputs
        ``(m, ...)`` and one-hot labels ``(m, classes)``: a new
        [`StepState`][hsic.bottleneck.StepState] and the batch's
        [`StepMetrics`][hsic.bottleneck.StepMetrics]. A step whose loss is NaN or inf
        returns the state it was given, unchanged.
    """

    init: Callable[[Sequence, Sequence], StepState]
    update: Callable[[StepState, ArrayLike, ArrayLike], tuple[StepState, StepMetrics]]


def layerwise_step(
    model: Network,
    *,
    objective: Objective = Objective(),  # noqa: B008 (frozen: a shared default is safe)
    optimizer: optax.GradientTransformation | None = None,
    update: Literal["simultaneous", "sequential"] = "simultaneous",
) -> LayerwiseStep:
    """The per-batch step of layer-wise HSIC-bottleneck training, for writing one's own loop.

    On a batch ``(X, Y)`` every block ``i`` gets the gradient of its own loss only,
    ``g_i = ∇_{θ_i} [nHSIC(Z_i, X) − β·nHSIC(Z_i, Y)]`` with ``Z_i`` computed from
    ``stop_gradient(Z_{i−1})`` (see [`bottleneck_losses`][hsic.bottleneck.bottleneck_losses]),
    and is updated by its own optimizer state: ``θ_i ← θ_i + optimizer.update(g_i)``, in the
    ``update`` order (see the module notes). BatchNorm runs in training mode.

    ``update`` is pure: wrap it in ``jax.jit``. The same settings return the same object, so a
    jitted ``update`` compiles once per batch shape. [`train`][hsic.bottleneck.train] runs this
    step (with the batch sliced on the device).

    Args:
      model: the network ([`mlp`][hsic.bottleneck.mlp] or [`resnet`][hsic.bottleneck.resnet]).
      objective: the [`Objective`][hsic.bottleneck.Objective].
      optimizer: any optax optimizer, applied to each block with its own state; by default
        [`paper_optimizer`][hsic.bottleneck.paper_optimizer]``()``.
      update: ``"simultaneous"`` or ``"sequential"``.

    Returns:
      A [`LayerwiseStep`][hsic.bottleneck.LayerwiseStep] ``(init, update)``.

    Example:
      A hand-written loop:

      >>> import jax, numpy as np
      >>> from hsic import bottleneck as bt
      >>> rng = np.random.default_rng(0)
      >>> y = rng.integers(0, 2, 256)
      >>> x = (rng.normal(size=(256, 4)) + 2.0 * y[:, None]).astype(np.float32)
      >>> net = bt.mlp([16, 2], input_shape=(4,))
      >>> step = bt.layerwise_step(net, objective=bt.Objective(beta=100.0))
      >>> state = step.init(*net.init(0))
      >>> update = jax.jit(step.update)
      >>> for epoch in range(2):
      ...     for idx in rng.permutation(256).reshape(-1, 64):   # 4 batches of 64
      ...         state, metrics = update(state, x[idx], jax.nn.one_hot(y[idx], 2))
      >>> metrics.losses.shape
      (2,)
      >>> feats = bt.features(net, state.params, state.model_state, x)
      >>> layer = bt.train_format(feats, y, num_classes=2, epochs=20, batch_size=64)
      >>> bt.format_accuracy(layer, feats, y) > 0.9
      True
    """
    if not isinstance(model, Network):
        raise ValueError(
            "`model` must be a hsic.bottleneck.Network (from mlp(...) or resnet(...)); got "
            f"{type(model).__name__}."
        )
    objective = check_objective(objective)
    check_choice(update, "update", UPDATES)
    if optimizer is None:
        optimizer = paper_optimizer()
    return _layerwise_step(model, objective, optimizer, update)


def _all_finite(values: jax.Array) -> jax.Array:
    return jnp.all(jnp.isfinite(values))


def _keep_if(ok, new, old):
    """``new`` where the step is good, else ``old`` (a NaN step leaves everything unchanged)."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, old)


def _check_batch(x: jax.Array, y_onehot: jax.Array) -> None:
    if y_onehot.ndim != 2 or x.shape[0] != y_onehot.shape[0] or x.shape[0] < 2:
        raise ValueError(
            "`x` and `y_onehot` must hold the same number (at least 2) of samples, with "
            f"`y_onehot` of shape (m, classes); got shapes {x.shape} and {y_onehot.shape}."
        )


@functools.lru_cache(maxsize=16)  # one step, and so one compiled update, per settings
def _layerwise_step(model: Network, objective: Objective, optimizer, update: str):
    sigma = objective.sigma

    def init(params: Sequence, model_state: Sequence) -> StepState:
        params, model_state = list(params), list(model_state)
        return StepState(params, model_state, [optimizer.init(p) for p in params])

    def apply(grads, state: StepState):
        new_params, new_opt = [], []
        for g, o, p in zip(grads, state.opt_states, state.params, strict=True):
            updates, o = optimizer.update(g, o, p)
            new_params.append(optax.apply_updates(p, updates))
            new_opt.append(o)
        return new_params, new_opt

    def simultaneous(state: StepState, x: ArrayLike, y_onehot: ArrayLike):
        x = jnp.asarray(x)
        y_onehot = jnp.asarray(y_onehot, x.dtype)
        _check_batch(x, y_onehot)

        def total(p):
            losses, aux, new_model_state = network_terms(
                model, p, state.model_state, x, y_onehot, objective=objective
            )
            return jnp.sum(losses), (losses, aux, new_model_state)

        grads, (losses, terms, new_model_state) = jax.grad(total, has_aux=True)(state.params)
        new_params, new_opt = apply(grads, state)
        new = StepState(new_params, new_model_state, new_opt)
        return _keep_if(_all_finite(losses), new, state), StepMetrics(losses, *terms)

    def sequential(state: StepState, x: ArrayLike, y_onehot: ArrayLike):
        x = jnp.asarray(x)
        y_onehot = jnp.asarray(y_onehot, x.dtype)
        _check_batch(x, y_onehot)
        Kx = bottleneck_gram(x, sigma=sigma)
        Ky = bottleneck_gram(y_onehot, sigma=sigma)
        targets = layer_targets(Kx, Ky, objective=objective)
        h = x
        new_params, new_model_state, new_opt, per_block = [], [], [], []
        for i in range(model.n_blocks):
            h_in = jax.lax.stop_gradient(h)

            def local(p_i, i=i, h_in=h_in):
                z, s = model.block(i, p_i, state.model_state[i], h_in, train=True)
                zx, zy, sx, sy = block_terms(bottleneck_gram(z, sigma=sigma)[None], targets,
                                             objective=objective)
                return zx[0] - objective.beta * zy[0], ((zx[0], zy[0], sx[0], sy[0]), s)

            (loss, (terms, s)), g = jax.value_and_grad(local, has_aux=True)(state.params[i])
            updates, o = optimizer.update(g, state.opt_states[i], state.params[i])
            p_new = optax.apply_updates(state.params[i], updates)
            # The next block sees this block's output with the updated weights.
            h, _ = model.block(i, p_new, state.model_state[i], h_in, train=True)
            new_params.append(p_new)
            new_model_state.append(s)
            new_opt.append(o)
            per_block.append((loss, *terms))
        new = StepState(new_params, new_model_state, new_opt)
        metrics = StepMetrics(*(jnp.stack(v) for v in zip(*per_block, strict=True)))
        return _keep_if(_all_finite(metrics.losses), new, state), metrics

    return LayerwiseStep(init, simultaneous if update == "simultaneous" else sequential)


@functools.lru_cache(maxsize=16)  # one compiled function per (step, classes, batch size)
def indexed_update(step: LayerwiseStep, *, num_classes: int, batch_size: int):
    """``step.update`` on batch ``b`` of a device-resident permutation, jitted.

    ``run(state, x_all, y_all, order, b)`` slices the rows ``order[b·m:(b+1)·m]`` of the
    training set ``x_all`` and integer labels ``y_all`` on the device (no host work per batch)
    and returns ``step.update(state, x, one_hot(y))``. ``state`` is donated.
    """
    num_classes = check_positive_int(num_classes, "num_classes")
    batch_size = check_positive_int(batch_size, "batch_size")

    def run(state: StepState, x_all, y_all, order, b):
        idx = jax.lax.dynamic_slice_in_dim(order, b * batch_size, batch_size)
        y_onehot = jax.nn.one_hot(y_all[idx], num_classes, dtype=x_all.dtype)
        return step.update(state, x_all[idx], y_onehot)

    return jax.jit(run, donate_argnums=(0,))
