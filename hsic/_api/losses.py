"""HSIC as a differentiable loss on a minibatch: the functions of ``hsic.losses``.

Each function takes one batch of each variable (one row per sample; anything after the first
axis is flattened, so images and feature maps need no reshaping), builds the Gram matrices with
any kernel of [`hsic.kernels`][hsic.kernels], and returns a scalar. They are pure and compiled
(one small ``jax.jit`` per kernel kind, inlined into the caller's own ``jit``), and they work
under ``jax.jit``, ``jax.vmap`` and ``jax.grad``:

* the **median** bandwidth (``Gaussian()``, ``Laplace()``: ``bandwidth="median"``) is that of
  the batch, the rule of [`median_distance`][hsic.kernels.median_distance] computed inside the
  compiled function by an exact selection under ``stop_gradient``: it sends no gradient, and
  a new batch of the same shape reuses the compiled code;
* a **fixed** bandwidth is a traced leaf (changing it does not recompile, and it can be
  learned), and ``bandwidth="sqrt_dim"`` gives the HSIC-bottleneck paper's width ``σ·√d``
  (``factor=σ``);
* gradients are finite where two samples coincide (the Laplace kernel's ``‖a − b‖`` has a
  zero gradient at 0, not NaN) and for a constant batch (whose centred Gram matrix is 0).

The estimators are those of [`hsic.hsic`][hsic.hsic] and the Gram-matrix functions, so the
values agree with them: the biased ``HSIC_b = tr(K H L H)/m²``, CKA, NOCCO and the unbiased
estimator of Song et al. (2012).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from hsic._base.validation import check_choice, check_number, check_positive_float, is_traced
from hsic._stats import kernels as _kernels
from hsic._stats.distances import batch_median_distance
from hsic._stats.gram import centre, cka
from hsic._stats.nocco import nocco_projection

__all__ = ["MEASURES", "hbar", "hsic", "hsic_unbiased", "nhsic", "nocco"]

#: The dependence measures of ``hbar`` (``measure=``), one per loss of this module.
MEASURES = ("hsic", "nhsic", "nocco", "hsic_unbiased")
#: The smallest batch of each measure (the unbiased estimator divides by m(m − 3)).
MIN_BATCH = {"hsic": 2, "nhsic": 2, "nocco": 2, "hsic_unbiased": 4}
#: NOCCO's default regulariser (that of the HSIC-bottleneck code).
EPSILON = 1e-5

Measure = Literal["hsic", "nhsic", "nocco", "hsic_unbiased"]
KernelSpec = str | _kernels.Kernel


# Inputs and kernels, checked in Python (shapes are known even under a trace). ---------------


def _as_batch(x: Any, name: str, kernel: _kernels.Kernel) -> jax.Array:
    """``x`` as an ``(m, d)`` floating array (rows are samples; trailing axes flattened)."""
    x = x if is_traced(x) or isinstance(x, jax.Array) else np.asarray(x)
    if not any(jnp.issubdtype(x.dtype, kind) for kind in (jnp.floating, jnp.integer, jnp.bool_)):
        raise ValueError(
            f"`{name}` must hold real numbers (floats, integers or bools); got dtype {x.dtype}."
        )
    if x.ndim == 0:
        raise ValueError(
            f"`{name}` must be a batch with one row per sample, shape (m,) or (m, ...); "
            "got a 0-D array."
        )
    if x.shape[0] == 0:
        raise ValueError(f"`{name}` is an empty batch; got shape {tuple(x.shape)}.")
    if isinstance(kernel, _kernels.Precomputed) and (x.ndim != 2 or x.shape[0] != x.shape[1]):
        raise ValueError(
            f"`{name}` must be a square (m, m) Gram matrix for kernel 'precomputed'; got shape "
            f"{tuple(x.shape)}."
        )
    x = jnp.asarray(x).reshape(x.shape[0], -1)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.zeros(()).dtype)
    return x


def _check_rows(arrays: dict[str, jax.Array], measure: str) -> int:
    """The batch size shared by ``arrays`` (their names as keys), at least ``measure``'s."""
    (first, a), *rest = arrays.items()
    m = a.shape[0]
    for name, b in rest:
        if b.shape[0] != m:
            raise ValueError(
                f"`{name}` and `{first}` must have the same batch size (rows); got "
                f"{b.shape[0]} and {m}."
            )
    if m < MIN_BATCH[measure]:
        why = " (its estimator divides by m(m − 3))" if measure == "hsic_unbiased" else ""
        raise ValueError(
            f"`{first}` must have at least {MIN_BATCH[measure]} samples (rows) for "
            f"{measure}{why}; got a batch of {m}."
        )
    return m


