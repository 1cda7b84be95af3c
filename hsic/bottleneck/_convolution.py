"""The resnet's convolutions: XLA's forward pass, and the weight gradient by the DFT.

A residual block's 5×5, C → C, stride-1 'same' convolution is most of an HSIC training step,
and the layer-wise step needs its gradient with respect to the weights only (each block's
input is ``stop_gradient``-ed). That gradient is the cross-correlation of the zero-padded
input x̃ (m × (H + 2p) × (W + 2p) × C_in, p = k // 2) with the output's cotangent g:

.. math::

    \\frac{\\partial L}{\\partial W}[a, b, i, o]
      = \\sum_{n, h, w} \\tilde x[n, h + a, w + b, i]\\, g[n, h, w, o],
      \\qquad 0 \\le a, b < k.

Over the period P = (H + 2p, W + 2p) no index h + a wraps around, so the circular
cross-correlation theorem gives it exactly:

.. math::

    \\frac{\\partial L}{\\partial W}[a, b]
      = \\mathrm{IDFT}_P\\Big(\\sum_n \\overline{\\mathrm{DFT}_P(g_n)}
        \\otimes \\mathrm{DFT}_P(\\tilde x_n)\\Big)[a, b],

one complex (C_in × m)·(m × C_out) product per frequency: about 7× fewer flops than the direct
sum at 14 × 14, k = 5. ``benchmarks/bench_conv_wgrad_fft.py`` measures it (paired, against
XLA's gradient) and checks it against a float64 reference; the input gradient stays XLA's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["conv2d", "weight_grad_dft"]


def _lax_conv(h: jax.Array, w: jax.Array, stride: int, pad: int) -> jax.Array:
    return jax.lax.conv_general_dilated(
        h, w, (stride, stride), [(pad, pad), (pad, pad)],
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )


def weight_grad_dft(h: jax.Array, g: jax.Array, size: int) -> jax.Array:
    """The weight gradient of a stride-1 'same' ``size × size`` convolution, by the DFT.

    Args:
      h: the convolution's input, ``(m, H, W, C_in)``.
      g: the cotangent of its output, ``(m, H, W, C_out)``.
      size: the odd kernel size k.

    Returns:
      ``(k, k, C_in, C_out)`` (HWIO), the sum over the batch, in ``h``'s dtype.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from hsic.bottleneck._convolution import conv2d, weight_grad_dft
      >>> h = jax.random.normal(jax.random.key(0), (2, 6, 6, 3))
      >>> g = jax.random.normal(jax.random.key(1), (2, 6, 6, 4))
      >>> w = jnp.zeros((5, 5, 3, 4))
      >>> direct = jax.grad(lambda w_: jnp.sum(jax.lax.conv_general_dilated(
      ...     h, w_, (1, 1), [(2, 2), (2, 2)], dimension_numbers=("NHWC", "HWIO", "NHWC")) * g))(w)
      >>> bool(jnp.allclose(weight_grad_dft(h, g, 5), direct, atol=1e-4))
      True
    """
    pad = size // 2
    padded = jnp.pad(h, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    period = padded.shape[1:3]
    spectrum_h = jnp.fft.rfft2(padded, axes=(1, 2))
    spectrum_g = jnp.fft.rfft2(g, s=period, axes=(1, 2))
    cross = jnp.einsum("npqi,npqo->pqio", spectrum_h, jnp.conj(spectrum_g))
    correlation = jnp.fft.irfft2(cross, s=period, axes=(0, 1))
    return correlation[:size, :size].astype(h.dtype)


@jax.custom_vjp
def _same_conv(h: jax.Array, w: jax.Array) -> jax.Array:
    return _lax_conv(h, w, 1, w.shape[0] // 2)


def _same_conv_forward(h, w):
    return _lax_conv(h, w, 1, w.shape[0] // 2), (h, w)


def _same_conv_backward(residuals, g):
    h, w = residuals
    _, pullback = jax.vjp(lambda h_: _lax_conv(h_, w, 1, w.shape[0] // 2), h)
    (grad_h,) = pullback(g)  # XLA's; dead code (removed) when the input is stop_gradient-ed
    return grad_h, weight_grad_dft(h, g, w.shape[0])


_same_conv.defvjp(_same_conv_forward, _same_conv_backward)


def conv2d(w: jax.Array, b: jax.Array, h: jax.Array, *, stride: int,
           padded: bool = True) -> jax.Array:
    """A convolution plus bias, NHWC input, HWIO kernel: 'same'-padded (``k // 2`` on each
    side) or, with ``padded=False``, unpadded ('valid').

    The forward pass is XLA's ``conv_general_dilated`` (im2col, shifted GEMMs and the other
    layouts were no faster: benchmarks/README.md). For stride 1, 'same' padding and an odd
    square kernel, the weight gradient is :func:`weight_grad_dft`, the same quantity computed
    in fewer flops (within float32 rounding of XLA's: the benchmark compares both with float64).

    Example:
      >>> import jax.numpy as jnp
      >>> from hsic.bottleneck._convolution import conv2d
      >>> conv2d(jnp.ones((5, 5, 1, 2)), jnp.zeros(2), jnp.ones((1, 7, 7, 1)), stride=1).shape
      (1, 7, 7, 2)
    """
    size = w.shape[0]
    if stride == 1 and padded and size % 2 == 1 and w.shape[1] == size:
        return _same_conv(h, w) + b
    return _lax_conv(h, w, stride, size // 2 if padded else 0) + b
