"""Neural variational lower bounds on mutual information: InfoNCE, NWJ, MINE and SMILE.

This module owns the critics (small MLPs as plain JAX pytrees), the four bounds as functions of
a critic-score matrix, the jitted training loop (optax, ``lax.scan`` over steps: no host round
trip per step) and the four public estimators [`infonce`][hsic.mi.infonce],
[`nwj`][hsic.mi.nwj], [`mine`][hsic.mi.mine] and [`smile`][hsic.mi.smile].

All four follow the same recipe. The samples are split at random (from ``seed``) into a
training and a held-out part; both variables are standardised with the training part's mean and
standard deviation (an invertible affine map, so the MI is unchanged); a critic ``f(x, y)`` is
trained on minibatches of the training part to maximise the bound (MINE and SMILE with their own
training objectives, see each function); the estimate is the bound evaluated once on the whole
held-out part, with the score matrix ``S_ij = f(x_i, y_j)``: the diagonal holds the joint pairs
and the off-diagonal entries stand for samples of the product of the marginals.

Small samples. A fifth of the training part is kept aside as a validation part; the critic
is checked on it every 50 steps (and before training), the best critic is kept, and training
stops after 4 checks without progress (early stopping). The critic sees its inputs clipped to
the range of the samples it was trained on, so it does not extrapolate to held-out outliers.
At n = 200 this turns held-out values of minus several nats (an overfitted critic) into values
near 0 or below the truth, as a lower bound should be.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hsic._base.rng import as_key
from hsic._base.validation import check_choice, check_positive_int, float_dtype
from hsic.mi._common import check_base, check_pair, to_base

__all__ = [
    "BOUNDS",
    "CRITICS",
    "dv_bound",
    "infonce",
    "infonce_bound",
    "js_objective",
    "mine",
    "nwj",
    "nwj_bound",
    "smile",
    "smile_bound",
]

#: The variational bounds this module estimates.
BOUNDS = ("infonce", "nwj", "mine", "smile")
#: Critic architectures: ``g(x)ᵀh(y)`` with two MLPs, or one MLP on the concatenation ``[x, y]``.
CRITICS = ("separable", "concat")
#: Smallest n: the training and the held-out parts need a few samples each.
MIN_N = 8

# ---------------------------------------------------------------------------------------------
# The bounds, as functions of a b x b score matrix S (S_ij = f(x_i, y_j), joint pairs on the
# diagonal).


def _offdiag_logmeanexp(scores: jax.Array) -> jax.Array:
    """``log( Σ_{i≠j} exp(S_ij) / (b(b−1)) )``, computed stably."""
    b = scores.shape[0]
    masked = jnp.where(jnp.eye(b, dtype=bool), -jnp.inf, scores)
    return jax.nn.logsumexp(masked) - jnp.log(b * (b - 1.0))


def infonce_bound(scores: jax.Array) -> jax.Array:
    """InfoNCE: ``(1/b) Σ_i [S_ii − log Σ_j exp S_ij] + log b`` (at most ``log b``)."""
    b = scores.shape[0]
    return jnp.mean(jnp.diag(scores) - jax.nn.logsumexp(scores, axis=1)) + jnp.log(b * 1.0)


def nwj_bound(scores: jax.Array) -> jax.Array:
    """NWJ: ``mean_i S_ii − e⁻¹ · mean_{i≠j} exp S_ij``."""
    return jnp.mean(jnp.diag(scores)) - jnp.exp(_offdiag_logmeanexp(scores) - 1.0)


def dv_bound(scores: jax.Array) -> jax.Array:
    """Donsker–Varadhan (MINE): ``mean_i S_ii − log mean_{i≠j} exp S_ij``."""
    return jnp.mean(jnp.diag(scores)) - _offdiag_logmeanexp(scores)


def smile_bound(scores: jax.Array, tau: float) -> jax.Array:
    """SMILE: ``mean_i S_ii − log mean_{i≠j} exp clip(S_ij, −τ, τ)``."""
    return jnp.mean(jnp.diag(scores)) - _offdiag_logmeanexp(jnp.clip(scores, -tau, tau))


def js_objective(scores: jax.Array) -> jax.Array:
    """Jensen–Shannon (f-GAN) objective: ``−mean_i softplus(−S_ii) − mean_{i≠j} softplus(S_ij)``.

    Not an MI bound; SMILE trains its critic with it, since its maximiser is the log density
    ratio ``log p(x, y)/(p(x)p(y))``.
    """
    b = scores.shape[0]
    off = jnp.where(jnp.eye(b, dtype=bool), 0.0, jax.nn.softplus(scores))
    return -jnp.mean(jax.nn.softplus(-jnp.diag(scores))) - jnp.sum(off) / (b * (b - 1.0))


def _nwj_of_network(scores: jax.Array) -> jax.Array:
    """NWJ for the critic ``f = 1 + network``: an untrained network (scores near 0) then sits
    at the bound's optimum under independence (0) instead of at ``−1/e``."""
    return nwj_bound(scores + 1.0)


