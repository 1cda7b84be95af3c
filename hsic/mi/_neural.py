"""Neural variational lower bounds on mutual information: InfoNCE, NWJ, MINE and SMILE.

This module owns the four public estimators [`infonce`][hsic.mi.infonce], [`nwj`][hsic.mi.nwj],
[`mine`][hsic.mi.mine] and [`smile`][hsic.mi.smile]. Each checks its options and calls
``hsic.mi._training.fit``, which splits the samples into a training and a held-out part,
trains a critic ``f(x, y)`` (a [`Critic`][hsic.mi.Critic], options in
[`Training`][hsic.mi.Training]) on minibatches of the training part to maximise the bound (MINE
and SMILE with their own training objectives, see each function), and evaluates the bound once
on the whole held-out part, with the score matrix ``S_ij = f(x_i, y_j)``: the diagonal holds the
joint pairs and the off-diagonal entries stand for samples of the product of the marginals.
The bounds themselves live in ``hsic.mi._bounds`` and the networks in ``hsic.mi._critics``.

Small samples. The critic is chosen on a validation part (early stopping) and sees its inputs
clipped to the range of its training samples, so it does not extrapolate to held-out outliers.
This keeps an overfitted critic at n of a few hundred from giving held-out values of minus
several nats: the values stay near 0 or below the truth, as a lower bound's should.
"""

from __future__ import annotations

from typing import Any

from hsic._base.rng import RNGLike
from hsic.mi._common import check_base, to_base
from hsic.mi._critics import Critic
from hsic.mi._training import Training, fit

__all__ = ["infonce", "mine", "nwj", "smile"]

# The defaults ``Critic()`` and ``Training()`` are frozen dataclasses, so one shared instance
# is safe; ruff's B008 cannot see that through an import, hence the ``noqa`` below.


def _estimate(x: Any, y: Any, *, bound: str, base: Any, **options: Any) -> float:
    check_base(base)
    return to_base(fit(x, y, bound=bound, **options).value(), base)


