"""The convenience loop [`train`][hsic.bottleneck.train] on top of the per-batch step.

``train`` runs the per-batch step of [`layerwise_step`][hsic.bottleneck.layerwise_step] over
epochs of shuffled batches, and adds what a long run needs: its settings from a
[`Preset`][hsic.bottleneck.Preset] and explicit options, per-epoch metrics (with the
saturation diagnostics) and accuracies (every ``eval_every`` epochs), the format stage, a run
directory with checkpoints, exact resumption, and a stop with
[`TrainingDiverged`][hsic.bottleneck.TrainingDiverged] on a NaN loss.
[`load_run`][hsic.bottleneck.load_run] reads a run directory back.

Runs are reproducible: the initial weights and the batch order come only from ``rng``, and a
run resumed from its per-epoch checkpoint ends with exactly the weights of an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import sys
import time
import warnings
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hsic._base.rng import RNGLike, as_generator, seed_of
from hsic._base.validation import check_non_negative_int, check_positive_int, is_number
from hsic.bottleneck._checkpoint import (
    append_jsonl,
    latest_checkpoint,
    load_checkpoint,
    read_jsonl,
    save_checkpoint,
    write_json,
    write_jsonl,
)
from hsic.bottleneck._evaluate import (
    FormatProtocol,
    class_map,
    features,
    fit_format,
    format_protocol,
    unformatted_accuracy,
)
from hsic.bottleneck._models import Network, network_from_config
from hsic.bottleneck._objective import Objective, check_objective
from hsic.bottleneck._presets import Preset
from hsic.bottleneck._presets import preset as named_preset
from hsic.bottleneck._step import StepState, indexed_update, layerwise_step

__all__ = ["TrainResult", "TrainingDiverged", "load_run", "train"]


class TrainingDiverged(RuntimeError):
    """A loss became NaN or inf; the message names the block and the step."""


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """The outcome of a training run.

    Attributes:
      model: the network.
      params: its trained per-block parameters.
      state: its BatchNorm statistics.
      history: one metrics record per epoch (as written to ``metrics.jsonl``).
      run_dir: the run directory, or None.
      config: every effective setting, as written to ``run_dir/config.json``; ``"rng"`` is the
        run's seed (drawn from fresh entropy when ``rng=None``): ``train(..., rng=seed)``
        repeats the run.
    """

    model: Network
    params: list
    state: list
    history: tuple[dict, ...]
    run_dir: str | None = None
    config: dict = dataclasses.field(default_factory=dict)


def check_dataset(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """``data``'s training inputs (float32) and labels (int32), checked."""
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


def has_test_set(data: Any) -> bool:
    """Whether ``data`` holds test samples."""
    return getattr(data, "x_test", None) is not None and len(data.x_test) > 0


def progress_bar(total: int, enabled: bool | None, desc: str):
    """A tqdm progress bar; by default (``enabled=None``) only on a terminal."""
    # Imported when a run starts, so that ``import hsic.bottleneck`` (and ``hsic --help``,
    # which imports it) does not load tqdm.auto and the asyncio it brings.
    from tqdm.auto import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, disable=not enabled, desc=desc, leave=False)


