"""Training a critic for a neural MI bound: the split, the jitted loop, early stopping.

This module owns [`Training`][hsic.mi.Training] (the optimisation options, validated when
built) and [`fit`][hsic.mi._training.fit], which the four estimators of ``hsic.mi._neural`` and
the comparison harness share. ``fit`` splits the samples at random into a training and a
held-out part; standardises both variables with the training part's mean and standard
deviation (an invertible affine map: the MI is unchanged); trains a critic with Adam (optax) on
minibatches of four fifths of the training part, in a ``lax.scan`` over chunks of ``CHUNK``
steps (no host round trip per step; one compilation serves all bounds and any number of
steps); keeps the critic with the best bound on the last fifth (early stopping); and scores the
held-out part with it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hsic._base.rng import RNGLike, as_key
from hsic._base.validation import (
    check_choice,
    check_number,
    check_options_apply,
    check_positive_float,
    check_positive_int,
    check_probability,
    float_dtype,
    precision,
)
from hsic.mi._bounds import BOUNDS, evaluate_bound, training_loss
from hsic.mi._common import check_pair
from hsic.mi._critics import Critic, init_critic, scores

__all__ = ["CHUNK", "MIN_GAIN", "MIN_N", "PATIENCE", "VALIDATION", "Fit", "Training", "fit"]

#: Smallest n: the training and the held-out parts need a few samples each.
MIN_N = 8
#: Optimisation steps per compiled chunk. Fixed, so that any number of steps reuses one
#: compilation; steps past the requested number are masked out. The critic is also
#: checked on the validation part after every chunk.
CHUNK = 50
#: Share of the training part set aside to choose the critic (early stopping).
VALIDATION = 0.2
#: Training stops after this many checks in a row without a better validation bound.
PATIENCE = 4
#: A later critic is chosen only if its validation bound is higher by more than this (nats).
MIN_GAIN = 1e-3
#: The defaults of the bound-specific options: SMILE's clip τ and MINE's moving-average rate.
DEFAULT_TAU = 5.0
DEFAULT_MA_RATE = 0.01


@dataclasses.dataclass(frozen=True)
class Training:
    """How the critic of a neural MI bound is trained, and how much data it sees.

    The samples are split at random (from ``rng``) into a training part and a held-out part of
    ``test_size`` of them (at least 2 in each). A fifth of the training part is a validation
    part; the rest trains the critic with Adam (``learning_rate``) on minibatches of
    ``batch_size`` pairs drawn without replacement. The bound is evaluated on the validation
    part before training and every 50 steps; the critic with the highest value (higher than
    the best so far by more than 0.001 nats) is the one evaluated on the held-out part, and
    training stops after 4 checks in a row without such a gain (early stopping), so
    ``steps`` is the most steps. The critic sees its inputs clipped to the range of its
    training samples. Together these keep small samples (n of a few hundred) from
    overfitting into large negative held-out values.

    Attributes:
      steps: the most Adam steps, a positive integer (default 500).
      batch_size: the minibatch size b, an integer ≥ 2 (a batch needs negatives), capped at
        the training part's size (default 128).
      learning_rate: Adam's learning rate, a positive number (default 1e-3).
      test_size: the fraction of the samples held out for the estimate, strictly between 0
        and 1 (default 0.5).

    Raises:
      ValueError: at construction, if a field is invalid; the message names the field.

    Example:
      >>> import hsic.mi
      >>> hsic.mi.Training(steps=300, learning_rate=5e-4)
      Training(steps=300, batch_size=128, learning_rate=0.0005, test_size=0.5)
      >>> hsic.mi.Training(batch_size=1)
      Traceback (most recent call last):
      ...
      ValueError: `batch_size` must be an integer >= 2 (a batch needs negatives); got 1.
    """

    steps: int = 500
    batch_size: int = 128
    learning_rate: float = 1e-3
    test_size: float = 0.5

    def __post_init__(self):
        fields = dict(
            steps=check_positive_int(self.steps, "steps"),
            batch_size=check_number(
                self.batch_size, "batch_size", "an integer >= 2 (a batch needs negatives)",
                integer=True, low=2,
            ),
            learning_rate=check_positive_float(self.learning_rate, "learning_rate"),
            test_size=check_probability(self.test_size, "test_size"),
        )
        for name, value in fields.items():
            object.__setattr__(self, name, value)


class _TrainState(NamedTuple):
    params: Any
    opt_state: Any
    log_ma: jax.Array  # MINE: log of the moving average of mean_{i≠j} exp S_ij


def _loss(params, log_ma, x, y, bound_id, kind: str, ma_rate):
    return training_loss(scores(params, kind, x, y), log_ma, bound_id, ma_rate)


@functools.partial(jax.jit, static_argnames=("kind", "batch_size"))
def _train_chunk(
    state: _TrainState, x, y, key, start, total, bound_id, learning_rate, ma_rate,
    *, kind: str, batch_size: int,
):
    """``CHUNK`` optimisation steps from step ``start``; steps ``>= total`` change nothing.

    Step ``t`` draws its minibatch (without replacement) with ``fold_in(key, t)``, so the
    result depends only on ``key`` and ``total``, not on the chunking.
    """
    optimiser = optax.adam(learning_rate)

    def step(state, t):
        idx = jax.random.permutation(jax.random.fold_in(key, t), x.shape[0])[:batch_size]
        (_, log_ma), grads = jax.value_and_grad(_loss, has_aux=True)(
            state.params, state.log_ma, x[idx], y[idx], bound_id, kind, ma_rate
        )
        updates, opt_state = optimiser.update(grads, state.opt_state, state.params)
        new = _TrainState(optax.apply_updates(state.params, updates), opt_state, log_ma)
        live = t < total
        return jax.tree.map(lambda a, b: jnp.where(live, a, b), new, state), None

    state, _ = jax.lax.scan(step, state, start + jnp.arange(CHUNK))
    return state


@functools.partial(jax.jit, static_argnames=("kind",))
def _held_out_scores(params, x, y, *, kind: str):
    return scores(params, kind, x, y)


@functools.partial(jax.jit, static_argnames=("kind",))
def _validation_bound(params, x, y, bound_id, tau, *, kind: str):
    """The reported bound of ``BOUNDS[bound_id]`` for the critic ``params`` on ``(x, y)``."""
    return evaluate_bound(bound_id, scores(params, kind, x, y), tau)


@jax.jit
def _bound_value(scores, bound_id, tau):
    return evaluate_bound(bound_id, scores, tau)


class Fit(NamedTuple):
    """A trained critic's held-out score matrix and what is needed to evaluate the bound.

    Attributes:
      scores: ``(m, m)``, ``S_ij = f(x_test_i, y_test_j)`` on the held-out part.
      test_index: the rows of the input in the held-out part, in the order of ``scores``.
      bound: the name of the bound, one of ``BOUNDS``.
      tau: SMILE's clip (unused by the other bounds).
      step: the training step of the chosen critic (0: the initial one).
      validation: the validation bound at steps 0, ``CHUNK``, 2·``CHUNK``, ...
    """

    scores: jax.Array
    test_index: np.ndarray
    bound: str
    tau: float
    step: int = 0
    validation: tuple[float, ...] = ()

    def value(self, columns: np.ndarray | None = None) -> float:
        """The bound in nats; with ``columns``, on the held-out y reordered by them."""
        with precision(np.dtype(self.scores.dtype)):
            s = self.scores if columns is None else self.scores[:, columns]
            tau = jnp.asarray(self.tau, s.dtype)
            return float(_bound_value(s, BOUNDS.index(self.bound), tau))


def check_options(
    bound: str,
    *,
    critic: Any,
    training: Any,
    tau: Any = None,
    ma_rate: Any = None,
    progress: Any = None,
) -> tuple[float, float]:
    """Check the options of ``fit`` (all but the data, ``rng`` and ``dtype``) before any work.

    ``tau`` applies only to ``"smile"`` and ``ma_rate`` only to ``"mine"``; ``None`` means
    the default. Returns ``(tau, ma_rate)`` with the defaults filled in.
    """
    check_choice(bound, "bound", BOUNDS)
    if not isinstance(critic, Critic):
        raise ValueError(
            "`critic` must be a hsic.mi.Critic, e.g. hsic.mi.Critic(kind='concat'); "
            f"got {critic!r}."
        )
    if not isinstance(training, Training):
        raise ValueError(
            "`training` must be a hsic.mi.Training, e.g. hsic.mi.Training(steps=300); "
            f"got {training!r}."
        )
    check_options_apply("bound", bound, {"tau": ("smile",), "ma_rate": ("mine",)},
                        tau=tau, ma_rate=ma_rate)
    tau = DEFAULT_TAU if tau is None else check_positive_float(tau, "tau")
    ma_rate = DEFAULT_MA_RATE if ma_rate is None else check_probability(ma_rate, "ma_rate")
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"`progress` must be True, False or None (auto); got {progress!r}.")
    return tau, ma_rate


def fit(
    x: Any,
    y: Any,
    *,
    bound: str,
    critic: Critic = Critic(),  # noqa: B008 (frozen: a shared default is safe)
    training: Training = Training(),
    tau: float | None = None,
    ma_rate: float | None = None,
    rng: RNGLike = None,
    progress: bool | None = None,
    dtype: Any = None,
) -> Fit:
    """Check the arguments, train a critic for ``bound`` and score the held-out part.

    The training part is split again: ``VALIDATION`` (a fifth) of it is a validation part, the
    rest trains the critic. The bound is evaluated on the validation part for the initial
    critic and after every ``CHUNK`` steps; the critic with the highest validation bound (a
    later one must beat the best so far by more than ``MIN_GAIN``) is the one scored on the
    held-out part, and training stops after ``PATIENCE`` checks in a row without a better one
    (early stopping, a model selection that never sees the held-out part).

    Args:
      x: samples of the first variable, ``(n,)`` or ``(n, d_x)``, n ≥ ``MIN_N``.
      y: samples of the second variable, ``(n,)`` or ``(n, d_y)``.
      bound: one of ``BOUNDS``.
      critic: the critic's architecture.
      training: the optimisation and the split.
      tau: SMILE's clip τ (only with ``bound="smile"``; ``None``: 5).
      ma_rate: MINE's moving-average rate (only with ``bound="mine"``; ``None``: 0.01).
      rng: the split, the initial critic and the minibatches: None (fresh entropy), an int
        seed, a ``numpy.random.Generator`` or a JAX key.
      progress: a progress bar over the steps; ``None`` shows it only on a terminal.
      dtype: ``"float32"`` or ``"float64"``; ``None``: float64 in JAX's x64 mode.

    Returns:
      A [`Fit`][hsic.mi._training.Fit]; ``fit(...).value()`` is the estimate in nats.

    Example:
      >>> import hsic.mi
      >>> from hsic.mi._training import fit
      >>> x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(200, rng=0)
      >>> result = fit(x, y, bound="nwj", training=hsic.mi.Training(steps=50), rng=0)
      >>> result.scores.shape, len(result.validation)
      ((100, 100), 2)
    """
    tau, ma_rate = check_options(
        bound, critic=critic, training=training, tau=tau, ma_rate=ma_rate, progress=progress
    )
    key = as_key(rng, "rng")
    dtype = float_dtype(dtype)
    x, y = check_pair(x, y, min_n=MIN_N, reason=f"hsic.mi.{bound}")
    with precision(dtype):  # float64 needs JAX's x64 mode
        return _train(
            x, y, bound=bound, critic=critic, training=training, tau=tau, ma_rate=ma_rate,
            key=key, progress=progress, dtype=dtype,
        )


def _train(
    x: np.ndarray, y: np.ndarray, *, bound: str, critic: Critic, training: Training,
    tau: float, ma_rate: float, key: jax.Array, progress: bool | None, dtype: np.dtype,
) -> Fit:
    """The work of ``fit``, on checked arguments."""
    n = x.shape[0]
    n_test = min(max(int(round(training.test_size * n)), 2), n - 2)

    n_val = min(max(int(round(VALIDATION * (n - n_test))), 2), n - n_test - 2)

    k_split, k_init, k_train = jax.random.split(key, 3)
    order = np.asarray(jax.random.permutation(k_split, n))
    train, test = np.sort(order[n_test:]), np.sort(order[:n_test])
    fit_part, val_part = np.sort(order[n_test + n_val :]), np.sort(order[n_test : n_test + n_val])
    mean_x, sd_x = x[train].mean(0), x[train].std(0)
    mean_y, sd_y = y[train].mean(0), y[train].std(0)
    xs = (x - mean_x) / np.where(sd_x > 0, sd_x, 1.0)
    ys = (y - mean_y) / np.where(sd_y > 0, sd_y, 1.0)
    # The critic sees its inputs clipped to the range of the part it is trained on: it does not
    # extrapolate to held-out outliers (where exp f would explode), and as any function of
    # (x, y) is a valid critic, the bounds stay bounds.
    xs = np.clip(xs, xs[fit_part].min(0), xs[fit_part].max(0))
    ys = np.clip(ys, ys[fit_part].min(0), ys[fit_part].max(0))
    x_tr, y_tr = jnp.asarray(xs[fit_part], dtype), jnp.asarray(ys[fit_part], dtype)
    x_va, y_va = jnp.asarray(xs[val_part], dtype), jnp.asarray(ys[val_part], dtype)
    x_te, y_te = jnp.asarray(xs[test], dtype), jnp.asarray(ys[test], dtype)

    params = init_critic(k_init, critic, x.shape[1], y.shape[1], dtype)
    state = _TrainState(
        params, optax.adam(training.learning_rate).init(params), jnp.zeros((), dtype)
    )
    steps = training.steps
    if progress is None:
        progress = sys.stderr.isatty()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc=f"{bound} critic", unit="step", leave=False)
    batch = min(training.batch_size, len(fit_part))
    bound_id = jnp.asarray(BOUNDS.index(bound))
    dynamic = (
        jnp.asarray(steps), bound_id,
        jnp.asarray(training.learning_rate, dtype), jnp.asarray(ma_rate, dtype),
    )
    tau_j = jnp.asarray(tau, dtype)
    kind = critic.kind

    def check(params) -> float:
        value = float(_validation_bound(params, x_va, y_va, bound_id, tau_j, kind=kind))
        return value if math.isfinite(value) else -math.inf

    history = [check(state.params)]
    best_params, best_step, stale = state.params, 0, 0
    for start in range(0, steps, CHUNK):
        state = _train_chunk(
            state, x_tr, y_tr, k_train, jnp.asarray(start), *dynamic, kind=kind,
            batch_size=batch,
        )
        history.append(check(state.params))
        if bar is not None:
            bar.update(min(CHUNK, steps - start))
        if history[-1] > max(history[:-1]) + MIN_GAIN:
            best_params, best_step, stale = state.params, min(start + CHUNK, steps), 0
        else:
            stale += 1
            if stale >= PATIENCE:
                break
    if bar is not None:
        bar.close()
    held_out = _held_out_scores(best_params, x_te, y_te, kind=kind)
    return Fit(
        scores=held_out, test_index=test, bound=bound, tau=tau, step=best_step,
        validation=tuple(history),
    )