def _evaluate_bound(bound_id: jax.Array, scores: jax.Array, tau: jax.Array) -> jax.Array:
    """The value reported for ``BOUNDS[bound_id]`` on held-out scores (one compiled program
    serves all four bounds: ``bound_id`` is a run-time index)."""
    return jax.lax.switch(
        bound_id,
        [infonce_bound, _nwj_of_network, dv_bound, lambda s: smile_bound(s, tau)],
        scores,
    )


# ---------------------------------------------------------------------------------------------
# Critics: MLPs as lists of (W, b) pairs.


def _init_mlp(key: jax.Array, sizes: Sequence[int], dtype) -> list[tuple[jax.Array, jax.Array]]:
    """Weights uniform on ``±1/√fan_in`` (PyTorch's default) and zero biases.

    The small scale keeps the initial critic scores near 0, so that ``exp f`` starts near 1.
    """
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


def _init_critic(key, critic: str, d_x: int, d_y: int, hidden, embed_dim: int, dtype):
    if critic == "separable":
        kx, ky = jax.random.split(key)
        return {
            "g": _init_mlp(kx, [d_x, *hidden, embed_dim], dtype),
            "h": _init_mlp(ky, [d_y, *hidden, embed_dim], dtype),
        }
    return {"f": _init_mlp(key, [d_x + d_y, *hidden, 1], dtype)}


def _scores(params, critic: str, x: jax.Array, y: jax.Array) -> jax.Array:
    """``S_ij = f(x_i, y_j)`` for all pairs, ``(len(x), len(y))``."""
    if critic == "separable":
        return _mlp(params["g"], x) @ _mlp(params["h"], y).T

    def row(xi):  # f([x_i, y_j]) for every j
        pairs = jnp.concatenate([jnp.broadcast_to(xi, (y.shape[0], xi.shape[0])), y], axis=1)
        return _mlp(params["f"], pairs)[:, 0]

    if x.shape[0] * y.shape[0] <= 2**16:  # a training batch: all pairs at once
        return jax.vmap(row)(x)
    return jax.lax.map(row, x, batch_size=16)  # held-out part: 16 rows of pairs at a time


# ---------------------------------------------------------------------------------------------
# Training


class _TrainState(NamedTuple):
    params: Any
    opt_state: Any
    log_ma: jax.Array  # MINE: log of the moving average of mean_{i≠j} exp S_ij


def _loss(params, log_ma, x, y, bound_id, critic: str, ma_rate):
    """The training loss (to minimise) of ``BOUNDS[bound_id]``, and the updated MINE moving
    average (``lax.switch`` on the run-time ``bound_id``: one compilation for all bounds)."""
    scores = _scores(params, critic, x, y)

    def mine_loss(scores):
        # Bias-corrected gradient (Belghazi et al. 2018, sec. 3.2): the gradient of
        # log E_q[e^f] is E_q[∇f e^f] / E_q[e^f]; the minibatch denominator is replaced by a
        # moving average, held constant in the gradient.
        lme = _offdiag_logmeanexp(scores)
        new_log_ma = jnp.logaddexp(
            jnp.log1p(-ma_rate) + log_ma, jnp.log(ma_rate) + jax.lax.stop_gradient(lme)
        )
        surrogate = jnp.mean(jnp.diag(scores)) - jnp.exp(lme - jax.lax.stop_gradient(new_log_ma))
        return -surrogate, new_log_ma

    return jax.lax.switch(
        bound_id,
        [
            lambda s: (-infonce_bound(s), log_ma),
            lambda s: (-_nwj_of_network(s), log_ma),
            mine_loss,
            lambda s: (-js_objective(s), log_ma),  # SMILE trains with the JS objective
        ],
        scores,
    )


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