def _prepared(kernel: KernelSpec, x: jax.Array, name: str) -> tuple[_kernels.Kernel, bool]:
    """``(kernel, median)``: the kernel with every setting resolved but the batch median, and
    whether its bandwidth is ``factor ×`` the batch median (then its ``bandwidth`` holds the
    factor, a leaf, and the median is taken inside the compiled function)."""
    kernel = _kernels.get_kernel(kernel, f"kernel_{name}" if len(name) == 1 else "kernel_z")
    bandwidth = getattr(kernel, "bandwidth", None)
    if isinstance(bandwidth, str) and bandwidth == "median":
        factor = kernel.factor  # type: ignore[attr-defined]  # Gaussian and Laplace have one
        return dataclasses.replace(kernel, bandwidth=factor, factor=1.0), True
    return kernel.fit(x, name=name), False


def _gram(kernel: _kernels.Kernel, x: jax.Array, median: bool) -> jax.Array:
    """The Gram matrix of a batch, inside the compiled function."""
    if median:  # x is traced here: JAX's exact selection, wrapped in stop_gradient
        sigma = kernel.bandwidth * batch_median_distance(x)  # type: ignore[attr-defined]
        kernel = dataclasses.replace(kernel, bandwidth=sigma)
    return kernel.gram(x)


# The measures, as (prepare one Gram matrix, compare two prepared ones). ----------------------


def _prepare(K: jax.Array, measure: str, epsilon: float) -> jax.Array:
    """What ``_compare`` reads of a Gram matrix: centred (U-centred for the unbiased
    estimator), or NOCCO's projection ``R = K̄(K̄ + εmI)⁻¹``. Computed once per variable."""
    if measure == "nocco":
        return nocco_projection(K, epsilon=epsilon)
    return centre(K, unbiased=measure == "hsic_unbiased")


def _compare(A: jax.Array, B: jax.Array, measure: str) -> jax.Array:
    m = A.shape[0]
    if measure == "hsic":
        return jnp.sum(A * B) / float(m * m)
    if measure == "hsic_unbiased":
        return jnp.sum(A * B) / float(m * (m - 3))
    if measure == "nhsic":
        return cka(jnp.sum(A * B), jnp.sum(A * A), jnp.sum(B * B))
    return jnp.sum(A * B)  # nocco: tr(R_K R_L), both symmetric


@functools.partial(jax.jit, static_argnames=("medians", "measure", "epsilon"))
def _pair_loss(kernels, arrays, *, medians, measure, epsilon):
    A, B = (_prepare(_gram(k, a, med), measure, epsilon)
            for k, a, med in zip(kernels, arrays, medians, strict=True))
    return _compare(A, B, measure)


@functools.partial(jax.jit, static_argnames=("medians", "measure", "epsilon"))
def _layer_terms(kernels, arrays, *, medians, measure, epsilon):
    """``(terms_x, terms_y)``: the measure between each layer (``arrays[2:]``) and x, and y."""
    prepared = [_prepare(_gram(k, a, med), measure, epsilon)
                for k, a, med in zip(kernels, arrays, medians, strict=True)]
    X, Y, layers = prepared[0], prepared[1], prepared[2:]
    zx = jnp.stack([_compare(Z, X, measure) for Z in layers])
    zy = jnp.stack([_compare(Z, Y, measure) for Z in layers])
    return zx, zy


def _measure(x, y, kernel_x, kernel_y, measure: str, epsilon: float = EPSILON) -> jax.Array:
    kx = _kernels.get_kernel(kernel_x, "kernel_x")
    ky = _kernels.get_kernel(kernel_y, "kernel_y")
    xb, yb = _as_batch(x, "x", kx), _as_batch(y, "y", ky)
    _check_rows({"x": xb, "y": yb}, measure)
    (kx, mx), (ky, my) = _prepared(kx, xb, "x"), _prepared(ky, yb, "y")
    return _pair_loss((kx, ky), (xb, yb), medians=(mx, my), measure=measure, epsilon=epsilon)


