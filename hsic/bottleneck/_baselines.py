"""The paper's comparisons: the σ-combined network and the end-to-end backprop baseline.

* [`train_sigma_combined`][hsic.bottleneck.train_sigma_combined]: one network per σ, trained by
  [`train`][hsic.bottleneck.train], outputs averaged, and a format layer on top;
* [`train_backprop`][hsic.bottleneck.train_backprop]: the same network plus a linear softmax,
  trained end to end by cross-entropy, with the same optimizer, batch size, epochs and batch
  order as ``train``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hsic._base.rng import RNGLike, as_generator
from hsic._base.validation import check_positive_float, check_positive_int
from hsic.bottleneck._checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    write_json,
)
from hsic.bottleneck._evaluate import (
    FormatLayer,
    cross_entropy,
    features,
    format_accuracy,
    train_format,
)
from hsic.bottleneck._models import Network
from hsic.bottleneck._objective import Objective, check_objective
from hsic.bottleneck._step import paper_optimizer
from hsic.bottleneck._train import (
    EpochProgress,
    TrainingDiverged,
    TrainResult,
    check_dataset,
    check_keep_last,
    checkpoint_name,
    epoch_order,
    has_test_set,
    prune_checkpoints,
    run_seed,
    run_seeds,
    train,
)

__all__ = ["train_backprop", "train_sigma_combined"]


def train_sigma_combined(
    model: Network,
    data: Any,
    *,
    sigmas: Sequence[float] = (1.0, 5.0, 10.0),
    objective: Objective = Objective(),  # noqa: B008 (frozen: a shared default is safe)
    rng: RNGLike = None,
    format_epochs: int = 5,
    run_dir: str | os.PathLike | None = None,
    **train_kwargs: Any,
) -> tuple[list[TrainResult], FormatLayer, dict]:
    """The paper's σ-combined network: one network per σ, outputs averaged, then a format layer.

    Network ``k`` is trained by [`train`][hsic.bottleneck.train] with ``objective``'s σ
    replaced by ``sigmas[k]``, and its own integer ``rng`` drawn from ``rng`` (in
    ``run_dir/sigma_<σ>`` if ``run_dir``). The combined feature is ``z = (1/K) Σ_k z_k``, and
    a format layer is trained on it.

    Args:
      model: the architecture (shared by every network).
      data: a [`Dataset`][hsic.bottleneck.Dataset].
      sigmas: the σ of each network.
      objective: the [`Objective`][hsic.bottleneck.Objective] of every network, but its σ.
      rng: every network's initial weights and batch order, and the format layer's: None
        (default: fresh entropy), an int seed, a ``numpy.random.Generator`` or a JAX key; each
        run's ``config.json`` records its own seed.
      format_epochs: epochs of the format layer.
      run_dir: optional parent directory of the runs.
      **train_kwargs: passed on to [`train`][hsic.bottleneck.train].

    Returns:
      ``(results, format_layer, accuracies)`` with ``accuracies`` holding ``train_acc`` and
      ``test_acc`` (None without test data).

    Example:
      >>> import numpy as np
      >>> from hsic.bottleneck import Dataset, Objective, mlp, train_sigma_combined
      >>> rng = np.random.default_rng(0)
      >>> y = rng.integers(0, 2, 128).astype(np.int32)
      >>> x = (rng.normal(size=(128, 3)) + 2.0 * y[:, None]).astype(np.float32)
      >>> data = Dataset(x, y, None, None, 2, "toy")
      >>> runs, layer, acc = train_sigma_combined(mlp([8], input_shape=(3,)), data,
      ...     sigmas=(1.0, 5.0), objective=Objective(beta=500.0), epochs=1, batch_size=64,
      ...     evaluate=False, rng=0)
      >>> len(runs), acc["train_acc"] > 0.6
      (2, True)
    """
    if not sigmas:
        raise ValueError("`sigmas` must list at least one sigma; got an empty list.")
    sigmas = [check_positive_float(s, "sigmas") for s in sigmas]
    objective = check_objective(objective)
    format_epochs = check_positive_int(format_epochs, "format_epochs")
    # One integer per network and one for the format layer: each run's config.json records
    # its own rng, so a run directory resumes on its own.
    seeds = [int(v) for v in as_generator(rng).integers(0, 2**62, size=len(sigmas) + 1)]
    results = []
    for s, seed in zip(sigmas, seeds, strict=False):
        sub = None if run_dir is None else os.path.join(os.fspath(run_dir), f"sigma_{s:g}")
        results.append(train(model, data, objective=dataclasses.replace(objective, sigma=s),
                             rng=seed, run_dir=sub, **train_kwargs))
    x_train, y_train = check_dataset(data)
    f_train = np.mean([features(model, r.params, r.state, x_train) for r in results], axis=0)
    layer = train_format(f_train, y_train, num_classes=data.num_classes, epochs=format_epochs,
                         rng=seeds[-1])
    acc: dict[str, Any] = {"train_acc": format_accuracy(layer, f_train, y_train), "test_acc": None}
    if has_test_set(data):
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
    momentum: float = 0.9,
    weight_decay: float = 1e-3,
    rng: RNGLike = None,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    keep_last: int | None = None,
    progress: bool | None = None,
) -> tuple[list, list, FormatLayer, dict]:
    """The backprop baseline: the same network plus a linear softmax, end to end.

    Minimises the cross-entropy of ``softmax(z W + b)`` (``z`` the network's output) over every
    parameter by backpropagation, with the same optimizer, batch size, epochs and batch order
    as [`train`][hsic.bottleneck.train]. With ``run_dir`` it writes ``config.json`` and a
    checkpoint per epoch (``epoch_NNNN``: the network, the head and the optimizer state), and
    ``resume=True`` continues from the latest one with exactly the result of an uninterrupted
    run.

    Args:
      model: the network.
      data: a [`Dataset`][hsic.bottleneck.Dataset].
      epochs: passes over the data.
      batch_size: mini-batch size.
      optimizer: any optax optimizer; by default ``paper_optimizer(learning_rate,
        momentum=momentum, weight_decay=weight_decay)``.
      learning_rate: the default optimizer's learning rate.
      momentum: the default optimizer's momentum (0: plain SGD).
      weight_decay: the default optimizer's (L2) weight decay.
      rng: the initial weights and the batch order, as for [`train`][hsic.bottleneck.train]
        (None: fresh entropy, recorded in ``config.json``).
      run_dir: where to write ``config.json`` and the per-epoch checkpoints.
      resume: continue from the latest checkpoint in ``run_dir``.
      keep_last: keep only this many of the latest checkpoints (as in ``train``); None: all.
      progress: True: a progress bar; False: nothing; None (the default): the bar on a
        terminal, else one line per epoch on stderr.

    Returns:
      ``(params, state, head, accuracies)``: ``head`` is the trained softmax layer as a
      [`FormatLayer`][hsic.bottleneck.FormatLayer], ``accuracies`` holds ``train_acc``,
      ``test_acc`` and ``epoch_times`` (seconds, of every epoch, those of a resumed run's
      earlier invocations included).

    Example:
      >>> import numpy as np
      >>> from hsic.bottleneck import Dataset, mlp, train_backprop
      >>> rng = np.random.default_rng(0)
      >>> y = rng.integers(0, 2, 256).astype(np.int32)
      >>> x = (rng.normal(size=(256, 4)) + 2.0 * y[:, None]).astype(np.float32)
      >>> _, _, head, acc = train_backprop(mlp([16], input_shape=(4,)),
      ...     Dataset(x, y, None, None, 2, "toy"), epochs=3, batch_size=32, rng=0)
      >>> acc["train_acc"] > 0.8
      True
    """
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    keep_last = check_keep_last(keep_last)
    x_train, y_train = check_dataset(data)
    num_classes = check_positive_int(data.num_classes, "data.num_classes")
    n = x_train.shape[0]
    if not 2 <= batch_size <= n:
        raise ValueError(
            f"`batch_size` must be between 2 and the number of samples ({n}); got {batch_size}."
        )
    if resume and run_dir is None:
        raise ValueError("`resume`=True needs a `run_dir` to resume from.")
    optimizer_settings = {"name": "custom"} if optimizer is not None else {
        "name": "sgd", "learning_rate": float(learning_rate), "momentum": float(momentum),
        "weight_decay": float(weight_decay)}
    if optimizer is None:
        optimizer = paper_optimizer(learning_rate, momentum=momentum, weight_decay=weight_decay)
    seed = run_seed(rng, run_dir, resume)
    init_key, order_base = run_seeds(seed)
    k_net, k_head = jax.random.split(init_key)
    params, state = model.init(k_net)
    bound = 1.0 / math.sqrt(model.output_dim)
    head = {
        "w": jax.random.uniform(k_head, (model.output_dim, num_classes), jnp.float32,
                                -bound, bound),
        "b": jnp.zeros((num_classes,), jnp.float32),
    }
    trainable: dict[str, Any] = {"net": params, "head": head}
    opt_state = optimizer.init(trainable)

    def step(trainable, state, opt_state, x_all, y_all, order, b):
        idx = jax.lax.dynamic_slice_in_dim(order, b * batch_size, batch_size)
        x, y = x_all[idx], y_all[idx]

        def loss(t):
            outputs, new_state = model.apply(t["net"], state, x, train=True)
            z = outputs[-1].reshape(x.shape[0], -1)
            return cross_entropy(z @ t["head"]["w"] + t["head"]["b"], y), new_state

        (value, new_state), g = jax.value_and_grad(loss, has_aux=True)(trainable)
        updates, opt_state = optimizer.update(g, opt_state, trainable)
        return optax.apply_updates(trainable, updates), new_state, opt_state, value

    step = jax.jit(step, donate_argnums=(0, 1, 2))
    config = {"method": "backprop", "epochs": epochs, "batch_size": batch_size,
              "optimizer": optimizer_settings, "rng": seed,
              "num_classes": num_classes, "data": getattr(data, "name", None),
              "train_images": n, "model": model.config_dict(), "keep_last": keep_last}
    start, epoch_times = 0, []
    if run_dir is not None:
        run_dir = os.fspath(run_dir)
        os.makedirs(run_dir, exist_ok=True)
        latest = latest_checkpoint(run_dir) if resume else None
        if latest is not None:
            tree, meta = load_checkpoint(latest, {"trainable": trainable, "state": state,
                                                  "opt_state": opt_state})
            # The number of epochs may grow, and the retention may change.
            free = ("epochs", "keep_last")
            saved = {k: v for k, v in meta.get("config", {}).items() if k not in free}
            if saved != {k: v for k, v in json.loads(json.dumps(config)).items()
                         if k not in free}:
                raise ValueError(
                    f"Cannot resume: the checkpoint in {run_dir} was trained with other "
                    "settings (see its config.json). Use the same settings, or a new run "
                    "directory."
                )
            trainable, state, opt_state = tree["trainable"], tree["state"], tree["opt_state"]
            start, epoch_times = int(meta["epoch"]), list(meta["epoch_times"])
        write_json(os.path.join(run_dir, "config.json"), config)
    x_dev, y_dev = jnp.asarray(x_train), jnp.asarray(y_train)
    steps = n // batch_size
    bar = EpochProgress((epochs - start) * steps, progress, "backprop", epochs)
    try:
        for epoch in range(start, epochs):
            t0 = time.perf_counter()
            order = epoch_order(order_base, epoch, n)
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
            bar.epoch_done(epoch + 1, epoch_times[-1], f"loss (last batch) {float(value):.4g}")
            if run_dir is not None:
                save_checkpoint(checkpoint_name(run_dir, epoch + 1),
                                {"trainable": trainable, "state": state, "opt_state": opt_state},
                                {"epoch": epoch + 1, "step": (epoch + 1) * steps,
                                 "epoch_times": epoch_times, "config": config})
                if keep_last is not None:
                    prune_checkpoints(run_dir, keep_last, epoch + 1)
    finally:
        bar.close()
    params = list(trainable["net"])
    layer = FormatLayer(np.asarray(trainable["head"]["w"]), np.asarray(trainable["head"]["b"]))
    f_train = features(model, params, state, x_train)
    acc: dict[str, Any] = {"train_acc": format_accuracy(layer, f_train, y_train),
                           "test_acc": None, "epoch_times": epoch_times}
    if has_test_set(data):
        acc["test_acc"] = format_accuracy(layer, features(model, params, state, data.x_test),
                                          data.y_test)
    return params, list(state), layer, acc