class EpochProgress:
    """A run's progress: a bar over the steps on a terminal, else one line per epoch.

    ``enabled=None`` (the default of ``train`` and ``train_backprop``) shows the bar when
    stderr is a terminal and otherwise prints one line per epoch to stderr, so that the log
    of a run under ``nohup`` or a batch system is not empty; ``True`` always shows the bar,
    ``False`` shows nothing.
    """

    def __init__(self, total_steps: int, enabled: bool | None, desc: str, epochs: int):
        tty = sys.stderr.isatty()
        self.lines = enabled is None and not tty
        self.bar = progress_bar(total_steps, enabled, desc)
        self.desc, self.epochs = desc, epochs

    def update(self, steps: int = 1) -> None:
        self.bar.update(steps)

    def epoch_done(self, epoch: int, seconds: float, details: str) -> None:
        """Print ``desc: epoch e/E, t s: details`` when lines are on."""
        if self.lines:
            print(f"{self.desc}: epoch {epoch}/{self.epochs}, {seconds:.1f} s: {details}",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()


def epoch_summary(record: dict) -> str:
    """The per-epoch line's details: the per-block losses and the accuracies logged."""
    parts = ["loss per block [" + ", ".join(f"{v:.4g}" for v in record["loss"]) + "]"]
    for key, label in (("train_acc", "train acc"), ("test_acc", "test acc"),
                       ("train_acc_unformatted", "unformatted train acc"),
                       ("test_acc_unformatted", "unformatted test acc")):
        if record.get(key) is not None:
            parts.append(f"{label} {100 * record[key]:.2f}%")
    return ", ".join(parts)


def run_seed(rng: RNGLike, run_dir: Any = None, resume: bool = False) -> int:
    """The integer seed of a run, recorded in its ``config.json``: ``seed_of(rng)`` (``None``:
    fresh entropy), except that a resumed run with ``rng=None`` takes the seed its
    ``config.json`` recorded, so that it continues with the same batch order."""
    if rng is None and resume and run_dir is not None:
        path = os.path.join(os.fspath(run_dir), "config.json")
        if os.path.exists(path):
            with open(path) as f:
                saved = json.load(f).get("rng")
            if is_number(saved, integer=True):
                return int(saved)
    return seed_of(rng)


def run_seeds(rng: RNGLike) -> tuple[jax.Array, int]:
    """The initial-weights key and the batch-order base of a run, both drawn from ``rng``."""
    init_seed, order_base = (int(v) for v in as_generator(rng).integers(0, 2**62, size=2))
    return jax.random.key(init_seed), order_base


def epoch_order(order_base: int, epoch: int, n: int) -> jax.Array:
    """The batch order of ``epoch``, a permutation of ``n`` on the device: independent of how
    many epochs ran before (resumable)."""
    return jnp.asarray(np.random.default_rng([order_base, epoch]).permutation(n).astype(np.int32))


def checkpoint_name(run_dir: str, epoch: int) -> str:
    """The path (without suffix) of a run's checkpoint after ``epoch``: ``epoch_NNNN``."""
    return os.path.join(run_dir, f"epoch_{epoch:04d}")


_EPOCH_FILE = re.compile(r"epoch_(\d+)\.(npz|json)")


def prune_checkpoints(run_dir: str, keep_last: int, epoch: int) -> None:
    """Delete the epoch checkpoints of ``run_dir`` older than the ``keep_last`` latest.

    Called after the checkpoint of ``epoch`` is completely written: of the checkpoints of
    earlier epochs, the ``keep_last - 1`` latest stay. Each one goes with its ``.json`` (the
    commit record) first, so it disappears from `latest_checkpoint` at once, then its
    ``.npz``, then its optimizer state in ``optimizer/``. Files of later epochs (another run's)
    are left alone.
    """
    earlier = set()
    for folder in (run_dir, os.path.join(run_dir, "optimizer")):
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(folder):
                match = _EPOCH_FILE.fullmatch(name)
                if match and int(match.group(1)) < epoch:
                    earlier.add(int(match.group(1)))
    for old in sorted(earlier, reverse=True)[keep_last - 1:]:
        path = checkpoint_name(run_dir, old)
        for base in (path, _optimizer_checkpoint(path)):
            for suffix in (".json", ".npz"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(base + suffix)


#: A block whose both ratios to their ceilings stay above this for a whole epoch is saturated.
SATURATION_WARNING = 0.99


def _unformatted(model, params, state, data, x_train, y_train):
    """The unformatted ("HSIC-solve") accuracies on train and test."""
    f_train = features(model, params, state, x_train)
    mapping = class_map(f_train, y_train, num_classes=data.num_classes)
    record = {"train_acc_unformatted": unformatted_accuracy(f_train, y_train, mapping),
              "test_acc_unformatted": None}
    if has_test_set(data):
        f_test = features(model, params, state, data.x_test)
        record["test_acc_unformatted"] = unformatted_accuracy(f_test, data.y_test, mapping)
    return record


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """The effective settings of a run: a preset's values, then the explicit options."""

    preset: str | None
    objective: Objective
    batch_size: int
    optimizer: optax.GradientTransformation
    optimizer_settings: dict
    update: Literal["simultaneous", "sequential"]
    format: FormatProtocol | None


def resolve_settings(
    model: Network,
    *,
    preset: str | Preset | None,
    objective: Objective | None,
    batch_size: int | None,
    optimizer: optax.GradientTransformation | None,
    learning_rate: float | None,
    update: str | None,
    format: str | FormatProtocol | None,
    format_epochs: int,
) -> RunSettings:
    """Each setting from the explicit option if given, else the preset's, else the default.

    No preset is the ``"default"`` preset of the model. ``format_epochs > 0`` fits the format
    layer with ``format`` (or the preset's, or ``"default"``) for that many epochs.
    """
    if not isinstance(model, Network):
        raise ValueError(
            "`model` must be a hsic.bottleneck.Network (from mlp(...) or resnet(...)); got "
            f"{type(model).__name__}."
        )
    p = preset if isinstance(preset, Preset) else named_preset(preset or "default",
                                                                 model=model.name)
    if p.model != model.name:
        raise ValueError(
            f"`preset` {p.name!r} is for a {p.model}; `model` is a {model.name}. Use "
            f"preset(name, model={model.name!r})."
        )
    if objective is not None:
        check_objective(objective)
    p = p.replace(objective=objective, batch_size=batch_size, learning_rate=learning_rate,
                  update=update, format=format)
    if optimizer is not None:
        # An optax object has no portable description (its repr holds addresses).
        optimizer_settings: dict = {"name": "custom"}
    else:
        optimizer = p.optimizer()
        optimizer_settings = p.settings()["optimizer"]
    protocol = p.format
    format_epochs = check_non_negative_int(format_epochs, "format_epochs")
    if format_epochs:
        protocol = dataclasses.replace(protocol or format_protocol("default"),
                                       epochs=format_epochs)
    return RunSettings(p.name, p.objective, p.batch_size, optimizer, optimizer_settings,
                       p.update, protocol)


def train(
    model: Network,
    data: Any,
    *,
    preset: str | Preset | None = None,
    objective: Objective | None = None,
    epochs: int = 5,
    batch_size: int | None = None,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float | None = None,
    update: Literal["simultaneous", "sequential"] | None = None,
    rng: RNGLike = None,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    keep_last: int | None = None,
    evaluate: bool = True,
    eval_every: int = 1,
    format: str | FormatProtocol | None = None,  # noqa: A002 (the format stage's protocol)
    format_epochs: int = 0,
    progress: bool | None = None,
) -> TrainResult:
    """Train a network layer-wise with the HSIC-bottleneck objective.

    Each step draws a batch of m samples (shuffled from ``rng``; the last incomplete batch of
    an epoch is dropped) and runs the step of
    [`layerwise_step`][hsic.bottleneck.layerwise_step]: each block ``i`` is updated with the
    gradient of its own loss ``loss_i = nHSIC(Z_i, X) − β·nHSIC(Z_i, Y)`` only, in the
    ``update`` order, with its own optimizer state. To write the loop yourself, use that step.

    **Settings.** Each of ``objective``, ``batch_size``, ``optimizer``/``learning_rate``,
    ``update`` and ``format`` is the explicit option if given, else the ``preset``'s (a
    [`Preset`][hsic.bottleneck.Preset] or its name: ``"default"``, what runs without a
    preset, or ``"paper"``, the official code's configuration). The network is used as
    given: build it with ``Preset.network`` for the preset's network options.
    ``run_dir/config.json`` records every effective setting.

    **Records.** After each epoch it logs a record: per block, the mean over the epoch's
    batches of the loss, ``nhsic_zx``, ``nhsic_zy`` and their ratios to their ceilings
    ``saturation_zx`` and ``saturation_zy`` (``nhsic_zx / tr(R_X)`` and ``nhsic_zy / tr(R_Y)``
    for NOCCO; see [`StepMetrics`][hsic.bottleneck.StepMetrics]); the cumulative
    ``wall_time``; and, at evaluated epochs (every ``eval_every``-th and the last), the
    unformatted accuracies (if ``evaluate``) and those of a format layer fitted by
    [`fit_format`][hsic.bottleneck.fit_format] (if there is a format protocol). With
    ``run_dir`` it appends the record to ``run_dir/metrics.jsonl``, writes a checkpoint
    ``run_dir/epoch_NNNN.npz/.json``, and after the last epoch's format layer writes
    ``run_dir/format.json``; ``keep_last=k`` keeps only the ``k`` latest checkpoints. A
    ``RuntimeWarning`` is issued once if a block stays above 0.99 of both ceilings for a whole
    epoch: its HSIC terms are saturated and its gradients vanish.

    A NaN or inf loss stops training with [`TrainingDiverged`][hsic.bottleneck.TrainingDiverged]
    naming the block and the step; the weights of that step are discarded, and the last
    checkpoint written is the last good one.

    Args:
      model: the network ([`mlp`][hsic.bottleneck.mlp] or [`resnet`][hsic.bottleneck.resnet]).
      data: a [`Dataset`][hsic.bottleneck.Dataset] (``x_test`` may be None).
      preset: a [`Preset`][hsic.bottleneck.Preset] or a preset's name; None: ``"default"``
        (β = 50 for an MLP, 500 for a resnet; σ = 5; batch 256; SGD at lr 0.01, momentum 0.9,
        weight decay 1e-3; simultaneous updates; no format layer).
      objective: the [`Objective`][hsic.bottleneck.Objective]: β, σ, the normalisation and ε.
      epochs: the total number of epochs (a resumed run continues up to it).
      batch_size: m.
      optimizer: any optax optimizer; by default the preset's SGD
        ([`paper_optimizer`][hsic.bottleneck.paper_optimizer] with its learning rate,
        momentum and weight decay).
      learning_rate: the SGD's learning rate; not used with ``optimizer``.
      update: ``"simultaneous"`` or ``"sequential"`` (see
        [`layerwise_step`][hsic.bottleneck.layerwise_step]).
      rng: the initial weights and the batch order: None (default: fresh entropy; a resumed
        run takes its ``config.json``'s seed), an int seed, a ``numpy.random.Generator`` or a
        JAX key. ``config.json`` (and ``TrainResult.config``) records the seed as ``"rng"``;
        passing it back repeats the run.
      run_dir: where to write ``config.json``, ``metrics.jsonl``, checkpoints and
        ``format.json``.
      resume: continue from the latest checkpoint in ``run_dir``.
      keep_last: keep only this many of the latest epoch checkpoints in ``run_dir``: the
        older ones are deleted once the new one is completely written. None (the default)
        keeps them all.
      evaluate: log the unformatted train/test accuracies at evaluated epochs.
      eval_every: evaluate every ``eval_every`` epochs, and always after the last.
      format: the format stage's [`FormatProtocol`][hsic.bottleneck.FormatProtocol] or its
        name (``"best"``, ``"paper"``, ...); default the preset's, or none (no format layer).
      format_epochs: if > 0, fit a format layer at each evaluated epoch with ``format`` (or
        ``"default"``) for that many epochs.
      progress: True: a progress bar; False: nothing; None (the default): the bar when
        stderr is a terminal, else one line per epoch on stderr (time, losses, accuracies).

    Returns:
      A [`TrainResult`][hsic.bottleneck.TrainResult].

    Raises:
      TrainingDiverged: on a NaN or inf loss.

    Example:
      >>> import numpy as np
      >>> from hsic.bottleneck import Dataset, Objective, mlp, train
      >>> rng = np.random.default_rng(0)
      >>> y = rng.integers(0, 2, 256).astype(np.int32)
      >>> x = (rng.normal(size=(256, 4)) + 2.0 * y[:, None]).astype(np.float32)
      >>> data = Dataset(x, y, None, None, 2, "toy")
      >>> result = train(mlp([16, 2], input_shape=(4,)), data, objective=Objective(beta=50.0),
      ...                epochs=2, batch_size=64, rng=0)
      >>> last = result.history[-1]
      >>> len(result.history), last.get("train_acc_unformatted") > 0.8
      (2, True)

    References:
      Ma, Lewis, Kleijn (2020), "The HSIC bottleneck: deep learning without
      back-propagation", AAAI.
    """
    settings = resolve_settings(model, preset=preset, objective=objective,
                                batch_size=batch_size, optimizer=optimizer,
                                learning_rate=learning_rate, update=update, format=format,
                                format_epochs=format_epochs)
    objective, batch_size, protocol = settings.objective, settings.batch_size, settings.format
    epochs = check_positive_int(epochs, "epochs")
    eval_every = check_positive_int(eval_every, "eval_every")
    if resume and run_dir is None:
        raise ValueError("`resume`=True needs a `run_dir` to resume from.")
    keep_last = check_keep_last(keep_last)
    x_train, y_train = check_dataset(data)
    num_classes = check_positive_int(data.num_classes, "data.num_classes")
    n = x_train.shape[0]
    if batch_size > n:
        raise ValueError(
            f"`batch_size` must be at most the number of training samples ({n}); got {batch_size}."
        )
    if batch_size < 2:
        raise ValueError(f"`batch_size` must be at least 2 (HSIC needs pairs); got {batch_size}.")
    step = layerwise_step(model, objective=objective, optimizer=settings.optimizer,
                          update=settings.update)

    seed = run_seed(rng, run_dir, resume)
    init_key, order_base = run_seeds(seed)
    state = step.init(*model.init(init_key))
    config = {
        "epochs": epochs, "preset": settings.preset, **dataclasses.asdict(objective),
        "batch_size": batch_size, "optimizer": settings.optimizer_settings,
        "update": settings.update,
        "rng": seed,
        "num_classes": num_classes, "data": getattr(data, "name", None),
        "train_images": n, "model": model.config_dict(), "evaluate": bool(evaluate),
        "eval_every": eval_every, "format": protocol.settings() if protocol else None,
        "keep_last": keep_last,
    }

    start_epoch, wall_offset, history = 0, 0.0, []
    if run_dir is not None:
        run_dir = os.fspath(run_dir)
        os.makedirs(run_dir, exist_ok=True)
        metrics_path = os.path.join(run_dir, "metrics.jsonl")
        latest = latest_checkpoint(run_dir) if resume else None
        if latest is not None:
            tree, meta = load_checkpoint(latest, {"params": state.params,
                                                  "state": state.model_state})
            _check_resumable(meta.get("config", {}), config)
            opt_tree, _ = load_checkpoint(_optimizer_checkpoint(latest), state.opt_states)
            state = StepState(list(tree["params"]), list(tree["state"]), list(opt_tree))
            start_epoch, wall_offset = int(meta["epoch"]), float(meta.get("wall_time", 0.0))
            old = read_jsonl(metrics_path) if os.path.exists(metrics_path) else []
            history = [r for r in old if r["epoch"] <= start_epoch]
            write_jsonl(metrics_path, history)  # atomic: a crash here keeps the old log
        else:
            if os.path.exists(metrics_path):
                os.remove(metrics_path)
        write_json(os.path.join(run_dir, "config.json"), config)

    # The step on batch b of a device-resident permutation: no host work per batch.
    run_batch = indexed_update(step, num_classes=num_classes, batch_size=batch_size)
    x_dev, y_dev = jnp.asarray(x_train), jnp.asarray(y_train)
    steps = n // batch_size
    bar = EpochProgress((epochs - start_epoch) * steps, progress, "hsic bottleneck", epochs)
    started = time.perf_counter() - wall_offset
    warned = False
    try:
        for epoch in range(start_epoch, epochs):
            order = epoch_order(order_base, epoch, n)
            per_step = []
            for b in range(steps):
                state, metrics = run_batch(state, x_dev, y_dev, order, b)
                per_step.append(metrics)
                bar.update(1)
            losses, zx, zy, sx, sy = (np.asarray(jnp.stack(v))
                                      for v in zip(*per_step, strict=True))
            _raise_if_diverged(losses, epoch, steps, run_dir)
            record = {
                "epoch": epoch + 1, "step": (epoch + 1) * steps,
                "loss": losses.mean(axis=0).tolist(), "nhsic_zx": zx.mean(axis=0).tolist(),
                "nhsic_zy": zy.mean(axis=0).tolist(),
                "saturation_zx": sx.mean(axis=0).tolist(),
                "saturation_zy": sy.mean(axis=0).tolist(), "train_acc": None, "test_acc": None,
                "train_acc_unformatted": None, "test_acc_unformatted": None,
            }
            if not warned:
                warned = _warn_if_saturated(sx, sy, epoch)
            last = epoch + 1 == epochs
            fitted = None
            if last or (epoch + 1) % eval_every == 0:
                if protocol is not None:  # its record holds the unformatted accuracies too
                    fitted = fit_format(model, state.params, state.model_state, data,
                                        protocol=protocol, rng=epoch).record
                    keys = ("train_acc", "test_acc",
                            *(("train_acc_unformatted", "test_acc_unformatted")
                              if evaluate else ()))
                    record.update({k: fitted[k] for k in keys})
                elif evaluate:
                    record.update(_unformatted(model, state.params, state.model_state, data,
                                               x_train, y_train))
            record["wall_time"] = time.perf_counter() - started
            history.append(record)
            previous = history[-2]["wall_time"] if len(history) > 1 else wall_offset
            bar.epoch_done(epoch + 1, record["wall_time"] - (previous or 0.0),
                           epoch_summary(record))
            if run_dir is not None:
                meta = {"epoch": epoch + 1, "step": record["step"], "config": config,
                        "wall_time": record["wall_time"]}
                path = checkpoint_name(run_dir, epoch + 1)
                # The optimizer state first, in a subdirectory: the network's checkpoint is
                # the commit record that latest_checkpoint finds.
                os.makedirs(os.path.dirname(_optimizer_checkpoint(path)), exist_ok=True)
                save_checkpoint(_optimizer_checkpoint(path), state.opt_states, meta)
                save_checkpoint(path, {"params": state.params, "state": state.model_state}, meta)
                append_jsonl(metrics_path, record)
                if keep_last is not None:
                    prune_checkpoints(run_dir, keep_last, epoch + 1)
                if fitted is not None and last:
                    write_json(os.path.join(run_dir, "format.json"),
                               {"epoch": epoch + 1, **fitted})
    finally:
        bar.close()
    return TrainResult(model, list(state.params), list(state.model_state), tuple(history),
                       run_dir, config)


def check_keep_last(keep_last: int | None) -> int | None:
    """``keep_last``, checked: None (keep every checkpoint) or a positive int."""
    if keep_last is None:
        return None
    return check_positive_int(keep_last, "keep_last")


def _warn_if_saturated(sx: np.ndarray, sy: np.ndarray, epoch: int) -> bool:
    """Warn (and return True) if a block stayed above ``SATURATION_WARNING`` of both ceilings
    in every batch of the epoch (``sx``, ``sy``: ``(steps, blocks)`` ratios)."""
    saturated = np.all((sx > SATURATION_WARNING) & (sy > SATURATION_WARNING), axis=0)
    if not saturated.any():
        return False
    blocks = ", ".join(str(int(i)) for i in np.flatnonzero(saturated))
    warnings.warn(
        f"Block(s) {blocks} stayed above {SATURATION_WARNING} of both ceilings (nHSIC(Z, X) "
        f"/ tr(R_X) and nHSIC(Z, Y) / tr(R_Y) for NOCCO) in every batch of epoch {epoch + 1}: "
        "their HSIC terms are saturated and their gradients vanish. Use "
        "batch_norm='parameter-free' (a learnable BatchNorm scale inflates the outputs), or "
        "a larger sigma. This warning is issued once per run.",
        RuntimeWarning, stacklevel=3,
    )
    return True


def _optimizer_checkpoint(path):
    """Where the optimizer state of checkpoint ``path`` lives: ``<run_dir>/optimizer/<name>``.

    Kept apart so that the network's checkpoint loads without knowing the optimizer."""
    head, name = os.path.split(os.fspath(path))
    return os.path.join(head, "optimizer", name)


def _check_resumable(saved: dict, config: dict):
    config = json.loads(json.dumps(config))  # as saved: tuples become lists
    for key in ("beta", "sigma", "batch_size", "normalisation", "epsilon", "update", "model",
                "num_classes", "optimizer"):
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
    where = (f"The last good checkpoint is {checkpoint_name(run_dir, epoch)}."
             if run_dir is not None and epoch > 0 else "No checkpoint was written.")
    raise TrainingDiverged(
        f"The loss of block {layer} became {losses[step, layer]} at step "
        f"{epoch * steps + step + 1} (epoch {epoch + 1}, batch {step + 1}); training stopped. "
        f"{where} Lower the learning rate or beta, or use Objective(normalisation='cka')."
    )


def load_run(
    run_dir: str | os.PathLike, *, checkpoint: str | None = None
) -> tuple[Network, list, list, dict]:
    """The network, parameters, state and config of a run directory's latest checkpoint.

    Args:
      run_dir: a directory written by [`train`][hsic.bottleneck.train].
      checkpoint: a specific checkpoint path (without extension); by default the latest.

    Returns:
      ``(model, params, state, config)``; ``config`` is the run's ``config.json``.

    Example:
      >>> import tempfile
      >>> import numpy as np
      >>> from hsic.bottleneck import Dataset, load_run, mlp, train
      >>> rng = np.random.default_rng(0)
      >>> data = Dataset(rng.normal(size=(64, 3)).astype(np.float32), rng.integers(0, 2, 64),
      ...                None, None, 2, "toy")
      >>> with tempfile.TemporaryDirectory() as run_dir:
      ...     run = train(mlp([4], input_shape=(3,)), data, epochs=1, batch_size=32,
      ...                 evaluate=False, run_dir=run_dir)
      ...     model, params, state, config = load_run(run_dir)
      >>> import jax
      >>> leaves = zip(jax.tree.leaves(params), jax.tree.leaves(run.params), strict=True)
      >>> model == run.model, config["beta"], all(bool((a == b).all()) for a, b in leaves)
      (True, 50.0, True)
    """
    run_dir = os.fspath(run_dir)
    config_path = os.path.join(run_dir, "config.json")
    config = None
    if os.path.isfile(config_path):
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    method = config.get("method") if isinstance(config, dict) else None
    if method is not None:  # train_backprop's, or the command line's sigma-combined parent
        raise ValueError(
            f"`run_dir` {run_dir!r} is a {method} run, not one of train's: it has no "
            "HSIC-trained network to load."
        )
    path = checkpoint or latest_checkpoint(run_dir)
    if path is None:
        raise ValueError(f"`run_dir` {run_dir!r} holds no checkpoint; train a network first.")
    if config is None:
        raise ValueError(f"`run_dir` {run_dir!r} has no config.json; it was not written by train.")
    model = network_from_config(config["model"])
    params, state = model.init(0)
    tree, _ = load_checkpoint(path, {"params": params, "state": state})
    return model, list(tree["params"]), list(tree["state"]), config