# The public functions. -----------------------------------------------------------------------


def hsic(
    x: ArrayLike, y: ArrayLike, *, kernel_x: KernelSpec = "gaussian",
    kernel_y: KernelSpec = "gaussian",
) -> jax.Array:
    """Biased HSIC of a minibatch, ``HSIC_b = tr(K H L H) / m²``, as a differentiable loss.

    ``K`` and ``L`` are the Gram matrices of the m rows of x and y, ``H = I − 11ᵀ/m``: the
    statistic of [`hsic.hsic`][hsic.hsic] (Gretton et al. 2005), for one batch inside a
    training step. See the module notes for bandwidths, ``jit``, ``vmap`` and gradients.

    Args:
      x: a batch, ``(m,)`` or ``(m, ...)`` (flattened to ``(m, d)``); an ``(m, m)`` Gram
        matrix with ``kernel_x="precomputed"``.
      y: a batch of the same m rows.
      kernel_x: a kernel name or [`Kernel`][hsic.kernels.Kernel]; by default a Gaussian
        with the batch's median distance as bandwidth (no gradient through it).
      kernel_y: the same for y.

    Returns:
      A scalar array.

    Raises:
      ValueError: naming the argument, for a 0-D array, an empty batch, batches of
        different sizes, or a batch of fewer than 2 rows.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from hsic import losses
      >>> from hsic.kernels import Gaussian
      >>> x = jax.random.normal(jax.random.key(0), (64, 3))
      >>> bool(losses.hsic(x, x[:, :1] ** 2) > losses.hsic(x, jnp.cos(jnp.arange(64.0))))
      True
      >>> g = jax.grad(losses.hsic)(x, x ** 2)                       # median: no gradient
      >>> g5 = jax.grad(losses.hsic)(x, x ** 2, kernel_x=Gaussian("sqrt_dim", factor=5.0))
      >>> g.shape, bool(jnp.all(jnp.isfinite(g5)))
      ((64, 3), True)

    References:
      Gretton, Bousquet, Smola, Schölkopf (2005), "Measuring statistical dependence with
      Hilbert–Schmidt norms", ALT.
    """
    return _measure(x, y, kernel_x, kernel_y, "hsic")


def hsic_unbiased(
    x: ArrayLike, y: ArrayLike, *, kernel_x: KernelSpec = "gaussian",
    kernel_y: KernelSpec = "gaussian",
) -> jax.Array:
    """Unbiased HSIC of a minibatch (Song et al. 2012, eq. 5), as a differentiable loss.

    ``HSIC_u = [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((m−1)(m−2)) − 2/(m−2)·1ᵀK̃L̃1] / (m(m−3))``, with
    ``K̃, L̃`` the Gram matrices with zero diagonals; computed stably from U-centred matrices
    as [`hsic.hsic`][hsic.hsic] with ``estimator="unbiased"`` does. It can be negative, and
    needs m >= 4. Arguments as in [`hsic`][hsic.losses.hsic].

    Example:
      >>> import jax
      >>> from hsic import losses
      >>> x = jax.random.normal(jax.random.key(0), (64, 2))
      >>> float(losses.hsic_unbiased(x, x)) > 0
      True
      >>> losses.hsic_unbiased(x[:3], x[:3])
      Traceback (most recent call last):
      ...
      ValueError: `x` must have at least 4 samples (rows) for hsic_unbiased ...; got a batch of 3.

    References:
      Song, Smola, Gretton, Bedo, Borgwardt (2012), "Feature selection via dependence
      maximization", JMLR 13, eq. 5.
    """
    return _measure(x, y, kernel_x, kernel_y, "hsic_unbiased")


