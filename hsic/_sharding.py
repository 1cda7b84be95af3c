"""Multi-device execution through JAX's own sharding: a 1-D device mesh, the tiled statistic
with its tiles split over the devices, and the permutation engine with each batch of
permutations split over the devices.

Nothing here is a scheduler: the work is written once with ``jax.shard_map`` over a 1-D
``jax.sharding.Mesh``, and XLA runs it on every device of the mesh. The maths is that of
``hsic._estimators`` and ``hsic._nulls``, reused, not rewritten:

* **Tiled statistic** (O(n) memory per device). ``x`` and ``y`` are replicated; device ``d``
  runs pass 1 (row sums) on its own contiguous run of tiles, the row sums are all-gathered,
  then it runs pass 2 (centred products) on the same tiles, and the per-tile partial sums are
  all-gathered and added as in the single-device path. The tile count is padded up to a
  multiple of the device count; padding rows are masked and contribute nothing.
* **Permutation null.** ``K̄`` and ``L̄`` are replicated. The permutations are drawn on the host
  exactly as in ``permutation_null`` (same generator, same order), and each batch is split
  over the devices, so the null, and hence the p-value, does not depend on the device count.

Results come back replicated on every device, so the same code runs on one host or, after
``jax.distributed.initialize()``, on several (every process passing the same data and seed).
Inputs are placed with explicit ``jax.device_put`` calls, so the compiled loops run without
implicit host-device transfers (checked under ``jax.transfer_guard("disallow")``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jax.typing import ArrayLike

from hsic._base.devices import check_mesh
from hsic._estimators import CentredSums, _two_pass_sums
from hsic._nulls import _permuted_sums, pad_rows, run_permutation_batches

__all__ = [
    "sharded_centred_sums",
    "sharded_permutation_null",
]

# --------------------------------------------------------------------------------------------
# The tiled statistic
# --------------------------------------------------------------------------------------------


def sharded_centred_sums(
    kx, ky, x: ArrayLike, y: ArrayLike, *, unbiased: bool, rows: int, mesh: Mesh
) -> CentredSums:
    """The tiled ``CentredSums``, with the tiles split over the devices of ``mesh``.

    The same sums as ``hsic._estimators._tiled_sums`` (equal to float rounding): with
    ``K̄, L̄`` the double-centred (or, with ``unbiased=True``, U-centred) Gram matrices,
    ``kl = Σ K̄∘L̄``, ``kk = Σ K̄∘K̄``, ``ll = Σ L̄∘L̄``, ``kl_sq_off = Σ_{i≠j} (K̄_ij L̄_ij)²``,
    and the totals and traces of ``K`` and ``L``. Each device holds ``x``, ``y`` and the n row
    sums, and one ``rows × n`` Gram block at a time: O(n) memory per device. The
    ``ceil(n / rows)`` tiles are padded to a multiple of the device count, and split into
    contiguous runs, one per device.

    Args:
      kx: fitted kernel of x (one that supports cross Gram matrices: not ``Precomputed``).
      ky: fitted kernel of y.
      x: ``(n, d_x)`` samples.
      y: ``(n, d_y)`` samples.
      unbiased: U-centring (for the unbiased statistic) instead of double centring.
      rows: rows per tile (see ``hsic._estimators.tile_rows``).
      mesh: a 1-D device mesh, e.g. from ``make_mesh``.

    Returns:
      The sums, as scalars replicated on every device of ``mesh``.

    Example:
      >>> import jax.numpy as jnp
      >>> from hsic._estimators import _tiled_sums
      >>> from hsic._base.devices import make_mesh
      >>> from hsic._sharding import sharded_centred_sums
      >>> from hsic.kernels import Gaussian
      >>> x = jnp.linspace(0.0, 1.0, 50)[:, None]
      >>> k = Gaussian(0.5)
      >>> sums = sharded_centred_sums(k, k, x, x**2, unbiased=False, rows=16, mesh=make_mesh())
      >>> single = _tiled_sums(k, k, x, x**2, unbiased=False, rows=16)
      >>> bool(jnp.allclose(sums.kl, single.kl, rtol=1e-6))
      True
    """
    check_mesh(mesh)
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows < 1:
        raise ValueError(f"`rows` must be a positive integer; got {rows!r}.")
    for kernel, name in ((kx, "kx"), (ky, "ky")):
        if not kernel.supports_cross:
            raise ValueError(
                f"`{name}` ({type(kernel).__name__}) has no cross Gram matrix, so its tiles "
                "cannot be split over devices; compute it without a mesh."
            )
    # Explicit placement: every device gets x, y and the kernels' parameters.
    kx, ky, x, y = jax.device_put((kx, ky, x, y), NamedSharding(mesh, P()))
    return _sharded_sums(kx, ky, x, y, unbiased=unbiased, rows=int(rows), mesh=mesh)


@functools.partial(jax.jit, static_argnames=("unbiased", "rows", "mesh"))
def _sharded_sums(kx, ky, x, y, *, unbiased: bool, rows: int, mesh: Mesh) -> CentredSums:
    axis = mesh.axis_names[0]
    n = x.shape[0]
    per_device = -(-n // (rows * mesh.size))  # tiles per device
    pad = per_device * mesh.size * rows - n

    def gather(tree):  # concatenate the devices' per-tile values, in tile order
        return jax.lax.all_gather(tree, axis, tiled=True, to="invarying")

    def local(kx, ky, x, y):  # the two passes of _tiled_sums, on this device's tiles only
        tiles = jax.lax.axis_index(axis) * per_device + jnp.arange(per_device)
        return _two_pass_sums(
            kx, ky, x, y, tiles, unbiased=unbiased, rows=rows, pad=pad, gather=gather
        )

    replicated = (P(), P(), P(), P())
    return jax.shard_map(local, mesh=mesh, in_specs=replicated, out_specs=P())(kx, ky, x, y)


# --------------------------------------------------------------------------------------------
# The permutation null
# --------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("mesh",))
def _sharded_permuted_sums(Kp, Lc, perms, *, mesh: Mesh):
    """``_permuted_sums`` with the rows of ``perms`` split over ``mesh``."""
    axis = mesh.axis_names[0]

    def local(Kp, Lc, perms):
        sums = _permuted_sums(Kp, Lc, perms)
        return jax.lax.all_gather(sums, axis, tiled=True, to="invarying")

    specs = (P(), P(), P(axis))
    return jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=P())(Kp, Lc, perms)


def sharded_permutation_null(
    Kc: ArrayLike,
    Lc: ArrayLike,
    rng: np.random.Generator,
    n_permutations: int,
    *,
    batch_size: int = 250,
    mesh: Mesh,
    progress: bool = False,
) -> np.ndarray:
    """Biased HSIC of ``n_permutations`` random permutations, each batch split over ``mesh``.

    The same null as ``hsic._nulls.permutation_null`` for the same ``rng``:
    ``Σ_ij K̄_ij L̄_{p(i)p(j)} / n²`` for permutations ``p`` drawn one after another on the
    host, in the same order, whatever the device count. Each batch of ``batch_size``
    permutations is padded (with repeats of its last permutation, which are discarded) to a
    multiple of the device count and split evenly; ``K̄`` and ``L̄`` are replicated on every
    device. Every transfer is an explicit ``jax.device_put`` or ``jax.device_get``.

    Args:
      Kc: double-centred Gram matrix of x, ``(n, n)``.
      Lc: double-centred Gram matrix of y, ``(n, n)``.
      rng: the source of the permutations (see ``hsic._nulls.as_generator``).
      n_permutations: B.
      batch_size: permutations per device call, over all devices. The result does not
        depend on it.
      mesh: a 1-D device mesh, e.g. from ``make_mesh``.
      progress: show a tqdm progress bar on stderr.

    Returns:
      A NumPy array of B null statistics (``HSIC_b`` of the permuted data).

    Example:
      >>> import numpy as np
      >>> from hsic._nulls import centred_grams, permutation_null
      >>> from hsic._base.devices import make_mesh
      >>> from hsic._sharding import sharded_permutation_null
      >>> from hsic.kernels import Gaussian
      >>> x = np.linspace(0.0, 1.0, 30, dtype=np.float32)[:, None]
      >>> K, L, _ = centred_grams(Gaussian(0.5), Gaussian(0.5), x, x**2)   # K̄ = HKH, L̄ = HLH
      >>> null = sharded_permutation_null(
      ...     K, L, np.random.default_rng(0), 20, batch_size=8, mesh=make_mesh())
      >>> np.array_equal(null, permutation_null(K, L, np.random.default_rng(0), 20, batch_size=8))
      True
    """
    axis = check_mesh(mesh)
    n = Kc.shape[0]
    batch_size = min(batch_size, n_permutations)
    size = -(-batch_size // mesh.size) * mesh.size  # a multiple of the device count
    Kp, Lc = jax.device_put((pad_rows(Kc), Lc), NamedSharding(mesh, P()))
    split = NamedSharding(mesh, P(axis))

    def run_batch(perms):
        return _sharded_permuted_sums(Kp, Lc, jax.device_put(perms, split), mesh=mesh)

    return run_permutation_batches(
        run_batch, rng, n, n_permutations, batch_size, size, progress=progress
    )
