"""The permutation engine: null statistics of permuted samples, on one device or sharded.

**Gram matrices.** With ``K̄ = HKH`` and ``L̄ = HLH`` computed once, the statistic of the
permuted sample is ``HSIC_b(K, PLPᵀ) = Σ_ij K̄_ij L̄_{p(i)p(j)} / n²``, and no kernel is
ever recomputed. ``M_ij = K̄_ij L̄_{p(i)p(j)}`` is symmetric, so its sum is its diagonal plus
twice the entries up to m/2 cyclic steps right of it: the engine gathers only those, about
half of ``L̄``, over blocks of ``PERMUTATION_ROWS`` rows (``pad_rows`` prepares the weighted
windows of ``K̄`` once per test; ``permuted_stack_sums`` does the rest). Each gathered block,
``L̄[p[block]]`` at the window's columns, stays in the CPU's cache (a scattered gather of the
whole ``L̄[p][:, p]``, or a transposed read, misses the cache on nearly every access once the
matrices outgrow it). The engine is bound by XLA's element-by-element gather, not by memory
bandwidth; see the roofline in ``benchmarks/README.md``.

**Features.** For the feature tests, ``‖Φ̃ᵀ Ψ̃[p]‖²_F / n²`` with column-centred features.

**Order.** The permutations are drawn one after another from NumPy's PCG64 (cheap on the host,
nothing to compile), so the null does not depend on how the B permutations are batched, nor on
how many devices share each batch: with a mesh, ``K̄`` and ``L̄`` (or the features) are
replicated and each batch is split over the devices with ``jax.shard_map``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from hsic._base.devices import check_mesh
from hsic._stats.gram import masked_centred_grams, padded_pair

__all__ = [
    "PERMUTATION_ROWS",
    "draw_permutations",
    "feature_permutation_null",
    "gram_permutation_null",
    "pad_rows",
    "permutation_null",
    "permuted_stack_sums",
    "run_permutation_batches",
    "sharded_permutation_null",
]

#: Rows of ``K̄`` per block of the permuted sum (fewer when n is smaller); chosen by
#: measurement (see ``benchmarks/README.md``).
PERMUTATION_ROWS = 32


def _weights(m: int, r: int, dtype) -> jax.Array:
    """``(r, m // 2 + r)``: the weight of the entry at offset ``c`` in its row's window, for
    row ``i`` of a block (``d = c − i`` cyclic steps right of the diagonal): 1 at ``d = 0``,
    2 for ``0 < d < m/2``, 1 at ``d = m/2`` (m even), 0 elsewhere."""
    d = jnp.arange(m // 2 + r)[None, :] - jnp.arange(r)[:, None]
    two = (d > 0) & (2 * d < m)
    return jnp.where(two, 2.0, jnp.where((d == 0) | (2 * d == m), 1.0, 0.0)).astype(dtype)


@jax.jit
def pad_rows(Kc: jax.Array) -> jax.Array:
    """``K̄`` (or a stack of them, ``(..., m, m)``) prepared for ``permuted_stack_sums``, once
    per test: ``(..., m_b, r, m // 2 + r)``, the blocks of ``r`` rows of ``(K̄ + K̄ᵀ)/2``
    (``r = min(PERMUTATION_ROWS, m)``, zero rows appended up to ``m_b`` blocks), each row
    ``i`` holding the ``m // 2 + r`` entries ``(i, j)`` of its block's cyclic window
    ``j = b·r, b·r + 1, ... (mod m)``, times the window weights (``_weights``): entries
    outside ``0 ≤ j − i ≤ m/2`` (cyclically) weigh 0.

    Why this is exact: for symmetric ``K̄`` and ``L̄``, the matrix
    ``M_ij = K̄_ij L̄_{p(i)p(j)}`` is symmetric, so ``Σ_ij M_ij`` is its diagonal plus twice
    the entries ``d = 1, ..., ⌈m/2⌉ − 1`` cyclic steps right of it (plus once the entries
    ``d = m/2`` for even m): each permutation gathers ``m·(m/2 + r)`` entries of ``L̄``
    instead of ``m²`` (see ``benchmarks/README.md``). Symmetrising ``K̄`` keeps this
    exact when its two triangles differ in the last bits.
    """
    m = Kc.shape[-1]
    r = min(PERMUTATION_ROWS, m)
    nb, w = -(-m // r), m // 2 + r
    weights = _weights(m, r, Kc.dtype)

    def window(b):  # one block at a time: no index array or temporary of the matrix's size
        rows = b * r + jnp.arange(r)
        cols = (b * r + jnp.arange(w)) % m
        inside = jnp.minimum(rows, m - 1)
        S = (Kc[..., inside[:, None], cols] + Kc[..., cols[None, :], inside[:, None]]) / 2
        return S * jnp.where((rows < m)[:, None], weights, 0)

    return jnp.moveaxis(jax.lax.map(window, jnp.arange(nb)), 0, -3)


@jax.jit
def permuted_stack_sums(Kp: jax.Array, Ls: jax.Array, perms: jax.Array) -> jax.Array:
    """``Σ_ij K̄^a_ij L̄^b_{p(i)p(j)}`` for every pair ``(a, b)`` of two stacks of centred Gram
    matrices and each row ``p`` of ``perms``: ``(P, A, B)``.

    The engine, shared by the one-pair, many-pair, aggregated and joint tests: ``Kp`` is
    ``pad_rows`` of the ``(A, m, m)`` stack, ``Ls`` the ``(B, m, m)`` stack. Each block of
    ``r`` rows ``i`` of every ``L̄^b``, gathered as ``L̄^b[p(i)]`` and then at the columns
    ``p(j)`` of the block's cyclic window (one 2-D gather per matrix; the ``r × (m/2 + r)``
    tile stays in the CPU's cache), meets the same rows of every weighted ``K̄^a`` window in
    one matrix product. So each permutation gathers about half of every ``L̄^b`` once
    (``B·m·(m/2 + r)`` reads) whatever ``A``; the sum differs from ``Σ K̄ ∘ L̄[p][:, p]`` by
    float rounding only.
    """
    a, nb, r, w = Kp.shape
    b, m = Ls.shape[0], Ls.shape[-1]

    def one(p):
        padded = jnp.concatenate([p, jnp.zeros(nb * r - m, p.dtype)])
        cyclic = jnp.tile(p, 3)  # the windows' columns, b·r + c (mod m) for c < m/2 + r

        def block(i):
            K_block = Kp[:, i].reshape(a, -1)
            rows = jax.lax.dynamic_slice_in_dim(padded, i * r, r)
            cols = jax.lax.dynamic_slice_in_dim(cyclic, i * r, w)
            if b == 1:
                L_block = Ls[0][rows][:, cols][None]
            else:  # one 2-D gather per matrix, not a batched 3-D gather (benchmarks/README.md)
                L_block = jax.lax.map(lambda L: L[rows][:, cols], Ls)
            return K_block @ L_block.reshape(b, -1).T

        # map, then sum (not a scan with a zero carry, which shard_map's varying types reject)
        return jnp.sum(jax.lax.map(block, jnp.arange(nb)), axis=0)

    return jax.lax.map(one, perms)


@jax.jit
def permuted_sums(Kp: jax.Array, Lc: jax.Array, perms: jax.Array) -> jax.Array:
    """``Σ_ij K̄_ij L̄_{p(i)p(j)}`` for each row ``p`` of ``perms``: ``permuted_stack_sums``
    with one matrix on each side (no slower than a kernel of its own; see
    ``benchmarks/README.md``).

    ``Kp`` is ``pad_rows(K̄)``, ``Lc`` is ``L̄``.
    """
    return permuted_stack_sums(Kp[None], Lc[None], perms)[:, 0, 0]


def draw_permutations(
    rng: np.random.Generator, count: int, n: int, size: int, width: int | None = None
) -> np.ndarray:
    """``count`` permutations of n drawn one after another (so batching cannot change them),
    padded to ``size`` rows by repeating the last. With ``width`` (> n, for data padded to
    ``width`` rows), each permutation leaves the padding rows ``n, ..., width − 1`` in place:
    the draws are those of ``width=None``."""
    perms = np.empty((size, n if width is None else width), dtype=np.int32)
    for b in range(count):
        perms[b, :n] = rng.permutation(n)
    perms[:, n:] = np.arange(n, perms.shape[1], dtype=np.int32)
    perms[count:] = perms[count - 1]
    return perms


def permutation_null(
    Kc: jax.Array,
    Lc: jax.Array,
    rng: np.random.Generator,
    n_resamples: int,
    *,
    batch_size: int = 250,
    progress: bool = False,
) -> np.ndarray:
    """Biased HSIC of ``n_resamples`` random permutations of the sample.

    Args:
      Kc, Lc: double-centred Gram matrices, ``(n, n)``.
      rng: the source of the permutations (see ``hsic._base.rng.as_generator``).
      n_resamples: B.
      batch_size: permutations per device call. The result does not depend on it.
      progress: show a tqdm progress bar on stderr.

    Returns:
      A NumPy array of B null statistics (``HSIC_b`` of the permuted data).
    """
    n = Kc.shape[0]
    batch_size = min(batch_size, n_resamples)
    Kp, Lc = pad_rows(jax.device_put(Kc)), jax.device_put(Lc)

    def run_batch(perms):
        return permuted_sums(Kp, Lc, jax.device_put(perms))

    return run_permutation_batches(
        run_batch, rng, n, n_resamples, batch_size, batch_size, progress=progress
    )


@jax.jit
def _gram_permuted_sums(kx, ky, x, y, n, perms):
    """``(HSIC_b, Σ_ij K̄_ij L̄_{p(i)p(j)} for each row p of perms)`` on data padded to m rows
    (the first ``n``, a traced scalar, are samples): the centred Gram matrices and a batch
    of permuted sums in one compiled program per padded size."""
    Kc, Lc, statistic = masked_centred_grams(kx, ky, x, y, n)
    # Materialise K̄ and L̄ before the permuted sums: without the barrier XLA may recompute
    # their entries inside the gathers, differently on one device and on a mesh (1 ulp).
    Kc, Lc = jax.lax.optimization_barrier((Kc, Lc))
    return statistic, permuted_sums(pad_rows(Kc), Lc, perms)


@jax.jit
def _padded_grams(kx, ky, x, y, n):
    """``(pad_rows(K̄), L̄, HSIC_b)`` on padded data, for the sharded path."""
    Kc, Lc, statistic = masked_centred_grams(kx, ky, x, y, n)
    return pad_rows(Kc), Lc, statistic


def gram_permutation_null(
    kx,
    ky,
    x: jax.Array,
    y: jax.Array,
    rng: np.random.Generator,
    n_resamples: int,
    *,
    batch_size: int = 250,
    progress: bool = False,
    mesh: Mesh | None = None,
) -> tuple[float, np.ndarray]:
    """``(HSIC_b, null)``: the statistic and ``permutation_null`` of the data, from fitted
    kernels, compiled once per padded size rather than once per n; with ``mesh``, each batch
    of permutations is split over its devices (the same null, as in
    ``sharded_permutation_null``).

    ``x`` and ``y`` are padded to ``bucket_size(n)`` rows (``hsic._stats.gram.padded_pair``);
    the centred Gram matrices are zero outside their ``n × n`` block and each permutation of
    n, drawn from ``rng`` exactly as ``permutation_null`` draws it, leaves the padding rows in
    place, so the null is ``permutation_null``'s to float rounding. Each batch recomputes the
    Gram matrices inside the same compiled program (O(n²d), against O(batch·n²) for its
    permutations), which keeps one program per size.

    Example:
      >>> import numpy as np
      >>> from hsic._stats.gram import centred_grams
      >>> from hsic._nulls.permutation import gram_permutation_null, permutation_null
      >>> from hsic.kernels import Gaussian
      >>> x = np.linspace(0.0, 1.0, 30, dtype=np.float32)[:, None]   # padded to 32 rows
      >>> k = Gaussian(0.5)
      >>> stat, null = gram_permutation_null(k, k, x, x**2, np.random.default_rng(0), 20)
      >>> K, L, ref = centred_grams(k, k, x, x**2)
      >>> bool(np.allclose(null, permutation_null(K, L, np.random.default_rng(0), 20)))
      True
    """
    n = x.shape[0]
    xp, yp, count = padded_pair(x, y, kx, ky)
    m = xp.shape[0]
    batch_size = min(batch_size, n_resamples)
    statistics = []
    if mesh is None:
        size = batch_size

        def run_batch(perms):
            statistic, sums = _gram_permuted_sums(kx, ky, xp, yp, count, jax.device_put(perms))
            statistics.append(statistic)
            return sums
    else:  # K̄ and L̄ computed once, then replicated (the same values as on one device)
        axis = check_mesh(mesh)
        size = -(-batch_size // mesh.size) * mesh.size  # a multiple of the device count
        Kp, Lc, statistic = _padded_grams(kx, ky, xp, yp, count)
        statistics.append(statistic)
        Kp, Lc = jax.device_put((Kp, Lc), NamedSharding(mesh, P()))
        split = NamedSharding(mesh, P(axis))

        def run_batch(perms):
            return _sharded_permuted_sums(Kp, Lc, jax.device_put(perms, split), mesh=mesh)

    null = run_permutation_batches(
        run_batch, rng, n, n_resamples, batch_size, size, progress=progress, width=m
    )
    return float(statistics[0]), null



def run_permutation_batches(
    run_batch, rng, n: int, n_resamples: int, batch_size: int, padded_size: int, *, progress,
    desc: str = "permutations",
    width: int | None = None,
) -> np.ndarray:
    """The host loop of the permutation engine, shared by the one- and multi-device paths.

    Each batch of up to ``batch_size`` permutations is drawn in order from ``rng``, padded to
    ``padded_size`` rows (and to ``width`` columns, see ``draw_permutations``), and passed to
    ``run_batch(perms)``, which places it on the device(s) explicitly and returns the
    permuted sums. Results are fetched once, at the end: nothing in the loop waits for the
    device, except the progress bar (labelled ``desc``).
    """
    bar = None
    if progress:
        from tqdm.auto import tqdm  # deferred: only progress bars need it

        bar = tqdm(total=n_resamples, desc=desc, unit="perm", leave=False)
    chunks, counts = [], []
    for start in range(0, n_resamples, batch_size):
        count = min(batch_size, n_resamples - start)
        chunks.append(run_batch(draw_permutations(rng, count, n, padded_size, width)))
        counts.append(count)
        if bar is not None:
            chunks[-1].block_until_ready()
            bar.update(count)
    if bar is not None:
        bar.close()
    host = jax.device_get(chunks)
    return np.concatenate([c[:k] for c, k in zip(host, counts, strict=True)]) / float(n * n)


@functools.partial(jax.jit, static_argnames=("mesh",))
def _sharded_permuted_sums(Kp, Lc, perms, *, mesh: Mesh):
    """``permuted_sums`` with the rows of ``perms`` split over ``mesh``."""
    axis = mesh.axis_names[0]

    def local(Kp, Lc, perms):
        sums = permuted_sums(Kp, Lc, perms)
        return jax.lax.all_gather(sums, axis, tiled=True, to="invarying")

    specs = (P(), P(), P(axis))
    return jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=P())(Kp, Lc, perms)


def sharded_permutation_null(
    Kc: jax.Array,
    Lc: jax.Array,
    rng: np.random.Generator,
    n_resamples: int,
    *,
    batch_size: int = 250,
    mesh: Mesh,
    progress: bool = False,
) -> np.ndarray:
    """Biased HSIC of ``n_resamples`` random permutations, each batch split over ``mesh``.

    The same null as ``permutation_null`` for the same ``rng``:
    ``Σ_ij K̄_ij L̄_{p(i)p(j)} / n²`` for permutations ``p`` drawn one after another on the
    host, in the same order, whatever the device count. Each batch of ``batch_size``
    permutations is padded (with repeats of its last permutation, which are discarded) to a
    multiple of the device count and split evenly; ``K̄`` and ``L̄`` are replicated on every
    device. Every transfer is an explicit ``jax.device_put`` or ``jax.device_get``.

    Args:
      Kc: double-centred Gram matrix of x, ``(n, n)``.
      Lc: double-centred Gram matrix of y, ``(n, n)``.
      rng: the source of the permutations (see ``hsic._base.rng.as_generator``).
      n_resamples: B.
      batch_size: permutations per device call, over all devices. The result does not
        depend on it.
      mesh: a 1-D device mesh, e.g. from ``make_mesh``.
      progress: show a tqdm progress bar on stderr.

    Returns:
      A NumPy array of B null statistics (``HSIC_b`` of the permuted data).

    Example:
      >>> import numpy as np
      >>> from hsic._base.devices import make_mesh
      >>> from hsic._stats.gram import centred_grams
      >>> from hsic._nulls.permutation import permutation_null, sharded_permutation_null
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
    batch_size = min(batch_size, n_resamples)
    size = -(-batch_size // mesh.size) * mesh.size  # a multiple of the device count
    Kp, Lc = jax.device_put((pad_rows(Kc), Lc), NamedSharding(mesh, P()))
    split = NamedSharding(mesh, P(axis))

    def run_batch(perms):
        return _sharded_permuted_sums(Kp, Lc, jax.device_put(perms, split), mesh=mesh)

    return run_permutation_batches(
        run_batch, rng, n, n_resamples, batch_size, size, progress=progress
    )


#: Permutation indices held per device call in the feature permutation null.
PERMUTATION_ENTRIES = 2**22




@jax.jit
def _centre_columns(a: jax.Array) -> jax.Array:
    return a - jnp.mean(a, axis=0)


@jax.jit
def _permuted_feature_sums(phit: jax.Array, psit: jax.Array, perms: jax.Array) -> jax.Array:
    """``‖Φ̃ᵀ Ψ̃[p]‖²_F`` for each row ``p`` of ``perms``, one permutation at a time."""

    def one(p):
        c = jnp.matmul(phit.T, psit[p], precision=jax.lax.Precision.HIGHEST)
        return jnp.sum(c * c)

    return jax.lax.map(one, perms)


@functools.partial(jax.jit, static_argnames=("mesh",))
def _sharded_permuted_feature_sums(phit, psit, perms, *, mesh):
    """``_permuted_feature_sums`` with the rows of ``perms`` split over ``mesh``."""
    axis = mesh.axis_names[0]

    def local(phit, psit, perms):
        sums = _permuted_feature_sums(phit, psit, perms)
        return jax.lax.all_gather(sums, axis, tiled=True, to="invarying")

    return jax.shard_map(local, mesh=mesh, in_specs=(P(), P(), P(axis)), out_specs=P())(
        phit, psit, perms
    )


def feature_permutation_null(phi, psi, rng: np.random.Generator, n_resamples: int,
                              mesh=None):
    """``‖Φ̃ᵀΨ̃[p_b]‖²_F / n²`` for B permutations drawn one after another from ``rng`` (so the
    result does not depend on the batching, nor on the devices of ``mesh``)."""
    n = phi.shape[0]
    phit, psit = _centre_columns(phi), _centre_columns(psi)
    batch = max(1, min(n_resamples, PERMUTATION_ENTRIES // n))
    if mesh is None:
        size = batch

        def run_batch(perms):
            return _permuted_feature_sums(phit, psit, jax.device_put(perms))
    else:
        size = -(-batch // mesh.size) * mesh.size  # a multiple of the device count
        phit, psit = jax.device_put((phit, psit), NamedSharding(mesh, P()))
        split = NamedSharding(mesh, P(mesh.axis_names[0]))

        def run_batch(perms):
            return _sharded_permuted_feature_sums(
                phit, psit, jax.device_put(perms, split), mesh=mesh
            )

    return run_permutation_batches(
        run_batch, rng, n, n_resamples, batch, size, progress=False
    )