def nhsic(
    x: ArrayLike, y: ArrayLike, *, kernel_x: KernelSpec = "gaussian",
    kernel_y: KernelSpec = "gaussian",
) -> jax.Array:
    """Normalised HSIC (centred kernel alignment, CKA) of a minibatch, in [0, 1].

    ``nHSIC = HSIC_b(K, L) / √(HSIC_b(K, K) · HSIC_b(L, L))``, as [`hsic.nhsic`][hsic.nhsic];
    0 (with a zero gradient) when a batch is constant. Arguments as in
    [`hsic`][hsic.losses.hsic].

    Example:
      >>> import jax
      >>> from hsic import losses
      >>> x = jax.random.normal(jax.random.key(0), (64, 2))
      >>> round(float(losses.nhsic(x, 3.0 * x)), 5)
      1.0

    References:
      Cortes, Mohri, Rostamizadeh (2012), "Algorithms for learning kernels based on centered
      alignment", JMLR 13. Kornblith et al. (2019), "Similarity of neural network
      representations revisited", ICML.
    """
    return _measure(x, y, kernel_x, kernel_y, "nhsic")


def nocco(
    x: ArrayLike, y: ArrayLike, *, epsilon: float = EPSILON, kernel_x: KernelSpec = "gaussian",
    kernel_y: KernelSpec = "gaussian",
) -> jax.Array:
    """NOCCO of a minibatch, ``tr(R_K R_L)`` with ``R_K = K̄(K̄ + εmI)⁻¹``.

    ``K̄ = HKH`` is the centred Gram matrix (Fukumizu et al. 2008); the normalised HSIC of
    the HSIC-bottleneck code (ε = 1e-5), as [`hsic.nocco_from_gram`][hsic.nocco_from_gram].
    It lies in ``[0, m)``. The gradient of ``R`` is in closed form (matrix products only).
    Arguments as in [`hsic`][hsic.losses.hsic], and:

    Args:
      epsilon: the regulariser ε > 0 (multiplied by m). A different ε compiles again.

    Example:
      >>> import jax
      >>> from hsic import losses
      >>> x = jax.random.normal(jax.random.key(0), (64, 2))
      >>> bool(losses.nocco(x, x) > losses.nocco(x, jax.random.normal(jax.random.key(1), (64, 2))))
      True

    References:
      Fukumizu, Gretton, Sun, Schölkopf (2008), "Kernel measures of conditional dependence",
      NIPS. Ma, Lewis, Kleijn (2020), "The HSIC bottleneck: deep learning without
      back-propagation", AAAI.
    """
    epsilon = check_positive_float(epsilon, "epsilon")
    return _measure(x, y, kernel_x, kernel_y, "nocco", epsilon)


def _labels_as_one_hot(y: Any, num_classes: int | None) -> Any:
    """Integer labels ``(m,)`` as one-hot rows ``(m, C)``; anything else unchanged."""
    dtype = y.dtype if hasattr(y, "dtype") else np.asarray(y).dtype
    if np.ndim(y) != 1 or np.dtype(dtype).kind not in "iu":
        if num_classes is not None:
            raise ValueError(
                "`num_classes` applies to integer labels y of shape (m,); got y of shape "
                f"{tuple(np.shape(y))} and dtype {dtype}."
            )
        return y
    if num_classes is None:
        if is_traced(y):
            raise ValueError(
                "`num_classes` is needed for integer labels y inside jax.jit (the number of "
                "columns of their one-hot form must be known when compiling); got None."
            )
        num_classes = int(np.max(np.asarray(y))) + 1
    num_classes = check_number(num_classes, "num_classes", "an integer >= 2", integer=True, low=2)
    return jax.nn.one_hot(jnp.asarray(y), num_classes)


