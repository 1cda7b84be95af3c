"""The front door of every API call on a pair: checked host arrays, fitted kernels, one
transfer.

``prepare_pair`` checks ``x`` and ``y`` on the host (shape, dtype, finiteness, matching n,
constant variables), fits their kernels there (the median heuristic runs in NumPy on concrete
data), and only then sends each array to the device, once. Inside a user's ``jax.jit`` the same
steps run on the traced arrays, and only the shapes can be checked.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import numpy as np

from hsic._base.validation import check_same_n, checked_samples, is_constant, is_traced
from hsic._stats import kernels as _kernels

__all__ = ["check_not_constant", "prepare_pair"]


def check_not_constant(
    arr: Any,
    name: str,
    *,
    constant: str,
    hypothesis: str = "independence",
    zero: str = "its HSIC with any variable is 0",
    stacklevel: int = 3,
) -> None:
    """Raise (``constant="raise"``: ``hypothesis`` cannot be tested) or warn
    (``constant="warn"``: the statistic is 0, as ``zero`` says) if every row of the concrete
    array ``arr`` is identical. The one wording of this rule for every test."""
    if not is_constant(arr):
        return
    what = f"`{name}` is constant (every row is identical)"
    if constant == "raise":
        raise ValueError(
            f"{what}: it carries no information, so {hypothesis} cannot be tested. Remove it, "
            "or check how it was loaded."
        )
    warnings.warn(f"{what}, so {zero}.", RuntimeWarning, stacklevel=stacklevel + 1)


def prepare_pair(
    x: Any,
    y: Any,
    kernel_x: Any,
    kernel_y: Any,
    *,
    dtype: np.dtype,
    min_n: int,
    reason: str,
    constant: str = "warn",
) -> tuple[jax.Array, jax.Array, _kernels.Kernel, _kernels.Kernel]:
    """Validate ``x`` and ``y`` and fit their kernels: steps 1 and 2 of every API call.

    Args:
      x, y: the user's samples (lists, NumPy, pandas or JAX arrays; traced arrays too).
      kernel_x, kernel_y: kernel names or objects.
      dtype: the floating dtype of the computation. Must be called inside
        ``hsic._base.validation.precision(dtype)``.
      min_n: the fewest samples the caller accepts; ``reason`` names the caller in the error.
      constant: ``"warn"`` or ``"raise"`` on a constant variable.

    Returns:
      ``(x, y, kx, ky)``: ``(n, d)`` device arrays and the fitted kernels.

    Example:
      >>> import numpy as np
      >>> from hsic._stats.inputs import prepare_pair
      >>> x, y, kx, ky = prepare_pair(np.arange(4.0), [1, 0, 1, 0], "gaussian", "linear",
      ...                             dtype=np.float32, min_n=2, reason="An example")
      >>> x.shape, kx.bandwidth, type(ky).__name__
      ((4, 1), 1.5, 'Linear')
    """
    kx = _kernels.get_kernel(kernel_x, "kernel_x")
    ky = _kernels.get_kernel(kernel_y, "kernel_y")
    x = checked_samples(x, "x", dtype=dtype, square=isinstance(kx, _kernels.Precomputed))
    y = checked_samples(y, "y", dtype=dtype, square=isinstance(ky, _kernels.Precomputed))
    check_same_n(x, y, min_n=min_n, reason=reason)
    check_not_constant(x, "x", constant=constant)
    check_not_constant(y, "y", constant=constant)
    kx, ky = kx.fit(x, name="x"), ky.fit(y, name="y")
    return _to_device(x), _to_device(y), kx, ky


def _to_device(arr: Any) -> jax.Array:
    """Send a checked NumPy array to the device without compiling anything (``jnp.asarray``
    of a NumPy array compiles a copy for each new shape); a traced array stays as it is."""
    return arr if is_traced(arr) else jax.device_put(arr)
