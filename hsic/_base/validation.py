"""Argument checks: user data into ``(n, d)`` float arrays, numbers, choices, memory, dtype.

Every argument check of the package lives here, so that each rule (what counts as a number,
how an error names the argument) is written once. Everything runs in plain Python before any
jitted code. Concrete inputs (lists, NumPy,
pandas, JAX arrays) are fully checked: shape, dtype, finiteness. Traced inputs (inside a user's
``jax.jit``, ``jax.grad`` or ``jax.vmap``) can only be checked for shape; their values are not
available until run time.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Sequence
from typing import Any, TypeGuard

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

__all__ = [
    "as_numpy_samples",
    "check_non_negative_int",
    "check_number",
    "check_positive_float",
    "check_probability",
    "is_number",
    "precision",
    "as_samples",
    "check_choice",
    "check_positive_int",
    "check_same_n",
    "check_fits_in_memory",
    "check_options_apply",
    "float_dtype",
    "is_traced",
    "transposed_hint",
    "warn_if_beyond_permutations",
]

#: What the data arguments accept, for the messages.
ACCEPTED_DTYPES = "floats (float16, bfloat16, float32 or float64), integers or bools"


def is_traced(x: Any) -> TypeGuard[jax.core.Tracer]:
    """Whether ``x`` is a JAX tracer, whose values are unknown until run time."""
    return isinstance(x, jax.core.Tracer)


def float_dtype(dtype: Any = None) -> np.dtype:
    """Resolve the requested floating dtype.

    ``None`` means float64 when JAX's x64 mode is enabled, float32 otherwise.
    """
    if dtype is None:  # no array made: this runs on every call
        return np.dtype(jax.dtypes.canonicalize_dtype(np.float64))
    try:
        resolved = np.dtype(dtype)
    except TypeError as err:
        raise ValueError(f"`dtype` must be float32 or float64; got {dtype!r}.") from err
    if resolved not in (np.float32, np.float64):
        raise ValueError(f"`dtype` must be float32 or float64; got {resolved}.")
    return resolved


def precision(dtype: np.dtype | type[np.generic]):
    """A context in which ``dtype`` is available (float64 needs JAX's x64 mode)."""
    # jax sets its config flags as attributes at run time, so its stubs do not list them
    if dtype == np.float64 and not jax.config.jax_enable_x64:  # type: ignore[attr-defined]
        return jax.enable_x64(True)
    return contextlib.nullcontext()


def as_samples(x: Any, name: str, *, dtype: DTypeLike, square: bool = False) -> jax.Array:
    """Coerce ``x`` to a ``(n, d)`` array of ``dtype`` with one row per sample.

    Args:
      x: a list, NumPy array, pandas object or JAX array. 1-D input becomes ``(n, 1)``.
        Integer and bool dtypes are converted.
      name: the argument's name, used in error messages.
      dtype: the floating dtype of the result.
      square: require an ``(n, n)`` matrix (a precomputed Gram matrix).

    Returns:
      A JAX array of shape ``(n, d)``.

    Raises:
      ValueError: if ``x`` is ragged, non-numeric, empty, not 1-D or 2-D, or holds NaN or inf.
    """
    return jnp.asarray(checked_samples(x, name, dtype=dtype, square=square))


def as_numpy_samples(x: Any, name: str, *, dtype: DTypeLike = np.float64) -> np.ndarray:
    """[`as_samples`][hsic._base.validation.as_samples] for code that works on the host: the same
    checks and errors, a NumPy ``(n, d)`` array of ``dtype``, and no transfer to a JAX device
    and back. ``x`` must be concrete (not traced)."""
    return checked_samples(x, name, dtype=dtype)


def checked_samples(x: Any, name: str, *, dtype: DTypeLike, square: bool = False) -> Any:
    """The checks of ``as_samples``, on the host: a NumPy ``(n, d)`` array of ``dtype``, or
    ``x`` itself (reshaped and cast, still traced) inside a user's ``jax.jit``."""
    arr: Any  # a tracer or a NumPy array
    columns = None
    if is_traced(x):
        arr = x
    else:
        columns = getattr(x, "columns", None)  # a pandas DataFrame (duck-typed)
        dtypes = getattr(x, "dtypes", None) if columns is not None else None
        if hasattr(x, "to_numpy"):  # pandas DataFrame or Series
            x = x.to_numpy()
        try:
            arr = np.asarray(x)
        except ValueError as err:  # ragged nested lists
            raise ValueError(
                f"`{name}` must be a rectangular array with one row per sample; "
                f"could not convert it: {err}"
            ) from err
        if arr.dtype.kind == "V" and jnp.issubdtype(arr.dtype, jnp.floating):
            arr = arr.astype(np.float32)  # bfloat16 or float8 (ml_dtypes): exact in float32
        if arr.dtype == object or arr.dtype.kind in "USMmV":
            raise ValueError(_not_numbers(name, arr.dtype, _non_numeric_column(columns, dtypes)))
        if arr.dtype.kind == "c":
            raise ValueError(f"`{name}` must be real-valued; got complex dtype {arr.dtype}.")
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"`{name}` must be 1-D (n,) or 2-D (n, d) with one row per sample; "
            f"got {arr.ndim}-D with shape {tuple(arr.shape)}."
        )
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"`{name}` is empty; got shape {tuple(arr.shape)}.")
    if square and arr.shape[0] != arr.shape[1]:
        raise ValueError(
            f"`{name}` must be a square (n, n) Gram matrix for kernel 'precomputed'; "
            f"got shape {tuple(arr.shape)}."
        )
    if not is_traced(arr):
        if arr.dtype.kind in "biu":
            arr = arr.astype(np.float64)
        finite = np.isfinite(arr)
        if not finite.all():
            bad = np.argwhere(~finite)[0]
            count = int((~finite).sum())
            raise ValueError(
                f"`{name}` must be finite; got {count} NaN or inf value(s), the first at "
                f"row {bad[0]}, {_column_label(columns, bad[1])}. Drop or impute them first."
            )
        if square and not np.allclose(arr, arr.T, rtol=1e-5, atol=1e-8):
            raise ValueError(f"`{name}` must be a symmetric Gram matrix for kernel 'precomputed'.")
        _check_range(arr, name, np.dtype(dtype), columns)
        return np.asarray(arr, dtype=dtype)
    return arr.astype(dtype)