def infonce(
    x: Any,
    y: Any,
    *,
    critic: Critic = Critic(),  # noqa: B008
    training: Training = Training(),  # noqa: B008
    rng: RNGLike = None,
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

    Args:
      x: samples of the first variable, ``(n,)`` or ``(n, d_x)``; a list, NumPy, pandas or
        JAX array.
      y: samples of the second variable, ``(n,)`` or ``(n, d_y)``, with the same n (at least 8).
      critic: the critic network, a [`Critic`][hsic.mi.Critic]; by default separable,
        ``g(x)ᵀh(y)`` with two ReLU MLPs of hidden widths (64, 64) and 32 outputs.
      training: the split and the optimisation, a [`Training`][hsic.mi.Training]; by default
        half the samples held out and at most 500 Adam steps (early stopping) on batches of
        128 at learning rate 1e-3.
      rng: the split, the initial critic and the minibatches: None (default: fresh
        entropy), an int seed, a ``numpy.random.Generator`` or a JAX key. The same int or
        key gives the same value.
      base: ``None`` for nats, or the base of the logarithm (2 for bits).
      progress: show a progress bar over training steps; ``None`` (default) shows it only when
        stderr is a terminal.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.

    Returns:
      The estimate, a float, in nats (or in ``base`` units).

    Raises:
      ValueError: on bad samples (see [`ksg`][hsic.mi.ksg]), fewer than 8 samples, a
        ``critic`` or ``training`` that is not a ``Critic`` or ``Training``, or a bad
        ``rng``, ``base``, ``progress`` or ``dtype``.

    Example:
      >>> import hsic.mi
      >>> x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(2000, rng=0)   # MI 0.51 nats
      >>> mi = hsic.mi.infonce(x, y, training=hsic.mi.Training(steps=300), rng=0)
      >>> 0.3 < mi < 0.7
      True

    References:
      van den Oord, Li, Vinyals (2018), "Representation learning with contrastive predictive
      coding", arXiv:1807.03748. Poole, Ozair, van den Oord, Alemi, Tucker (2019), "On
      variational bounds of mutual information", ICML.
    """
    return _estimate(
        x, y, bound="infonce", critic=critic, training=training, rng=rng, base=base,
        progress=progress, dtype=dtype,
    )


def nwj(
    x: Any,
    y: Any,
    *,
    critic: Critic = Critic(),  # noqa: B008
    training: Training = Training(),  # noqa: B008
    rng: RNGLike = None,
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

    Args:
      x: samples of the first variable, ``(n,)`` or ``(n, d_x)``; a list, NumPy, pandas or
        JAX array.
      y: samples of the second variable, ``(n,)`` or ``(n, d_y)``, with the same n (at least 8).
      critic: the critic network, a [`Critic`][hsic.mi.Critic]; by default separable,
        ``g(x)ᵀh(y)`` with two ReLU MLPs of hidden widths (64, 64) and 32 outputs.
      training: the split and the optimisation, a [`Training`][hsic.mi.Training]; by default
        half the samples held out and at most 500 Adam steps (early stopping) on batches of
        128 at learning rate 1e-3.
      rng: the split, the initial critic and the minibatches: None (default: fresh
        entropy), an int seed, a ``numpy.random.Generator`` or a JAX key. The same int or
        key gives the same value.
      base: ``None`` for nats, or the base of the logarithm (2 for bits).
      progress: show a progress bar over training steps; ``None`` (default) shows it only when
        stderr is a terminal.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.

    Returns:
      The estimate, a float, in nats (or in ``base`` units).

    Raises:
      ValueError: on bad samples (see [`ksg`][hsic.mi.ksg]), fewer than 8 samples, a
        ``critic`` or ``training`` that is not a ``Critic`` or ``Training``, or a bad
        ``rng``, ``base``, ``progress`` or ``dtype``.

    Example:
      >>> import hsic.mi
      >>> x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(2000, rng=0)   # MI 0.51 nats
      >>> mi = hsic.mi.nwj(x, y, training=hsic.mi.Training(steps=300), rng=0)
      >>> 0.3 < mi < 0.7
      True

    References:
      Nguyen, Wainwright, Jordan (2010), "Estimating divergence functionals and the likelihood
      ratio by convex risk minimization", IEEE Trans. Inf. Theory 56(11). Poole et al. (2019),
      "On variational bounds of mutual information", ICML.
    """
    return _estimate(
        x, y, bound="nwj", critic=critic, training=training, rng=rng, base=base,
        progress=progress, dtype=dtype,
    )


def mine(
    x: Any,
    y: Any,
    *,
    critic: Critic = Critic(),  # noqa: B008
    training: Training = Training(),  # noqa: B008
    ma_rate: float = 0.01,
    rng: RNGLike = None,
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

    Args:
      x: samples of the first variable, ``(n,)`` or ``(n, d_x)``; a list, NumPy, pandas or
        JAX array.
      y: samples of the second variable, ``(n,)`` or ``(n, d_y)``, with the same n (at least 8).
      critic: the critic network, a [`Critic`][hsic.mi.Critic]; by default separable,
        ``g(x)ᵀh(y)`` with two ReLU MLPs of hidden widths (64, 64) and 32 outputs.
      training: the split and the optimisation, a [`Training`][hsic.mi.Training]; by default
        half the samples held out and at most 500 Adam steps (early stopping) on batches of
        128 at learning rate 1e-3.
      ma_rate: α, the rate of the moving average, strictly between 0 and 1 (default
        0.01). Only MINE has it.
      rng: the split, the initial critic and the minibatches: None (default: fresh
        entropy), an int seed, a ``numpy.random.Generator`` or a JAX key. The same int or
        key gives the same value.
      base: ``None`` for nats, or the base of the logarithm (2 for bits).
      progress: show a progress bar over training steps; ``None`` (default) shows it only when
        stderr is a terminal.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.

    Returns:
      The estimate, a float, in nats (or in ``base`` units).

    Raises:
      ValueError: on bad samples (see [`ksg`][hsic.mi.ksg]), fewer than 8 samples, a
        ``critic`` or ``training`` that is not a ``Critic`` or ``Training``, or a bad
        ``ma_rate``, ``rng``, ``base``, ``progress`` or ``dtype``.

    Example:
      >>> import hsic.mi
      >>> x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(2000, rng=0)   # MI 0.51 nats
      >>> mi = hsic.mi.mine(x, y, training=hsic.mi.Training(steps=300), rng=0)
      >>> 0.3 < mi < 0.7
      True

    References:
      Belghazi, Baratin, Rajeswar, Ozair, Bengio, Courville, Hjelm (2018), "Mutual information
      neural estimation", ICML. Donsker & Varadhan (1983), "Asymptotic evaluation of certain
      Markov process expectations for large time IV", CPAM 36.
    """
    return _estimate(
        x, y, bound="mine", critic=critic, training=training, rng=rng, base=base,
        progress=progress, dtype=dtype, ma_rate=ma_rate,
    )


def smile(
    x: Any,
    y: Any,
    *,
    critic: Critic = Critic(),  # noqa: B008
    training: Training = Training(),  # noqa: B008
    tau: float = 5.0,
    rng: RNGLike = None,
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

    Args:
      x: samples of the first variable, ``(n,)`` or ``(n, d_x)``; a list, NumPy, pandas or
        JAX array.
      y: samples of the second variable, ``(n,)`` or ``(n, d_y)``, with the same n (at least 8).
      critic: the critic network, a [`Critic`][hsic.mi.Critic]; by default separable,
        ``g(x)ᵀh(y)`` with two ReLU MLPs of hidden widths (64, 64) and 32 outputs.
      training: the split and the optimisation, a [`Training`][hsic.mi.Training]; by default
        half the samples held out and at most 500 Adam steps (early stopping) on batches of
        128 at learning rate 1e-3.
      tau: the clip τ, a positive number (default 5). Only SMILE has it.
      rng: the split, the initial critic and the minibatches: None (default: fresh
        entropy), an int seed, a ``numpy.random.Generator`` or a JAX key. The same int or
        key gives the same value.
      base: ``None`` for nats, or the base of the logarithm (2 for bits).
      progress: show a progress bar over training steps; ``None`` (default) shows it only when
        stderr is a terminal.
      dtype: ``"float32"`` (default unless JAX's x64 mode is on) or ``"float64"``.

    Returns:
      The estimate, a float, in nats (or in ``base`` units).

    Raises:
      ValueError: on bad samples (see [`ksg`][hsic.mi.ksg]), fewer than 8 samples, a
        ``critic`` or ``training`` that is not a ``Critic`` or ``Training``, or a bad
        ``tau``, ``rng``, ``base``, ``progress`` or ``dtype``.

    Example:
      >>> import hsic.mi
      >>> x, y = hsic.mi.tasks.get("normal-1d-0.8").sample(2000, rng=0)   # MI 0.51 nats
      >>> mi = hsic.mi.smile(x, y, training=hsic.mi.Training(steps=300), rng=0)
      >>> 0.3 < mi < 0.7
      True

    References:
      Song & Ermon (2020), "Understanding the limitations of variational mutual information
      estimators", ICLR.
    """
    return _estimate(
        x, y, bound="smile", critic=critic, training=training, rng=rng, base=base,
        progress=progress, dtype=dtype, tau=tau,
    )