@functools.partial(jax.jit, static_argnames=("critic", "batch_size"))
def _train_chunk(
    state: _TrainState, x, y, key, start, total, bound_id, learning_rate, ma_rate,
    *, critic: str, batch_size: int,
):
    """``CHUNK`` optimisation steps from step ``start``; steps ``>= total`` change nothing.

    Step ``t`` draws its minibatch (without replacement) with ``fold_in(key, t)``, so the
    result depends only on ``key`` and ``total``, not on the chunking.
    """
    optimiser = optax.adam(learning_rate)

    def step(state, t):
        idx = jax.random.permutation(jax.random.fold_in(key, t), x.shape[0])[:batch_size]
        (_, log_ma), grads = jax.value_and_grad(_loss, has_aux=True)(
            state.params, state.log_ma, x[idx], y[idx], bound_id, critic, ma_rate
        )
        updates, opt_state = optimiser.update(grads, state.opt_state, state.params)
        new = _TrainState(optax.apply_updates(state.params, updates), opt_state, log_ma)
        live = t < total
        return jax.tree.map(lambda a, b: jnp.where(live, a, b), new, state), None

    state, _ = jax.lax.scan(step, state, start + jnp.arange(CHUNK))
    return state


@functools.partial(jax.jit, static_argnames=("critic",))
def _held_out_scores(params, x, y, *, critic: str):
    return _scores(params, critic, x, y)


@functools.partial(jax.jit, static_argnames=("critic",))
def _validation_bound(params, x, y, bound_id, tau, *, critic: str):
    """The reported bound of ``BOUNDS[bound_id]`` for the critic ``params`` on ``(x, y)``."""
    return _evaluate_bound(bound_id, _scores(params, critic, x, y), tau)


class _Fit(NamedTuple):
    """A trained critic's held-out score matrix and what is needed to evaluate the bound."""

    scores: jax.Array  # (m, m), S_ij = f(x_test_i, y_test_j)
    test_index: np.ndarray  # rows of the input in the held-out part, in the order of `scores`
    bound: str
    tau: float
    step: int = 0  # the training step of the chosen critic (0: the initial one)
    validation: tuple[float, ...] = ()  # the validation bound at steps 0, CHUNK, 2·CHUNK, ...

    def value(self, columns: np.ndarray | None = None) -> float:
        """The bound in nats; with ``columns``, on the held-out y reordered by them."""
        scores = self.scores if columns is None else self.scores[:, columns]
        tau = jnp.asarray(self.tau, scores.dtype)
        return float(_bound_value(scores, BOUNDS.index(self.bound), tau))


@jax.jit
def _bound_value(scores, bound_id, tau):
    return _evaluate_bound(bound_id, scores, tau)


def _check_hidden(hidden: Any) -> tuple[int, ...]:
    try:
        widths = tuple(hidden)
    except TypeError:
        widths = None
    if not widths or any(
        isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1 for w in widths
    ):
        raise ValueError(
            f"`hidden` must be a non-empty sequence of positive layer widths, e.g. (64, 64); "
            f"got {hidden!r}."
        )
    return tuple(int(w) for w in widths)


def _check_fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not (
        0 < value < 1
    ):
        raise ValueError(f"`{name}` must be a number strictly between 0 and 1; got {value!r}.")
    return float(value)


def _check_positive_float(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.number))
        or not math.isfinite(float(value))
        or value <= 0
    ):
        raise ValueError(f"`{name}` must be a positive finite number; got {value!r}.")
    return float(value)


