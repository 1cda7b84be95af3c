"""Randomness: the one ``rng`` argument of the package, as a seed, a NumPy Generator or a JAX key.

Every random choice of ``hsic`` (permutations, features, landmarks, bootstrap multipliers,
critic initialisation, minibatch order) comes from one argument named ``rng``, as in scipy's
SPEC 7. It takes

* ``None`` (the default): fresh entropy from the operating system. The public functions
  record the seed they drew (``res.info["rng"]``, a run's ``config.json``), and passing it
  back as ``rng`` repeats the run exactly;
* a non-negative int below 2**64, the seed ``s``: NumPy streams are
  ``np.random.default_rng(s)``, the JAX key is the threefry key of ``s``
  (``jax.random.key(s)`` in JAX's x64 mode; the same for ``s < 2**32`` in either mode);
* a JAX key (threefry, ``jax.random.key(...)`` or ``jax.random.PRNGKey(...)``): the seed
  ``s = (d₀ << 32) | d₁`` of its two data words, so that ``jax.random.key(s)`` and ``s``
  give the same result;
* a ``numpy.random.Generator``: one seed is drawn from it (which advances it), and used as
  above; low-level helpers that take a Generator use it as is.

No global state is read or written.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hsic._base.validation import is_number

__all__ = ["RNGLike", "as_generator", "as_key", "fresh_seed", "seed_of"]

#: What an ``rng`` argument takes.
RNGLike = int | np.integer | np.random.Generator | jax.Array | None

#: Seeds are integers in ``[0, SEED_LIMIT)``: the 64 bits of a threefry key.
SEED_LIMIT = 2**64
_WORD = 2**32


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
        f"`{name}` must be a non-negative integer (below 2**64), a JAX key "
        f"(jax.random.key(...)), a numpy.random.Generator or None (fresh entropy); "
        f"got {rng!r}."
    )


def fresh_seed() -> int:
    """A seed drawn from fresh operating-system entropy (``np.random.SeedSequence``)."""
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0])


def seed_of(rng: Any, name: str = "rng") -> int:
    """The integer seed of ``rng`` (see the module notes): what a result records so that
    passing it back as ``rng`` repeats the run.

    ``None`` draws a fresh seed; an int is itself; a threefry JAX key is
    ``(d₀ << 32) | d₁``; a Generator gives a seed drawn from it.

    Example:
      >>> import jax
      >>> from hsic._base.rng import seed_of
      >>> seed_of(7), seed_of(jax.random.key(7))
      (7, 7)
      >>> seed_of(None) == seed_of(None)      # fresh entropy each time
      False
    """
    if rng is None:
        return fresh_seed()
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, SEED_LIMIT, dtype=np.uint64))
    if is_number(rng, integer=True):
        if not 0 <= rng < SEED_LIMIT:
            raise _invalid(rng, name)
        return int(rng)
    data = _key_data(rng)
    if data is None:
        raise _invalid(rng, name)
    words = [int(w) for w in data.reshape(-1)]
    if len(words) == 2:
        return (words[0] << 32) | words[1]
    # another PRNG implementation (e.g. rbg): its key data, hashed to one seed
    return int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0])


def as_generator(rng: Any, name: str = "rng") -> np.random.Generator:
    """A NumPy Generator for ``rng``: ``np.random.default_rng(seed_of(rng))``, or a Generator
    itself (used as is, and advanced).

    Example:
      >>> import jax
      >>> from hsic._base.rng import as_generator
      >>> int(as_generator(0).integers(100)) == int(as_generator(jax.random.key(0)).integers(100))
      True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(seed_of(rng, name))


def as_key(rng: Any, name: str = "rng") -> jax.Array:
    """A JAX key for ``rng``: a JAX key itself, else the threefry key of ``seed_of(rng)``.

    For a seed below 2**32 this is ``jax.random.key(seed)``; for a larger one, the key that
    ``jax.random.key(seed)`` gives in JAX's x64 mode (without x64, ``jax.random.key`` keeps
    only the low 32 bits).

    Example:
      >>> import jax
      >>> from hsic._base.rng import as_key
      >>> bool((jax.random.key_data(as_key(3)) == jax.random.key_data(jax.random.key(3))).all())
      True
    """
    data = _key_data(rng)
    if data is not None:
        if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key):
            return rng
        # jax converts the NumPy key data; its stub asks for a jax.Array
        return jax.random.wrap_key_data(data)  # type: ignore[arg-type]
    seed = seed_of(rng, name)
    if getattr(jax.config, "jax_default_prng_impl", "threefry2x32") != "threefry2x32":
        return jax.random.key(seed % _WORD)
    words = np.array([seed >> 32, seed % _WORD], dtype=np.uint32)
    return jax.random.wrap_key_data(words)  # type: ignore[arg-type]
