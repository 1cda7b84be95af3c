"""The HSIC-bottleneck objective: per-layer normalised HSIC with X and with the labels Y.

For a block output ``Z_i`` on a batch of m samples,

    loss_i = nHSIC(Z_i, X) − β · nHSIC(Z_i, Y),

with Gaussian kernels of width ``σ·√d`` (d the variable's dimension, after flattening) and
``Y`` the one-hot labels. The normalisation ``nHSIC`` is one of

* ``"nocco"``: ``tr(R_Z R_X)`` with ``R = K̄(K̄ + εmI)⁻¹`` (the official code's form;
  [`hsic.nocco_from_gram`][hsic.nocco_from_gram]);
* ``"cka"``: centred kernel alignment ([`hsic.cka_from_gram`][hsic.cka_from_gram]);
* ``"hsic"``: plain biased HSIC ([`hsic.hsic_from_gram`][hsic.hsic_from_gram]).

The four settings (β, σ, the normalisation and ε) travel together as one
[`Objective`][hsic.bottleneck.Objective]. This module owns only the wiring: the objective's
settings, the per-block losses and their sum over a network's blocks, and the terms' ceilings
(the saturation diagnostics); kernels and estimators are the core's.

**Ceilings.** Each term has an upper bound on the batch, and a term near it no longer
drives learning (its gradient vanishes):

* ``"nocco"``: ``tr(R_Z R_X) ≤ tr(R_X)``, because ``R_Z``'s eigenvalues ``μ/(μ + εm)`` lie
  in [0, 1); the bound is approached when ``R_Z → I`` on ``R_X``'s range, e.g. when the
  block's Gram matrix becomes the identity (every pair of outputs far apart beside the kernel
  width): then ``R_Z = H/(1 + εm)`` and the ratio is ``1/(1 + εm)`` (0.9975 at m = 256);
* ``"cka"``: 1 (Cauchy–Schwarz); the ratio is the CKA itself;
* ``"hsic"``: plain HSIC has no ceiling set by the batch alone (it grows with the spread of
  the kernel), so its ratio uses Cauchy–Schwarz, ``√(HSIC(Z, Z)·HSIC(X, X))``: the ratio is
  then the CKA of the same Gram matrices.

Every ratio lies in [0, 1].
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from hsic._base.validation import check_choice, check_number, check_positive_float
from hsic._stats.gram import cka_from_gram, hsic_from_gram
from hsic._stats.nocco import nocco_from_gram, nocco_projection
from hsic.kernels import Gaussian

if TYPE_CHECKING:  # for annotations only: the losses call the network's methods
    from hsic.bottleneck._models import Network

__all__ = [
    "NORMALISATIONS",
    "Objective",
    "bottleneck_gram",
    "bottleneck_losses",
    "layer_hsic",
    "layer_loss",
    "layer_targets",
]

NORMALISATIONS = ("nocco", "cka", "hsic")
EPSILON = 1e-5  # the official code's NOCCO regulariser


@jax.tree_util.register_static  # no leaves: jitted code takes it as a static value
@dataclasses.dataclass(frozen=True)
class Objective:
    """The HSIC-bottleneck objective's settings: ``loss_i = nHSIC(Z_i, X) − β·nHSIC(Z_i, Y)``.

    Every kernel is Gaussian of width ``σ·√d`` (see
    [`bottleneck_gram`][hsic.bottleneck.bottleneck_gram]), and ``nHSIC`` is the
    ``normalisation`` (see the module notes; ``epsilon`` is NOCCO's regulariser ε). The
    settings are checked when the objective is built. It is frozen and hashable, and a pytree
    with no leaves, so a jitted function takes it as an ordinary argument and compiles once
    per distinct objective.

    Attributes:
      beta: β, the weight of the label term (any finite number). 50 is the official code's
        MNIST MLP setting, the best of 20, 50, 100, 500 and 2000 in a sweep on MNIST (see
        docs/bottleneck.md).
      sigma: σ > 0 of every kernel.
      normalisation: ``"nocco"`` (the official code's), ``"cka"`` or ``"hsic"``.
      epsilon: ε > 0, NOCCO's regulariser (used by ``"nocco"`` only).

    Raises:
      ValueError: naming the field that is out of range.

    Example:
      >>> from hsic.bottleneck import Objective
      >>> Objective()
      Objective(beta=50.0, sigma=5.0, normalisation='nocco', epsilon=1e-05)
      >>> Objective(beta=100) == Objective(beta=100.0)
      True
      >>> Objective(sigma=0.0)
      Traceback (most recent call last):
      ...
      ValueError: `sigma` must be a positive finite number; got 0.0.
    """

    beta: float = 50.0
    sigma: float = 5.0
    normalisation: Literal["nocco", "cka", "hsic"] = "nocco"
    epsilon: float = EPSILON

    def __post_init__(self):
        checked = {
            "beta": check_number(self.beta, "beta", "a finite number"),
            "sigma": check_positive_float(self.sigma, "sigma"),
            "normalisation": check_choice(self.normalisation, "normalisation", NORMALISATIONS),
            "epsilon": check_positive_float(self.epsilon, "epsilon"),
        }
        for name, value in checked.items():  # plain floats: equal settings, equal hashes
            object.__setattr__(self, name, value)


def check_objective(objective) -> Objective:
    """Check that ``objective`` is an [`Objective`][hsic.bottleneck.Objective]."""
    if not isinstance(objective, Objective):
        raise ValueError(
            "`objective` must be a hsic.bottleneck.Objective, e.g. Objective(beta=50.0, "
            f"sigma=5.0); got {type(objective).__name__}."
        )
    return objective


def bottleneck_gram(z: ArrayLike, *, sigma: float) -> jax.Array:
    """Gaussian Gram matrix of a batch with width ``σ·√d``: ``exp(−‖a − b‖² / (2σ²d))``.

    ``z`` is flattened to ``(m, d)`` first (images, feature maps).

    Args:
      z: a batch, ``(m, ...)``.
      sigma: σ > 0.

    Returns:
      The ``(m, m)`` Gram matrix.

    Example:
      >>> from hsic.bottleneck import bottleneck_gram
      >>> import numpy as np
      >>> K = bottleneck_gram([[0.0, 0.0], [1.0, 1.0]], sigma=1.0)   # exp(-2/4) = 0.6065
      >>> np.asarray(K, dtype=float).round(4).tolist()
      [[1.0, 0.6065], [0.6065, 1.0]]
    """
    sigma = check_positive_float(sigma, "sigma")
    z = jnp.asarray(z)
    z = z.reshape(z.shape[0], -1)
    if not jnp.issubdtype(z.dtype, jnp.floating):
        z = z.astype(jnp.zeros(()).dtype)
    return Gaussian("sqrt_dim", factor=sigma).fit(z).gram(z)  # width σ·√d (kernels' rule)


def layer_hsic(
    Kz: ArrayLike,
    K: ArrayLike,
    *,
    normalisation: Literal["nocco", "cka", "hsic"] = "nocco",
    epsilon: float = EPSILON,
) -> jax.Array:
    """The normalised HSIC between two batches, from their Gram matrices.

    Args:
      Kz: ``(m, m)`` Gram matrix of the block output.
      K: ``(m, m)`` Gram matrix of X or of Y.
      normalisation: ``"nocco"``, ``"cka"`` or ``"hsic"`` (see the module notes).
      epsilon: NOCCO's regulariser ε (used by ``"nocco"`` only).

    Example:
      >>> import numpy as np
      >>> from hsic.bottleneck import layer_hsic
      >>> K = np.array([[1.0, 0.5], [0.5, 1.0]])
      >>> layer_hsic(K, K, normalisation="cka")
      Array(1., dtype=float32)
    """
    check_choice(normalisation, "normalisation", NORMALISATIONS)
    if normalisation == "nocco":
        return nocco_from_gram(Kz, K, epsilon=epsilon)
    if normalisation == "cka":
        return cka_from_gram(Kz, K)
    return hsic_from_gram(Kz, K)


def layer_targets(
    Kx: ArrayLike, Ky: ArrayLike, *, objective: Objective = Objective()
) -> tuple[jax.Array, jax.Array]:
    """What every block's loss compares its output with, computed once per batch.

    For ``"nocco"`` these are ``R_X`` and ``R_Y``
    ([`hsic.nocco_projection`][hsic.nocco_projection]), so that each block needs one
    factorisation (of its own Gram matrix) rather than three; for ``"cka"`` and ``"hsic"``
    the Gram matrices themselves.

    Args:
      Kx: ``(m, m)`` Gram matrix of the inputs.
      Ky: ``(m, m)`` Gram matrix of the one-hot labels.
      objective: the [`Objective`][hsic.bottleneck.Objective]; only its ``normalisation`` and
        ``epsilon`` are used.

    Returns:
      ``(T_X, T_Y)``, each ``(m, m)``.

    Example:
      >>> import numpy as np
      >>> from hsic.bottleneck import Objective, layer_targets
      >>> K = np.array([[1.0, 0.5], [0.5, 1.0]])
      >>> Tx, Ty = layer_targets(K, K, objective=Objective(normalisation="cka"))
      >>> Tx.shape
      (2, 2)
    """
    objective = check_objective(objective)
    if objective.normalisation == "nocco":
        Rx, Ry = _projections(jnp.stack([jnp.asarray(Kx), jnp.asarray(Ky)]), objective.epsilon)
        return Rx, Ry
    return jnp.asarray(Kx), jnp.asarray(Ky)


def _projections(Ks: jax.Array, epsilon: float) -> jax.Array:
    """``nocco_projection`` of a stack of Gram matrices ``(L, m, m)``, as one batched call:
    the blocks' inverses then run as batched matrix products rather than one by one."""
    return jax.vmap(functools.partial(nocco_projection, epsilon=epsilon))(Ks)


def block_terms(
    Kz: ArrayLike, targets: tuple[jax.Array, jax.Array], *, objective: Objective = Objective()
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Both terms of several blocks, and their ratios to their ceilings (module notes).

    ``Kz`` holds the blocks' stacked Gram matrices, ``(L, m, m)``; ``targets`` is
    ``layer_targets(Kx, Ky, objective=objective)`` of the batch. For ``"nocco"``,
    ``nHSIC(Z, X) = Σ R_Z ∘ R_X`` with every block's ``R_Z`` computed in one batched call.

    Returns:
      ``(nhsic_zx, nhsic_zy, saturation_zx, saturation_zy)``, each of shape ``(L,)``;
      ``saturation_zx`` is ``nhsic_zx`` over its ceiling (``tr(R_X)`` for ``"nocco"``).
    """
    objective = check_objective(objective)
    normalisation = objective.normalisation
    Tx, Ty = targets
    Kz = jnp.asarray(Kz)
    if normalisation == "nocco":  # nocco_from_gram, with R_X and R_Y computed once
        Rz = _projections(Kz, objective.epsilon)
        zx, zy = jnp.sum(Rz * Tx, axis=(1, 2)), jnp.sum(Rz * Ty, axis=(1, 2))
        ceiling_x, ceiling_y = _centred_trace(Tx), _centred_trace(Ty)
    else:
        zx = jax.vmap(lambda K: layer_hsic(K, Tx, normalisation=normalisation))(Kz)
        zy = jax.vmap(lambda K: layer_hsic(K, Ty, normalisation=normalisation))(Kz)
        if normalisation == "cka":
            ceiling_x = ceiling_y = jnp.ones((), zx.dtype)
        else:  # Cauchy–Schwarz: HSIC(Z, X)² ≤ HSIC(Z, Z)·HSIC(X, X)
            zz = jax.vmap(lambda K: hsic_from_gram(K, K))(Kz)
            ceiling_x = jnp.sqrt(zz * hsic_from_gram(Tx, Tx))
            ceiling_y = jnp.sqrt(zz * hsic_from_gram(Ty, Ty))
    return zx, zy, _ratio(zx, ceiling_x), _ratio(zy, ceiling_y)


def _centred_trace(R: jax.Array) -> jax.Array:
    """``tr(HRH) = tr(R) − 1ᵀR1/m``, which is ``tr(R)`` for a centred ``R``. In float32 it
    is the accurate one: ``R = I − εm(K̄ + εmI)⁻¹`` carries its rounding error mostly along
    the constant vector (the inverse's largest eigenvalue, 1/(εm)), which the centring
    removes, as it does from the terms ``Σ R_Z ∘ R`` (0.7 % against 1e-5 on 40 one-hot
    labels)."""
    return jnp.trace(R) - jnp.sum(R) / R.shape[0]


def _ratio(term: jax.Array, ceiling: jax.Array) -> jax.Array:
    """``term / ceiling`` (0 where the ceiling is 0: a constant variable has no dependence)."""
    safe = jnp.where(ceiling > 0, ceiling, 1)
    return jnp.where(ceiling > 0, term / safe, jnp.zeros_like(term))


def block_losses(
    Kz: ArrayLike, targets: tuple[jax.Array, jax.Array], *, objective: Objective = Objective()
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """The losses of several blocks from their stacked Gram matrices ``Kz``, ``(L, m, m)``.

    ``targets`` is ``layer_targets(Kx, Ky, objective=objective)`` of the batch (see
    `block_terms`).

    Returns:
      ``(losses, (nhsic_zx, nhsic_zy))``, each of shape ``(L,)``.
    """
    zx, zy, _, _ = block_terms(Kz, targets, objective=objective)
    return zx - objective.beta * zy, (zx, zy)


def layer_loss(
    z: ArrayLike,
    Kx: ArrayLike,
    Ky: ArrayLike,
    *,
    objective: Objective = Objective(),
    targets: tuple[jax.Array, jax.Array] | None = None,
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """One block's HSIC-bottleneck loss, ``nHSIC(Z, X) − β·nHSIC(Z, Y)``.

    Args:
      z: the block's output on the batch, ``(m, ...)``.
      Kx: ``(m, m)`` Gram matrix of the inputs (``bottleneck_gram(x, sigma=σ)``).
      Ky: ``(m, m)`` Gram matrix of the one-hot labels.
      objective: the [`Objective`][hsic.bottleneck.Objective] (β, σ of Z's kernel, the
        normalisation and ε).
      targets: ``layer_targets(Kx, Ky, objective=objective)`` if already computed for this
        batch (then ``Kx`` and ``Ky`` are not used).

    Returns:
      ``(loss, (nhsic_zx, nhsic_zy))``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from hsic.bottleneck import Objective, bottleneck_gram, layer_loss
      >>> x = jax.random.normal(jax.random.key(0), (16, 3))
      >>> y = jax.nn.one_hot(jnp.arange(16) % 2, 2)
      >>> Kx, Ky = bottleneck_gram(x, sigma=5.0), bottleneck_gram(y, sigma=5.0)
      >>> loss, (zx, zy) = layer_loss(x, Kx, Ky, objective=Objective(beta=100.0))
      >>> bool(jnp.isclose(loss, zx - 100.0 * zy))
      True

    References:
      Ma, Lewis, Kleijn (2020), "The HSIC bottleneck: deep learning without
      back-propagation", AAAI, eq. 6.
    """
    objective = check_objective(objective)
    if targets is None:
        targets = layer_targets(Kx, Ky, objective=objective)
    losses, (zx, zy) = block_losses(bottleneck_gram(z, sigma=objective.sigma)[None], targets,
                                    objective=objective)
    return losses[0], (zx[0], zy[0])


def bottleneck_losses(
    model: Network,
    params: Sequence,
    state: Sequence,
    x: ArrayLike,
    y_onehot: ArrayLike,
    *,
    objective: Objective = Objective(),
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
      objective: the [`Objective`][hsic.bottleneck.Objective].
      train: BatchNorm mode.

    Returns:
      ``(losses, (nhsic_zx, nhsic_zy), new_state)``; the first two are ``(n_blocks,)`` arrays.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from hsic.bottleneck import Objective, bottleneck_losses, mlp
      >>> net = mlp([16, 8], input_shape=(4,))
      >>> params, state = net.init(0)
      >>> x = jax.random.normal(jax.random.key(1), (32, 4))
      >>> y = jax.nn.one_hot(jnp.arange(32) % 2, 2)
      >>> losses, (zx, zy), _ = bottleneck_losses(net, params, state, x, y,
      ...                                         objective=Objective(beta=10.0))
      >>> losses.shape
      (2,)
    """
    losses, (zx, zy, _, _), new_state = network_terms(model, params, state, x, y_onehot,
                                                      objective=objective, train=train)
    return losses, (zx, zy), new_state


def network_terms(
    model: Network,
    params: Sequence,
    state: Sequence,
    x: ArrayLike,
    y_onehot: ArrayLike,
    *,
    objective: Objective = Objective(),
    train: bool = True,
) -> tuple[jax.Array, tuple[jax.Array, jax.Array, jax.Array, jax.Array], list]:
    """[`bottleneck_losses`][hsic.bottleneck.bottleneck_losses] with the saturation ratios.

    Returns:
      ``(losses, (nhsic_zx, nhsic_zy, saturation_zx, saturation_zy), new_state)``, each of
      the first five an ``(n_blocks,)`` array (see `block_terms`).
    """
    objective = check_objective(objective)
    sigma = objective.sigma
    x = jnp.asarray(x)
    targets = layer_targets(bottleneck_gram(x, sigma=sigma), bottleneck_gram(y_onehot, sigma=sigma),
                            objective=objective)
    h = x
    grams, new_state = [], []
    for i in range(model.n_blocks):
        z, s = model.block(i, params[i], state[i], jax.lax.stop_gradient(h), train=train)
        grams.append(bottleneck_gram(z, sigma=sigma))
        new_state.append(s)
        h = z
    # Every block's loss at once (one batched NOCCO projection); block i's loss depends on
    # params[i] only, through grams[i].
    zx, zy, sat_x, sat_y = block_terms(jnp.stack(grams), targets, objective=objective)
    return zx - objective.beta * zy, (zx, zy, sat_x, sat_y), new_state