def fit(
    x: Any,
    y: Any,
    *,
    bound: str,
    critic: str = "separable",
    hidden: Sequence[int] = (64, 64),
    embed_dim: int = 32,
    steps: int = 500,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    test_size: float = 0.5,
    tau: float = 5.0,
    ma_rate: float = 0.01,
    seed: Any = 0,
    progress: bool | None = None,
    dtype: Any = None,
) -> _Fit:
    """Check the arguments, train a critic for ``bound`` and score the held-out part.

    The training part is split again: ``VALIDATION`` (a fifth) of it is a validation part, the
    rest trains the critic. The bound is evaluated on the validation part for the initial
    critic and after every ``CHUNK`` steps; the critic with the highest validation bound (a
    later one must beat the best so far by more than ``MIN_GAIN``) is the one scored on the
    held-out part, and training stops after ``PATIENCE`` checks in a row without a better one
    (early stopping, a model selection that never sees the held-out part).
    """
    check_choice(bound, "bound", BOUNDS)
    check_choice(critic, "critic", CRITICS)
    hidden = _check_hidden(hidden)
    embed_dim = check_positive_int(embed_dim, "embed_dim")
    steps = check_positive_int(steps, "steps")
    batch_size = check_positive_int(batch_size, "batch_size")
    if batch_size < 2:
        raise ValueError("`batch_size` must be at least 2 (a batch needs negatives); got 1.")
    learning_rate = _check_positive_float(learning_rate, "learning_rate")
    test_size = _check_fraction(test_size, "test_size")
    tau = _check_positive_float(tau, "tau")
    ma_rate = _check_fraction(ma_rate, "ma_rate")
    key = as_key(seed, "seed")
    dtype = float_dtype(dtype)
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"`progress` must be True, False or None (auto); got {progress!r}.")
    x, y = check_pair(x, y, min_n=MIN_N, reason=f"hsic.mi.{bound}")
    n = x.shape[0]
    n_test = min(max(int(round(test_size * n)), 2), n - 2)

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

    params = _init_critic(k_init, critic, x.shape[1], y.shape[1], hidden, embed_dim, dtype)
    state = _TrainState(
        params, optax.adam(learning_rate).init(params), jnp.zeros((), dtype)
    )
    if progress is None:
        progress = sys.stderr.isatty()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc=f"{bound} critic", unit="step", leave=False)
    batch = min(batch_size, len(fit_part))
    bound_id = jnp.asarray(BOUNDS.index(bound))
    dynamic = (
        jnp.asarray(steps), bound_id,
        jnp.asarray(learning_rate, dtype), jnp.asarray(ma_rate, dtype),
    )
    tau_j = jnp.asarray(tau, dtype)

    def check(params) -> float:
        value = float(_validation_bound(params, x_va, y_va, bound_id, tau_j, critic=critic))
        return value if math.isfinite(value) else -math.inf

    history = [check(state.params)]
    best_params, best_step, stale = state.params, 0, 0
    for start in range(0, steps, CHUNK):
        state = _train_chunk(
            state, x_tr, y_tr, k_train, jnp.asarray(start), *dynamic, critic=critic,
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
    scores = _held_out_scores(best_params, x_te, y_te, critic=critic)
    return _Fit(
        scores=scores, test_index=test, bound=bound, tau=tau, step=best_step,
        validation=tuple(history),
    )


# ---------------------------------------------------------------------------------------------
# Public estimators

_ARGS_DOC = """
    Args:
      x: samples of the first variable, ``(n,)`` or ``(n, d_x)``; a list, NumPy, pandas or
        JAX array.
      y: samples of the second variable, ``(n,)`` or ``(n, d_y)``, with the same n (at least 8).
      critic: ``"separable"`` (default), ``f(x, y) = g(x)ᵀh(y)`` with two MLPs, or
        ``"concat"``, one MLP on ``[x, y]`` (more flexible, b² network evaluations per batch).
      hidden: widths of the hidden layers of each MLP (ReLU), default ``(64, 64)``.
      embed_dim: output width of ``g`` and ``h`` for the separable critic.
      steps: the most Adam steps. A fifth of the training part is a validation part: the
        bound is evaluated on it before training and every 50 steps, the critic with the
        highest value is the one evaluated on the held-out part, and training stops after 4
        checks in a row without a gain of 0.001 nats (early stopping). The critic sees its
        inputs clipped to the range of its training samples. Together these keep small samples
        (n of a few hundred) from overfitting into large negative held-out values.
      batch_size: minibatch size b (capped at the training-part size).
      learning_rate: Adam's learning rate.
      test_size: fraction of the samples held out for the estimate (default one half).
      seed: a non-negative int or a JAX key: it fixes the split, the initial critic and the
        minibatches. The same seed gives the same value.
      base: ``None`` for nats, or the base of the logarithm (2 for bits).
      progress: show a progress bar over training steps; ``None`` (default) shows it only when
        stderr is a terminal.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.
"""


def _estimator(bound: str):
    def estimate(
        x: Any,
        y: Any,
        *,
        critic: Literal["separable", "concat"] = "separable",
        hidden: Sequence[int] = (64, 64),
        embed_dim: int = 32,
        steps: int = 500,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        test_size: float = 0.5,
        seed: Any = 0,
        base: float | None = None,
        progress: bool | None = None,
        dtype: Any = None,
        **extra: Any,
    ) -> float:
        check_base(base)
        result = fit(
            x, y, bound=bound, critic=critic, hidden=hidden, embed_dim=embed_dim, steps=steps,
            batch_size=batch_size, learning_rate=learning_rate, test_size=test_size, seed=seed,
            progress=progress, dtype=dtype, **extra,
        )
        return to_base(result.value(), base)

    return estimate


def infonce(
    x: Any,
    y: Any,
    *,
    critic: Literal["separable", "concat"] = "separable",
    hidden: Sequence[int] = (64, 64),
    embed_dim: int = 32,
    steps: int = 500,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    test_size: float = 0.5,
    seed: Any = 0,
    base: float | None = None,
    progress: bool | None = None,
    dtype: Any = None,
) -> float:
    """InfoNCE (contrastive predictive coding) lower bound on I(X; Y).

    With a critic f and b joint samples ``(x_i, y_i)``,

    ``I_NCE = (1/b) Σ_i [ f(x_i, y_i) − log( (1/b) Σ_j exp f(x_i, y_j) ) ] ≤ I(X; Y)``.

    The critic is trained to maximise it on minibatches of the training part; the estimate is
    the bound on the whole held-out part (b = its size m). It is low-variance but can never
    exceed ``log m``, so it underestimates large MI.
    {args}
    Returns:
      The estimate, a float, in nats (or in ``base`` units).

    Raises:
      ValueError: on bad samples (see [`ksg`][hsic.mi.ksg]), fewer than 8 samples, or a bad
        option.

    Example:
      >>> import numpy as np, hsic.mi
      >>> x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(2000, rng=0)   # MI 0.51 nats
      >>> mi = hsic.mi.infonce(x, y, steps=300, seed=0)
      >>> 0.3 < mi < 0.7
      True

    References:
      van den Oord, Li, Vinyals (2018), "Representation learning with contrastive predictive
      coding", arXiv:1807.03748. Poole, Ozair, van den Oord, Alemi, Tucker (2019), "On
      variational bounds of mutual information", ICML.
    """
    return _estimator("infonce")(
        x, y, critic=critic, hidden=hidden, embed_dim=embed_dim, steps=steps,
        batch_size=batch_size, learning_rate=learning_rate, test_size=test_size, seed=seed,
        base=base, progress=progress, dtype=dtype,
    )


def nwj(
    x: Any,
    y: Any,
    *,
    critic: Literal["separable", "concat"] = "separable",
    hidden: Sequence[int] = (64, 64),
    embed_dim: int = 32,
    steps: int = 500,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    test_size: float = 0.5,
    seed: Any = 0,
    base: float | None = None,
    progress: bool | None = None,
    dtype: Any = None,
) -> float:
    """NWJ (f-divergence, "MINE-f") lower bound on I(X; Y).

    ``I_NWJ = E_p(x,y)[f(x, y)] − e⁻¹ E_p(x)p(y)[exp f(x, y)] ≤ I(X; Y)``,

    tight at ``f = 1 + log p(x, y)/(p(x)p(y))``; the critic is ``1 +`` the network, so an
    untrained network (output near 0) starts at the optimum under independence. Both
    expectations are sample means: the joint one over the pairs ``(x_i, y_i)``, the product
    one over all pairs ``(x_i, y_j)``, ``i ≠ j``.
    The critic is trained to maximise it on minibatches of the training part; the estimate is
    the bound on the whole held-out part. Unbiased for a fixed critic, but high-variance at
    large MI.
    {args}
    Returns:
      The estimate, a float, in nats (or in ``base`` units).

    Raises:
      ValueError: on bad samples, fewer than 8 samples, or a bad option.

    Example:
      >>> import numpy as np, hsic.mi
      >>> x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(2000, rng=0)   # MI 0.51 nats
      >>> mi = hsic.mi.nwj(x, y, steps=300, seed=0)
      >>> 0.3 < mi < 0.7
      True

    References:
      Nguyen, Wainwright, Jordan (2010), "Estimating divergence functionals and the likelihood
      ratio by convex risk minimization", IEEE Trans. Inf. Theory 56(11). Poole et al. (2019),
      "On variational bounds of mutual information", ICML.
    """
    return _estimator("nwj")(
        x, y, critic=critic, hidden=hidden, embed_dim=embed_dim, steps=steps,
        batch_size=batch_size, learning_rate=learning_rate, test_size=test_size, seed=seed,
        base=base, progress=progress, dtype=dtype,
    )


def mine(
    x: Any,
    y: Any,
    *,
    critic: Literal["separable", "concat"] = "separable",
    hidden: Sequence[int] = (64, 64),
    embed_dim: int = 32,
    steps: int = 500,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    test_size: float = 0.5,
    ma_rate: float = 0.01,
    seed: Any = 0,
    base: float | None = None,
    progress: bool | None = None,
    dtype: Any = None,
) -> float:
    """MINE: the Donsker–Varadhan lower bound on I(X; Y), with a bias-corrected gradient.

    ``I_DV = E_p(x,y)[f(x, y)] − log E_p(x)p(y)[exp f(x, y)] ≤ I(X; Y)``.

    The minibatch gradient of the log term, ``E_q[∇f·e^f] / E_q[e^f]``, is biased because its
    denominator is estimated on the same batch. As in Belghazi et al. (2018, sec. 3.2), the
    denominator is replaced by an exponential moving average ``m ← (1 − α) m + α·mean e^f``
    (α = ``ma_rate``), held constant in the gradient. The estimate is ``I_DV`` on the whole
    held-out part (expectation over the product of marginals taken over all pairs
    ``i ≠ j``).
    {args}      ma_rate: α, the rate of the moving average (default 0.01).

    Returns:
      The estimate, a float, in nats (or in ``base`` units).

    Raises:
      ValueError: on bad samples, fewer than 8 samples, or a bad option.

    Example:
      >>> import numpy as np, hsic.mi
      >>> x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(2000, rng=0)   # MI 0.51 nats
      >>> mi = hsic.mi.mine(x, y, steps=300, seed=0)
      >>> 0.3 < mi < 0.7
      True

    References:
      Belghazi, Baratin, Rajeswar, Ozair, Bengio, Courville, Hjelm (2018), "Mutual information
      neural estimation", ICML. Donsker & Varadhan (1983), "Asymptotic evaluation of certain
      Markov process expectations for large time IV", CPAM 36.
    """
    return _estimator("mine")(
        x, y, critic=critic, hidden=hidden, embed_dim=embed_dim, steps=steps,
        batch_size=batch_size, learning_rate=learning_rate, test_size=test_size, seed=seed,
        base=base, progress=progress, dtype=dtype, ma_rate=ma_rate,
    )


def smile(
    x: Any,
    y: Any,
    *,
    critic: Literal["separable", "concat"] = "separable",
    hidden: Sequence[int] = (64, 64),
    embed_dim: int = 32,
    steps: int = 500,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    test_size: float = 0.5,
    tau: float = 5.0,
    seed: Any = 0,
    base: float | None = None,
    progress: bool | None = None,
    dtype: Any = None,
) -> float:
    """SMILE: the Donsker–Varadhan estimate with the partition function's critic clipped at τ.

    ``I_SMILE = E_p(x,y)[f(x, y)] − log E_p(x)p(y)[exp clip(f(x, y), −τ, τ)]``.

    Clipping bounds the variance of the partition term (which otherwise grows like
    ``e^I``), at the price of a bias that vanishes as τ grows. As in Song & Ermon (2020), the
    critic is trained with the Jensen–Shannon (f-GAN) objective
    ``−E_p[softplus(−f)] − E_q[softplus(f)]``, whose maximiser is the log density ratio; the
    estimate is ``I_SMILE`` on the whole held-out part.
    {args}      tau: the clip τ (default 5).

    Returns:
      The estimate, a float, in nats (or in ``base`` units).

    Raises:
      ValueError: on bad samples, fewer than 8 samples, or a bad option.

    Example:
      >>> import numpy as np, hsic.mi
      >>> x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(2000, rng=0)   # MI 0.51 nats
      >>> mi = hsic.mi.smile(x, y, steps=300, seed=0)
      >>> 0.3 < mi < 0.7
      True

    References:
      Song & Ermon (2020), "Understanding the limitations of variational mutual information
      estimators", ICLR.
    """
    return _estimator("smile")(
        x, y, critic=critic, hidden=hidden, embed_dim=embed_dim, steps=steps,
        batch_size=batch_size, learning_rate=learning_rate, test_size=test_size, seed=seed,
        base=base, progress=progress, dtype=dtype, tau=tau,
    )


for _f in (infonce, nwj, mine, smile):
    _f.__doc__ = _f.__doc__.replace("{args}", _ARGS_DOC.rstrip("\n") + "\n")
del _f
