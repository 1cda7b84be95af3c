"""Kernel objects: Gaussian, Laplace, linear, polynomial, delta and precomputed.

A kernel is a small frozen dataclass. ``kernel.fit(x)`` resolves data-dependent settings (the
median heuristic) and returns a kernel whose parameters are plain numbers; ``kernel.gram(x, z)``
evaluates the Gram matrix ``k(x_i, z_j)``. Fitted kernels are JAX pytrees whose numeric
parameters are leaves, so passing a new bandwidth to a jitted function does not recompile it.
The public module [`hsic.kernels`][hsic.kernels] re-exports them.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any, ClassVar, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from hsic._base.validation import is_number, is_traced
from hsic._stats.distances import median_distance, pair_sq_dists, safe_sqrt, unit_scale

__all__ = [
    "BANDWIDTH_RULES",
    "KERNEL_NAMES",
    "Delta",
    "Gaussian",
    "Kernel",
    "Laplace",
    "Linear",
    "Polynomial",
    "Precomputed",
    "as_python_floats",
    "get_kernel",
    "kernel_params",
]

def _register(numeric: tuple[str, ...], static: tuple[str, ...] = ()):
    """Register a frozen dataclass as a pytree: ``numeric`` fields are leaves."""

    def wrap(cls):
        def flatten(obj):
            return tuple(getattr(obj, f) for f in numeric), tuple(getattr(obj, f) for f in static)

        def unflatten(aux, children):
            obj = object.__new__(cls)
            for f, v in zip(numeric + static, tuple(children) + tuple(aux), strict=True):
                object.__setattr__(obj, f, v)
            return obj

        jax.tree_util.register_pytree_node(cls, flatten, unflatten)
        return cls

    return wrap


#: The bandwidth rules a distance kernel takes by name: the median heuristic, and ``√d`` (d the
#: variable's dimension; ``factor`` is then σ of the HSIC-bottleneck paper's width ``σ·√d``).
BANDWIDTH_RULES = ("median", "sqrt_dim")


def _check_bandwidth(bandwidth: Any, factor: Any, cls_name: str) -> None:
    if isinstance(bandwidth, str):
        if bandwidth not in BANDWIDTH_RULES:
            raise ValueError(
                f"`bandwidth` of {cls_name} must be 'median', 'sqrt_dim' or a positive number; "
                f"got {bandwidth!r}."
            )
    elif is_number(bandwidth):
        if not (math.isfinite(bandwidth) and bandwidth > 0):
            raise ValueError(
                f"`bandwidth` of {cls_name} must be a positive finite number; got {bandwidth!r}."
            )
    elif bandwidth is None or isinstance(bandwidth, bool):  # arrays and tracers pass (fit)
        raise ValueError(
            f"`bandwidth` of {cls_name} must be 'median', 'sqrt_dim' or a positive number; "
            f"got {bandwidth!r}."
        )
    if not (is_number(factor) and factor > 0):
        raise ValueError(f"`factor` of {cls_name} must be a positive number; got {factor!r}.")


class Kernel:
    """Base class of kernels. Subclasses are frozen dataclasses."""

    name: ClassVar[str]
    # Every subclass is a dataclass: this tells type checkers so (dataclasses.fields, replace).
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    #: Whether ``gram(x, z)`` may be called with ``z`` not ``x`` (needed by the tiled path).
    supports_cross: ClassVar[bool] = True

    def fit(self, x: ArrayLike, *, name: str = "x") -> Kernel:
        """Return a copy with data-dependent parameters resolved from ``x``."""
        del x, name
        return self

    def gram(
        self, x: ArrayLike, z: ArrayLike | None = None, *, shift: ArrayLike | None = None
    ) -> jax.Array:
        """Gram matrix ``k(x_i, z_j)``; ``z=None`` means ``z = x``.

        Args:
          x: ``(n, d)`` samples.
          z: ``(m, d)`` samples, or ``None`` for ``x`` itself (then the matrix is exactly
            symmetric).
          shift: a point subtracted from both sides before distances are expanded (for
            accuracy); by default the mean of ``z``. Only distance-based kernels use it.
        """
        raise NotImplementedError


def _scaled(x, z, shift, bandwidth, factor) -> tuple:
    """``(x, z, shift, σ)``, all multiplied by the power of two that brings ``σ`` (the
    bandwidth times its factor) into ``[1, 2)`` (``unit_scale``).

    Distance kernels depend on the data only through ``‖a − b‖/σ``, so they are computed on
    these scaled values: bit for bit the same Gram matrix wherever the unscaled computation
    stays within the dtype's range, and the same matrix whatever the data's units (data and
    bandwidth × 10³⁰ in float32 would overflow the squared distances, × 10⁻²⁰ underflow σ²).
    """
    x = jnp.atleast_2d(jnp.asarray(x).T).T
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.zeros(()).dtype)
    sigma = jnp.asarray(bandwidth, dtype=x.dtype) * factor
    scale = unit_scale(sigma)
    z = None if z is None else jnp.atleast_2d(jnp.asarray(z).T).T * scale
    shift = None if shift is None else jnp.asarray(shift, dtype=x.dtype) * scale
    return x * scale, z, shift, sigma * scale


class _BandwidthKernel(Kernel):
    bandwidth: float | str
    factor: float

    def __post_init__(self):
        _check_bandwidth(self.bandwidth, self.factor, type(self).__name__)

    def fit(self, x: ArrayLike, *, name: str = "x") -> Kernel:
        """Resolve the bandwidth: ``factor × median distance``, ``factor × √d`` (d the number
        of values per sample of ``x``) or ``factor × bandwidth``."""
        if isinstance(self.bandwidth, str) and self.bandwidth == "median":
            base = median_distance(x, name=name)
        elif isinstance(self.bandwidth, str):  # "sqrt_dim"
            base = math.sqrt(math.prod(np.shape(x)[1:]))
        else:
            base = cast(float, self.bandwidth)
        sigma = self.factor * base
        return dataclasses.replace(self, bandwidth=sigma, factor=1.0)


@_register(numeric=("bandwidth",), static=("factor",))
@dataclasses.dataclass(frozen=True)
class Gaussian(_BandwidthKernel):
    """Gaussian (RBF) kernel, ``k(a, b) = exp(-‖a − b‖² / (2σ²))``.

    Args:
      bandwidth: σ, a positive number; ``"median"`` for the median heuristic on the
        variable's own samples (see [`median_distance`][hsic.kernels.median_distance]); or
        ``"sqrt_dim"`` for ``√d``, d the variable's dimension (with ``factor=5.0``, the width
        ``5·√d`` of the HSIC-bottleneck paper).
      factor: multiplies the bandwidth, e.g. ``Gaussian("median", factor=0.5)``.

    Example:
      >>> from hsic.kernels import Gaussian
      >>> Gaussian(bandwidth=1.0).gram([[0.0], [1.0]])
      Array([[1.        , 0.60653067],
             [0.60653067, 1.        ]], dtype=float32)
    """

    name: ClassVar[str] = "gaussian"
    bandwidth: float | str = "median"
    factor: float = 1.0

    def gram(self, x, z=None, *, shift: ArrayLike | None = None):
        x, z, shift, sigma = _scaled(x, z, shift, self.bandwidth, self.factor)
        return jnp.exp(-pair_sq_dists(x, z, shift) / (2.0 * sigma * sigma))


@_register(numeric=("bandwidth",), static=("factor",))
@dataclasses.dataclass(frozen=True)
class Laplace(_BandwidthKernel):
    """Laplace kernel, ``k(a, b) = exp(-‖a − b‖ / σ)``, with the same bandwidth rules as
    [`Gaussian`][hsic.kernels.Gaussian].

    Example:
      >>> from hsic.kernels import Laplace
      >>> Laplace(bandwidth=1.0).gram([[0.0], [1.0]])
      Array([[1.        , 0.36787945],
             [0.36787945, 1.        ]], dtype=float32)
    """

    name: ClassVar[str] = "laplace"
    bandwidth: float | str = "median"
    factor: float = 1.0

    def gram(self, x, z=None, *, shift: ArrayLike | None = None):
        x, z, shift, sigma = _scaled(x, z, shift, self.bandwidth, self.factor)
        return jnp.exp(-safe_sqrt(pair_sq_dists(x, z, shift)) / sigma)


@_register(numeric=())
@dataclasses.dataclass(frozen=True)
class Linear(Kernel):
    """Linear kernel, ``k(a, b) = a·b``. With it, biased HSIC is ‖Cov(x, y)‖²_F (n-normalised).

    Example:
      >>> from hsic.kernels import Linear
      >>> Linear().gram([[1.0], [2.0]])
      Array([[1., 2.],
             [2., 4.]], dtype=float32)
    """

    name: ClassVar[str] = "linear"

    def gram(self, x, z=None, *, shift: ArrayLike | None = None):
        x = jnp.atleast_2d(jnp.asarray(x).T).T
        z = x if z is None else jnp.atleast_2d(jnp.asarray(z).T).T
        return x @ z.T


@_register(numeric=("scale", "offset"), static=("degree",))
@dataclasses.dataclass(frozen=True)
class Polynomial(Kernel):
    """Polynomial kernel, ``k(a, b) = (scale · a·b + offset)^degree``.

    Args:
      degree: a positive integer.
      scale: multiplies the inner product.
      offset: added before taking the power; must be >= 0.

    Example:
      >>> from hsic.kernels import Polynomial
      >>> Polynomial(degree=2).gram([[1.0], [2.0]])
      Array([[ 4.,  9.],
             [ 9., 25.]], dtype=float32)
    """

    name: ClassVar[str] = "polynomial"
    degree: int = 2
    scale: float = 1.0
    offset: float = 1.0

    def __post_init__(self):
        if isinstance(self.degree, bool) or not isinstance(self.degree, int) or self.degree < 1:
            raise ValueError(f"`degree` must be a positive integer; got {self.degree!r}.")
        if isinstance(self.offset, (int, float)) and self.offset < 0:
            raise ValueError(f"`offset` must be >= 0; got {self.offset!r}.")

    def gram(self, x, z=None, *, shift: ArrayLike | None = None):
        x = jnp.atleast_2d(jnp.asarray(x).T).T
        z = x if z is None else jnp.atleast_2d(jnp.asarray(z).T).T
        return (self.scale * (x @ z.T) + self.offset) ** self.degree


@_register(numeric=())
@dataclasses.dataclass(frozen=True)
class Delta(Kernel):
    """Delta kernel for categorical data, ``k(a, b) = 1 if a == b else 0`` (all columns equal).

    Use it for class labels encoded as integers. Fitting it to data in which most samples have
    a value that no other sample has (continuous data, most likely) warns: such samples carry
    no information about dependence through this kernel, and with every value distinct the
    Gram matrix is the identity and a test's p-value is 1.

    Example:
      >>> from hsic.kernels import Delta
      >>> Delta().gram([0, 1, 0])
      Array([[1., 0., 1.],
             [0., 1., 0.],
             [1., 0., 1.]], dtype=float32)
    """

    name: ClassVar[str] = "delta"

    def fit(self, x: ArrayLike, *, name: str = "x") -> Kernel:
        """Warn if more than half of the samples of ``x`` (concrete) have a value of their own."""
        if not is_traced(x):
            _warn_if_mostly_distinct(np.asarray(x), name)
        return self

    def gram(self, x, z=None, *, shift: ArrayLike | None = None):
        x = jnp.asarray(x)
        x = x[:, None] if x.ndim == 1 else x
        dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.zeros(()).dtype
        z = x if z is None else jnp.asarray(z).reshape(-1, x.shape[1])
        return jnp.all(x[:, None, :] == z[None, :, :], axis=-1).astype(dtype)


@_register(numeric=())
@dataclasses.dataclass(frozen=True)
class Precomputed(Kernel):
    """A Gram matrix computed by the user: the data argument *is* the ``(n, n)`` matrix.

    It must be symmetric; the tests also assume it is positive semi-definite.

    Example:
      >>> import numpy as np
      >>> from hsic.kernels import Precomputed
      >>> Precomputed().gram(np.eye(2))
      Array([[1., 0.],
             [0., 1.]], dtype=float32)
    """

    name: ClassVar[str] = "precomputed"
    supports_cross: ClassVar[bool] = False

    def gram(self, x, z=None, *, shift: ArrayLike | None = None):
        if z is not None:
            raise ValueError("A 'precomputed' kernel has no cross Gram matrix.")
        x = jnp.asarray(x)
        return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.zeros(()).dtype)


def _warn_if_mostly_distinct(x: np.ndarray, name: str) -> None:
    """The delta kernel's check: a ``RuntimeWarning`` if more than half of the samples (rows)
    of ``x`` have a value that no other sample has."""
    rows = x.reshape(len(x), -1)
    n = len(rows)
    counts = np.unique(rows, axis=0, return_counts=True)[1]
    alone = int(np.count_nonzero(counts == 1))
    if 2 * alone <= n:
        return
    integers = bool(np.all(np.mod(rows, 1) == 0)) if rows.dtype.kind == "f" else True
    guess = "" if integers else " (continuous data?)"
    warnings.warn(
        f"kernel 'delta' on `{name}`: {alone} of its {n} samples have a value that no other "
        f"sample has{guess}. The delta kernel only compares values for equality, so these "
        "samples carry no information about dependence and the test has little or no power "
        "(with every value distinct, its p-value is 1). Use kernel 'gaussian' for continuous "
        "data; for categories, pass integer codes with several samples each.",
        RuntimeWarning,
        stacklevel=5,
    )


KERNEL_NAMES: dict[str, type[Kernel]] = {
    cls.name: cls for cls in (Gaussian, Laplace, Linear, Polynomial, Delta, Precomputed)
}
"""The kernels that can be named by string."""


def kernel_params(kernel: Kernel) -> dict[str, Any]:
    """The kernel's name and parameters as plain Python values (for results and JSON)."""
    fields = {f.name: getattr(kernel, f.name) for f in dataclasses.fields(kernel)}
    return {"name": kernel.name, **{k: v if k == "degree" else float(v) for k, v in fields.items()}}