def _non_numeric_column(columns: Any, dtypes: Any) -> str:
    """`` (column 'city' has dtype object)`` for a DataFrame's first non-numeric column."""
    if columns is None or dtypes is None:
        return ""
    for column, dtype in zip(columns, dtypes, strict=False):
        if getattr(dtype, "kind", "O") not in "biuf":
            return f" (column {column!r} has dtype {dtype})"
    return ""


def _not_numbers(name: str, dtype: np.dtype, where: str = "") -> str:
    """The message for data that do not hold numbers, with the advice that fits ``dtype``."""
    message = f"`{name}` must hold numbers: {ACCEPTED_DTYPES}; got dtype {dtype}{where}."
    if dtype.kind in "OUS":
        return (
            f"{message} For categories (strings), convert them to integer codes (e.g. with "
            "pandas.factorize) and use kernel 'delta'."
        )
    if dtype.kind in "Mm":
        return f"{message} Convert times to numbers first (e.g. seconds since the first)."
    return message


def _column_label(columns: Any, j: int) -> str:
    """``column 'name'`` for a DataFrame's column, else ``column j``."""
    if columns is not None and j < len(columns):
        return f"column {columns[j]!r}"
    return f"column {j}"


def _check_range(arr: np.ndarray, name: str, dtype: np.dtype, columns: Any = None) -> None:
    """Raise if converting the finite array ``arr`` to the float ``dtype`` would overflow to inf,
    or turn a whole column into zeros or subnormal numbers (values beyond float32's range in a
    float64 array)."""
    if arr.dtype.kind != "f" or arr.dtype.itemsize <= dtype.itemsize or arr.size == 0:
        return
    info = np.finfo(dtype)
    largest = np.max(np.abs(arr), axis=0)
    advice = (
        f"Pass dtype='float64', or rescale `{name}` (e.g. divide it by its standard deviation: "
        "the tests with Gaussian or Laplace kernels do not depend on the data's units)."
    )
    if largest.max() > info.max:
        j = int(np.argmax(largest))
        raise ValueError(
            f"`{name}` holds values up to {largest[j]:.3g} in magnitude "
            f"({_column_label(columns, j)}), beyond the range of {dtype} (largest finite value "
            f"{info.max:.3g}): they would overflow to inf. {advice}"
        )
    tiny = (largest > 0) & (largest < info.tiny)
    if tiny.any():
        j = int(np.argmax(tiny))
        raise ValueError(
            f"`{name}` holds values of at most {largest[j]:.3g} in magnitude "
            f"({_column_label(columns, j)}), below the range of {dtype} (smallest normal value "
            f"{info.tiny:.3g}): they would become 0 or lose their precision. {advice}"
        )


