"""HSIC as a training signal: differentiable losses of a minibatch, for any JAX model.

The public face of ``hsic._api.losses``. Each function takes one batch of each variable and
returns a scalar that can be added to a loss: [`hsic`][hsic.losses.hsic] (biased HSIC),
[`nhsic`][hsic.losses.nhsic] (CKA), [`nocco`][hsic.losses.nocco] and
[`hsic_unbiased`][hsic.losses.hsic_unbiased] (Song et al. 2012), with any kernel of
[`hsic.kernels`][hsic.kernels]; and [`hbar`][hsic.losses.hbar], the HSIC-bottleneck
regulariser of Wang et al. (2021) over a list of hidden layers. They are pure, and work under
``jax.jit``, ``jax.vmap`` and ``jax.grad`` (finite gradients for coincident samples and
constant batches; the batch-median bandwidth sends no gradient and does not recompile). See
the [losses guide](losses.md).

Example:
    >>> import jax, jax.numpy as jnp
    >>> from hsic import losses
    >>> x = jax.random.normal(jax.random.key(0), (128, 4))
    >>> step = jax.jit(jax.value_and_grad(lambda w: losses.nhsic(x @ w, x[:, :1])))
    >>> value, grad = step(jnp.ones((4, 2)))
    >>> grad.shape
    (4, 2)
"""

from hsic._api.losses import MEASURES, hbar, hsic, hsic_unbiased, nhsic, nocco

__all__ = ["MEASURES", "hbar", "hsic", "hsic_unbiased", "nhsic", "nocco"]