def as_python_floats(kernel: Kernel) -> Kernel:
    """The kernel with its numeric parameters as Python floats (for a readable result)."""
    changes = {
        f.name: float(getattr(kernel, f.name))
        for f in dataclasses.fields(kernel)
        if f.name in ("bandwidth", "scale", "offset")
    }
    return dataclasses.replace(kernel, **changes) if changes else kernel


def get_kernel(spec: str | Kernel, name: str = "kernel") -> Kernel:
    """Turn a kernel name or object into a kernel object.

    Args:
      spec: one of [`KERNEL_NAMES`][hsic.kernels.KERNEL_NAMES] (case-insensitive), or a
        [`Kernel`][hsic.kernels.Kernel].
      name: the argument's name, for error messages.

    Example:
      >>> from hsic.kernels import get_kernel
      >>> get_kernel("gaussian")
      Gaussian(bandwidth='median', factor=1.0)
    """
    if isinstance(spec, Kernel):
        return spec
    if isinstance(spec, str) and spec.lower() in KERNEL_NAMES:
        return KERNEL_NAMES[spec.lower()]()
    allowed = ", ".join(repr(k) for k in KERNEL_NAMES)
    raise ValueError(f"`{name}` must be one of {allowed} or an hsic.kernels.Kernel; got {spec!r}.")