def transposed_hint(shapes: dict[str, tuple[int, ...]]) -> str:
    """A hint for a mismatched number of rows: which of the named ``(n, d)`` shapes look
    transposed (more columns than rows, and as many columns as another variable has rows, or
    every variable so), or ``""``.

    Example:
      >>> from hsic._base.validation import transposed_hint
      >>> print(transposed_hint({"x": (3, 100), "y": (100, 1)}).strip())  # doctest: +ELLIPSIS
      `x` has shape (3, 100): was it passed transposed? Samples are rows: ... e.g. `x.T`.
    """
    rows = {name: shape[0] for name, shape in shapes.items()}
    wide = {name for name, shape in shapes.items() if len(shape) == 2 and shape[1] > shape[0]}
    suspects = [
        name for name in shapes if name in wide
        and any(shapes[name][1] == rows[other] for other in shapes if other != name)
    ]
    if not suspects and len(wide) == len(shapes) and len({s[1] for s in shapes.values()}) == 1:
        suspects = list(shapes)  # all transposed: the same number of columns
    if not suspects:
        return ""
    listed = " and ".join(f"`{name}` has shape {tuple(shapes[name])}" for name in suspects)
    verb = "was it" if len(suspects) == 1 else "were they"
    return (
        f" {listed}: {verb} passed transposed? Samples are rows: pass an (n, d) array, e.g. "
        f"`{suspects[0]}.T`."
    )


def warn_if_beyond_permutations(
    n_resamples: int, n: int, *, variables: int = 1, name: str = "n_resamples",
    stacklevel: int = 3,
) -> None:
    """Warn if ``n_resamples`` exceeds the ``(n!)^variables`` distinct permutations of ``n``
    samples (``variables`` variables permuted independently): the draws then repeat, and the
    extra work buys no precision.

    Example:
      >>> import warnings
      >>> from hsic._base.validation import warn_if_beyond_permutations
      >>> with warnings.catch_warnings(record=True) as caught:
      ...     warnings.simplefilter("always")
      ...     warn_if_beyond_permutations(10**12, 10)
      >>> print(caught[0].message)  # doctest: +ELLIPSIS
      `n_resamples`=1000000000000 exceeds the 3628800 distinct permutations of n=10 samples...
    """
    count = 1
    for i in range(2, n + 1):
        count *= i
        if count**variables >= n_resamples:
            return
    total = count**variables
    what = "n!" if variables == 1 else f"(n!)^{variables}"
    warnings.warn(
        f"`{name}`={n_resamples} exceeds the {total} distinct permutations of n={n} samples "
        f"({what}): the permutations repeat, so the p-value gains no precision beyond what "
        f"{total} distinct ones give, and the run takes {n_resamples / total:.3g} times longer. "
        f"Use `{name}` <= {total}, or more samples.",
        UserWarning,
        stacklevel=stacklevel,
    )


def is_constant(x: jax.Array | np.ndarray) -> bool:
    """Whether every row of a concrete array is identical (False for traced arrays)."""
    if is_traced(x):
        return False
    a = np.asarray(x)
    return bool(np.all(a == a[:1]))


