"""Randomness: the one ``rng`` argument of the package, as a NumPy Generator or a JAX key.

Every random choice of ``hsic`` (permutations, features, landmarks, bootstrap multipliers,
critic initialisation, minibatch order) comes from one argument named ``rng``, as in scipy's
SPEC 7. It takes a non-negative int or a JAX key; equal values give equal results, and no
global state is read or written.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hsic._base.validation import is_number

__all__ = ["as_generator", "as_key"]


def _key_data(rng: Any) -> np.ndarray | None:
    """The raw ``uint32`` data of a concrete JAX key (new- or old-style), else ``None``."""
    if not isinstance(rng, jax.Array) or isinstance(rng, jax.core.Tracer):
        return None
    if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key) and rng.shape == ():
        return np.asarray(jax.random.key_data(rng))
    if rng.dtype == jnp.uint32 and rng.shape == (2,):
        return np.asarray(rng)
    return None


def _invalid(rng: Any, name: str) -> ValueError:
    return ValueError(
        f"`{name}` must be a non-negative integer or a JAX key (jax.random.key(...)); "
        f"got {rng!r}."
    )


def as_generator(rng: Any, name: str = "rng") -> np.random.Generator:
    """A NumPy Generator for ``rng``: a non-negative int, a JAX key, or a Generator (used as
    is, and advanced).

    A JAX key seeds NumPy's PCG64 with its key data, so equal keys give equal results.

    Example:
      >>> from hsic._base.rng import as_generator
      >>> int(as_generator(0).integers(100)) == int(as_generator(0).integers(100))
      True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if is_number(rng, integer=True):
        if rng < 0:
            raise _invalid(rng, name)
        return np.random.default_rng(int(rng))
    data = _key_data(rng)
    if data is None:
        raise _invalid(rng, name)
    return np.random.default_rng(data.tolist())


def as_key(rng: Any, name: str = "rng") -> jax.Array:
    """A JAX key for ``rng``: a non-negative int (``jax.random.key(rng)``) or a JAX key.

    Example:
      >>> import jax
      >>> from hsic._base.rng import as_key
      >>> bool((jax.random.key_data(as_key(3)) == jax.random.key_data(jax.random.key(3))).all())
      True
    """
    if is_number(rng, integer=True):
        if rng < 0:
            raise _invalid(rng, name)
        return jax.random.key(int(rng))
    data = _key_data(rng)
    if data is None:
        raise _invalid(rng, name)
    if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key):
        return rng
    # jax converts the NumPy key data; its stub asks for a jax.Array
    return jax.random.wrap_key_data(data)  # type: ignore[arg-type]
