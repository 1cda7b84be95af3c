"""The variational bounds on mutual information, as functions of a critic's score matrix.

This module owns the four bounds that [`infonce`][hsic.mi.infonce], [`nwj`][hsic.mi.nwj],
[`mine`][hsic.mi.mine] and [`smile`][hsic.mi.smile] report, the Jensen–Shannon objective that
trains SMILE's critic, and the training loss of each bound. Every function takes a ``b × b``
score matrix ``S`` with ``S_ij = f(x_i, y_j)`` for a critic ``f``: the diagonal holds the joint
pairs, the off-diagonal entries stand for samples of the product of the marginals. Nothing here
knows about networks or optimisers (``hsic.mi._critics`` and ``hsic.mi._training`` do).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "BOUNDS",
    "dv_bound",
    "evaluate_bound",
    "infonce_bound",
    "js_objective",
    "nwj_bound",
    "smile_bound",
    "training_loss",
]

#: The variational bounds, in the order of the run-time index ``bound_id``.
BOUNDS = ("infonce", "nwj", "mine", "smile")


def offdiag_logmeanexp(scores: jax.Array) -> jax.Array:
    """``log( Σ_{i≠j} exp(S_ij) / (b(b−1)) )``, computed stably."""
    b = scores.shape[0]
    masked = jnp.where(jnp.eye(b, dtype=bool), -jnp.inf, scores)
    return jax.nn.logsumexp(masked) - jnp.log(b * (b - 1.0))


def infonce_bound(scores: jax.Array) -> jax.Array:
    """InfoNCE: ``(1/b) Σ_i [S_ii − log Σ_j exp S_ij] + log b`` (at most ``log b``).

    Example:
      >>> import jax.numpy as jnp
      >>> from hsic.mi._bounds import infonce_bound
      >>> round(float(infonce_bound(jnp.zeros((3, 3)))), 6)   # an uninformative critic
      0.0
    """
    b = scores.shape[0]
    return jnp.mean(jnp.diag(scores) - jax.nn.logsumexp(scores, axis=1)) + jnp.log(b * 1.0)


def nwj_bound(scores: jax.Array) -> jax.Array:
    """NWJ: ``mean_i S_ii − e⁻¹ · mean_{i≠j} exp S_ij``.

    Example:
      >>> import jax.numpy as jnp
      >>> from hsic.mi._bounds import nwj_bound
      >>> round(float(nwj_bound(jnp.ones((3, 3)))), 6)   # f = 1, the optimum under independence
      0.0
    """
    return jnp.mean(jnp.diag(scores)) - jnp.exp(offdiag_logmeanexp(scores) - 1.0)


def dv_bound(scores: jax.Array) -> jax.Array:
    """Donsker–Varadhan (MINE): ``mean_i S_ii − log mean_{i≠j} exp S_ij``.

    Example:
      >>> import jax.numpy as jnp
      >>> from hsic.mi._bounds import dv_bound
      >>> round(float(dv_bound(jnp.array([[1.0, 0.0], [0.0, 1.0]]))), 6)
      1.0
    """
    return jnp.mean(jnp.diag(scores)) - offdiag_logmeanexp(scores)


def smile_bound(scores: jax.Array, tau: float | jax.Array) -> jax.Array:
    """SMILE: ``mean_i S_ii − log mean_{i≠j} exp clip(S_ij, −τ, τ)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from hsic.mi._bounds import smile_bound
      >>> round(float(smile_bound(jnp.array([[1.0, 3.0], [3.0, 1.0]]), 2.0)), 6)   # 1 − 2
      -1.0
    """
    return jnp.mean(jnp.diag(scores)) - offdiag_logmeanexp(jnp.clip(scores, -tau, tau))


def js_objective(scores: jax.Array) -> jax.Array:
    """Jensen–Shannon (f-GAN) objective: ``−mean_i softplus(−S_ii) − mean_{i≠j} softplus(S_ij)``.

    Not an MI bound; SMILE trains its critic with it, since its maximiser is the log density
    ratio ``log p(x, y)/(p(x)p(y))``.

    Example:
      >>> import math, jax.numpy as jnp
      >>> from hsic.mi._bounds import js_objective
      >>> round(float(js_objective(jnp.zeros((3, 3)))) / math.log(2), 6)   # −2 log 2
      -2.0
    """
    b = scores.shape[0]
    off = jnp.where(jnp.eye(b, dtype=bool), 0.0, jax.nn.softplus(scores))
    return -jnp.mean(jax.nn.softplus(-jnp.diag(scores))) - jnp.sum(off) / (b * (b - 1.0))


def nwj_of_network(scores: jax.Array) -> jax.Array:
    """NWJ for the critic ``f = 1 + network``: an untrained network (scores near 0) then sits
    at the bound's optimum under independence (0) instead of at ``−1/e``."""
    return nwj_bound(scores + 1.0)


def evaluate_bound(bound_id: jax.Array, scores: jax.Array, tau: jax.Array) -> jax.Array:
    """The value reported for ``BOUNDS[bound_id]`` on held-out scores (one compiled program
    serves all four bounds: ``bound_id`` is a run-time index).

    Example:
      >>> import jax.numpy as jnp
      >>> from hsic.mi._bounds import BOUNDS, evaluate_bound
      >>> round(float(evaluate_bound(BOUNDS.index("nwj"), jnp.zeros((4, 4)), 5.0)), 6)
      0.0
    """
    return jax.lax.switch(
        bound_id,
        [infonce_bound, nwj_of_network, dv_bound, lambda s: smile_bound(s, tau)],
        scores,
    )


def training_loss(
    scores: jax.Array, log_ma: jax.Array, bound_id: jax.Array, ma_rate: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """The loss (to minimise) that trains the critic of ``BOUNDS[bound_id]`` on a batch's
    ``scores``, and the updated MINE moving average ``log_ma`` (unchanged for the others).

    InfoNCE and NWJ maximise their own bound. MINE maximises the Donsker–Varadhan bound with
    the bias-corrected gradient of Belghazi et al. (2018, sec. 3.2): the gradient of
    ``log E_q[e^f]`` is ``E_q[∇f e^f] / E_q[e^f]``, and the minibatch denominator is replaced
    by the moving average ``m ← (1 − α) m + α · mean_{i≠j} e^{S_ij}`` (α = ``ma_rate``), held
    constant in the gradient. SMILE maximises [`js_objective`][hsic.mi._bounds.js_objective].
    ``lax.switch`` on the run-time ``bound_id``: one compilation serves all bounds.

    Example:
      >>> import jax.numpy as jnp
      >>> from hsic.mi._bounds import BOUNDS, training_loss
      >>> loss, log_ma = training_loss(jnp.zeros((3, 3)), 0.0, BOUNDS.index("infonce"), 0.01)
      >>> round(float(loss), 6), float(log_ma)
      (0.0, 0.0)
    """

    def mine_loss(scores):
        lme = offdiag_logmeanexp(scores)
        new_log_ma = jnp.logaddexp(
            jnp.log1p(-ma_rate) + log_ma, jnp.log(ma_rate) + jax.lax.stop_gradient(lme)
        )
        surrogate = jnp.mean(jnp.diag(scores)) - jnp.exp(lme - jax.lax.stop_gradient(new_log_ma))
        return -surrogate, new_log_ma

    return jax.lax.switch(
        bound_id,
        [
            lambda s: (-infonce_bound(s), log_ma),
            lambda s: (-nwj_of_network(s), log_ma),
            mine_loss,
            lambda s: (-js_objective(s), log_ma),  # SMILE trains with the JS objective
        ],
        scores,
    )