def check_same_n(
    x: jax.Array | np.ndarray, y: jax.Array | np.ndarray, *, min_n: int, reason: str
) -> int:
    """Check that ``x`` and ``y`` have the same number of rows, and at least ``min_n``."""
    n, m = x.shape[0], y.shape[0]
    if n != m:
        hint = transposed_hint({"x": tuple(x.shape), "y": tuple(y.shape)})
        raise ValueError(
            f"`x` and `y` must have the same number of samples (rows); got {n} and {m}.{hint}"
        )
    if n < min_n:
        raise ValueError(f"{reason} needs at least {min_n} samples; got n={n}.")
    return n


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """Check that ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"`{name}` must be one of {allowed}; got {value!r}.")
    return value


def is_number(value: Any, *, integer: bool = False) -> bool:
    """Whether ``value`` is a real number (Python or NumPy scalar), never a bool.

    With ``integer=True``, only integers count.
    """
    if isinstance(value, (bool, np.bool_)):
        return False
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    return isinstance(value, kinds)


def check_number(
    value: Any,
    name: str,
    requirement: str,
    *,
    integer: bool = False,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> Any:
    """Check that ``value`` is a finite number (an integer with ``integer=True``) within
    ``[low, high]`` (ends excluded with ``low_open``/``high_open``).

    The one rule behind every numeric argument check: bools are not numbers, NaN and inf are
    rejected. The error reads "`name` must be {requirement}; got {value!r}."

    Returns:
      ``value`` as a Python ``int`` or ``float``.

    Example:
      >>> from hsic._base.validation import check_number
      >>> check_number(0.5, "alpha", "a number in (0, 1)", low=0, high=1, low_open=True)
      0.5
      >>> check_number(True, "bins", "an integer >= 2", integer=True, low=2)
      Traceback (most recent call last):
      ...
      ValueError: `bins` must be an integer >= 2; got True.
    """
    ok = is_number(value, integer=integer) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise ValueError(f"`{name}` must be {requirement}; got {value!r}.")
    return int(value) if integer else float(value)


def check_positive_int(value: Any, name: str) -> int:
    """Check that ``value`` is an integer >= 1 (bools are rejected)."""
    return check_number(value, name, "a positive integer", integer=True, low=1)


def check_non_negative_int(value: Any, name: str) -> int:
    """Check that ``value`` is an integer >= 0 (bools are rejected)."""
    return check_number(value, name, "a non-negative integer", integer=True, low=0)


def check_positive_float(value: Any, name: str) -> float:
    """Check that ``value`` is a finite number > 0 (bools are rejected)."""
    return check_number(value, name, "a positive finite number", low=0, low_open=True)


def check_probability(value: Any, name: str) -> float:
    """Check that ``value`` is a number strictly between 0 and 1."""
    return check_number(
        value, name, "a number strictly between 0 and 1", low=0, high=1, low_open=True,
        high_open=True,
    )


def available_memory_bytes() -> int:
    """Physical memory currently available to this process, in bytes (best effort)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**63 - 1


def check_fits_in_memory(n: int, n_matrices: int, dtype: DTypeLike, *, what: str, instead: str):
    """Raise if ``n_matrices`` dense ``(n, n)`` arrays would not fit in available memory.

    ``instead`` says what to do instead; it ends the error message.
    """
    need = n_matrices * n * n * np.dtype(dtype).itemsize
    have = available_memory_bytes()
    if need > 0.8 * have:
        raise ValueError(
            f"{what} with n={n} needs about {need / 2**30:.1f} GiB for n x n Gram matrices, "
            f"but only {have / 2**30:.1f} GiB of memory is available. {instead}"
        )


def check_options_apply(argument: str, choice: str, takes: dict, **options) -> None:
    """Raise if an option is given (not ``None``) with a ``choice`` of ``argument`` that does
    not take it: a method-specific option is never silently ignored.

    ``takes`` maps each option's name to the choices that take it.

    Example:
      >>> from hsic._base.validation import check_options_apply
      >>> check_options_apply("method", "gamma", {"null": ("rff",)}, null="spectral")
      Traceback (most recent call last):
      ...
      ValueError: `null` applies only to method='rff'; got null='spectral' with method='gamma'.
    """
    for name, value in options.items():
        if value is not None and choice not in takes[name]:
            allowed = " or ".join(repr(c) for c in takes[name])
            raise ValueError(
                f"`{name}` applies only to {argument}={allowed}; got {name}={value!r} with "
                f"{argument}={choice!r}."
            )