def hbar(
    x: ArrayLike,
    y: ArrayLike,
    layers: Sequence[ArrayLike],
    *,
    lambda_x: float = 1.0,
    lambda_y: float = 1.0,
    measure: Measure = "hsic",
    kernel_x: KernelSpec = "gaussian",
    kernel_y: KernelSpec = "gaussian",
    kernel_z: KernelSpec = "gaussian",
    epsilon: float = EPSILON,
    num_classes: int | None = None,
) -> jax.Array:
    """The HSIC-bottleneck regulariser (HBaR) of a list of hidden layers, ready to add to a loss.

    ``Σ_j [λ_x · HSIC(X, Z_j) − λ_y · HSIC(Y, Z_j)]`` over the layers ``Z_j`` (Wang et al.
    2021): minimising it removes from each layer the information about the input that the
    label does not need. Unlike the layer-wise trainer of the
    [HSIC-bottleneck guide](bottleneck.md), the gradient flows through the whole network:
    add it to the cross-entropy, ``loss = ce + hbar(x, y, [z1, z2], ...)``. X's and Y's Gram
    matrices (and their centred forms or NOCCO projections) are computed once per batch.

    Args:
      x: the batch's inputs, ``(m, ...)`` (flattened).
      y: its labels: integers ``(m,)`` (turned into one-hot rows) or an array ``(m, ...)``,
        e.g. one-hot rows already.
      layers: a list (or tuple) of the hidden layers' activations on the batch, each
        ``(m, ...)`` (flattened).
      lambda_x: λ_x, the weight of the input terms.
      lambda_y: λ_y, the weight of the label terms.
      measure: the dependence measure: ``"hsic"`` (biased, [`hsic`][hsic.losses.hsic]),
        ``"nhsic"`` (CKA), ``"nocco"`` (as the HBaR code's normalised HSIC) or
        ``"hsic_unbiased"``.
      kernel_x: kernel of x (default: Gaussian, batch median).
      kernel_y: kernel of y (default: Gaussian on the one-hot rows, batch median).
      kernel_z: kernel of every layer.
      epsilon: NOCCO's ε (``measure="nocco"`` only).
      num_classes: the number of classes of integer labels; by default ``max(y) + 1`` for
        concrete labels. Needed inside ``jax.jit``.

    Returns:
      A scalar array.

    Raises:
      ValueError: naming the argument, for an empty or non-list ``layers``, a layer or batch
        of the wrong rank or batch size, an unknown ``measure``, or bad numbers.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from hsic import losses
      >>> x = jax.random.normal(jax.random.key(0), (32, 5))
      >>> labels = jnp.arange(32) % 4
      >>> z1, z2 = jnp.tanh(x @ jnp.ones((5, 8))), x[:, :2]
      >>> reg = losses.hbar(x, labels, [z1, z2], lambda_x=1.0, lambda_y=5.0)
      >>> by_hand = sum(losses.hsic(x, z) - 5.0 * losses.hsic(jax.nn.one_hot(labels, 4), z)
      ...               for z in (z1, z2))
      >>> bool(jnp.isclose(reg, by_hand, rtol=1e-5))
      True

    References:
      Wang, Weng, Nagarajan, Su, Wang, Dy (2021), "Revisiting Hilbert–Schmidt information
      bottleneck for adversarial robustness", NeurIPS.
    """
    check_choice(measure, "measure", MEASURES)
    lambda_x = check_number(lambda_x, "lambda_x", "a finite number")
    lambda_y = check_number(lambda_y, "lambda_y", "a finite number")
    epsilon = check_positive_float(epsilon, "epsilon")
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or not layers:
        what = (
            f"an array of shape {tuple(np.shape(layers))} (write [z] for one layer)"
            if hasattr(layers, "shape") else repr(layers)
        )
        raise ValueError(
            f"`layers` must be a non-empty list of hidden-layer activations, each (m, ...); "
            f"got {what}."
        )
    specs = {"x": kernel_x, "y": kernel_y}
    kernels = {n: _kernels.get_kernel(k, f"kernel_{n}") for n, k in specs.items()}
    kz = _kernels.get_kernel(kernel_z, "kernel_z")
    arrays = {
        "x": _as_batch(x, "x", kernels["x"]),
        "y": _as_batch(_labels_as_one_hot(y, num_classes), "y", kernels["y"]),
    }
    for j, z in enumerate(layers):
        arrays[f"layers[{j}]"] = _as_batch(z, f"layers[{j}]", kz)
    _check_rows(arrays, measure)
    prepared = [
        _prepared(kernels.get(name, kz), a, name) for name, a in arrays.items()
    ]
    zx, zy = _layer_terms(
        tuple(k for k, _ in prepared), tuple(arrays.values()),
        medians=tuple(med for _, med in prepared), measure=measure, epsilon=epsilon,
    )
    return lambda_x * jnp.sum(zx) - lambda_y * jnp.sum(zy)
