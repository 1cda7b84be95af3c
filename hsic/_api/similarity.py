"""Centred kernel alignment (CKA) between layer activations: ``hsic.similarity.cka`` and
``hsic.similarity.cka_matrix``, with the result object of the latter.

``cka`` validates, then takes the feature-space path for the linear kernel (no ``n × n`` Gram
matrix; ``hsic._stats.similarity.linear_sums``) or the exact Gram-space sums of
``hsic._stats.gram`` for any other kernel. ``cka_matrix`` accumulates the unbiased HSIC of every
pair of layers over minibatches (``batch_hsic_matrix``) and normalises at the end.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from hsic._api import figures
from hsic._base.progress import make_bar, resolve_progress
from hsic._base.validation import (
    check_choice,
    check_fits_in_memory,
    check_number,
    checked_samples,
    float_dtype,
    is_traced,
    precision,
    transposed_hint,
)
from hsic._stats import kernels as _kernels
from hsic._stats.gram import ESTIMATORS, MIN_N, bucket_size, centred_sums
from hsic._stats.similarity import (
    batch_hsic_matrix,
    chunk_rows,
    linear_cka_from_sums,
    linear_sums,
    ratio,
)

__all__ = ["CKAMatrixResult", "cka", "cka_matrix"]

#: The smallest minibatch of the unbiased estimator.
MIN_BATCH = MIN_N["unbiased"]


def as_activations(x: Any, name: str, dtype: np.dtype) -> Any:
    """Layer activations as an ``(n, d)`` array of ``dtype``, trailing axes flattened.

    NumPy, lists and pandas are fully checked on the host (``checked_samples``: numbers,
    NaN/inf, range) and returned as NumPy. JAX arrays stay on their device: rank, emptiness and
    dtype are checked here, finiteness by the jitted code (the caller raises on its flag).
    """
    if is_traced(x):
        raise ValueError(
            f"`{name}` is a traced array: CKA functions run eagerly (they check the data and "
            "return host values); call them outside jax.jit / jax.grad. For a differentiable "
            "statistic use hsic.nhsic."
        )
    arr = x if isinstance(x, jax.Array) else np.asarray(x.to_numpy() if hasattr(x, "to_numpy")
                                                        else x)
    if arr.ndim < 2:
        raise ValueError(
            f"`{name}` must be a layer's activations with one row per sample, 2-D (n, d) or "
            f"higher (n, d1, d2, ...); got {arr.ndim}-D with shape {tuple(arr.shape)}. For one "
            "feature per sample, pass x[:, None]."
        )
    flat = arr.reshape(arr.shape[0], -1) if arr.shape[0] else arr.reshape(0, 0)
    if not isinstance(flat, jax.Array):
        return checked_samples(flat, name, dtype=dtype)
    if flat.size == 0:
        raise ValueError(f"`{name}` is empty; got shape {tuple(arr.shape)}.")
    if not (jnp.issubdtype(flat.dtype, jnp.floating) or jnp.issubdtype(flat.dtype, jnp.integer)
            or flat.dtype == jnp.bool_):
        raise ValueError(f"`{name}` must hold real numbers; got dtype {flat.dtype}.")
    return flat.astype(dtype)


def _check_finite(flag: Any, name: str, where: str = "") -> None:
    if not bool(flag):
        raise ValueError(f"`{name}` must be finite; it holds NaN or inf values{where}. Drop or "
                         "impute them first.")


def _warn_constant(name: str) -> None:
    warnings.warn(
        f"`{name}` is constant (every row is identical), so its CKA with any variable is 0.",
        RuntimeWarning,
        stacklevel=3,
    )


def _to_device_padded(x: Any, m: int) -> jax.Array:
    """A host array padded with zero rows up to ``m`` (masked out by the kernels) and sent to
    the device; a device array as it is (padding would copy it)."""
    if isinstance(x, jax.Array):
        return x
    return jax.device_put(np.pad(x, ((0, m - x.shape[0]), (0, 0))) if m > x.shape[0] else x)


def cka(
    a: ArrayLike,
    b: ArrayLike,
    *,
    kernel: str | _kernels.Kernel = "linear",
    estimator: Literal["biased", "unbiased"] = "biased",
    dtype: str | np.dtype | None = None,
) -> jax.Array:
    """Centred kernel alignment (CKA) between two representations of the same n samples.

    ``CKA = HSIC(K, L) / sqrt(HSIC(K, K) · HSIC(L, L))`` with ``K``, ``L`` the Gram matrices of
    ``a`` and ``b`` (Kornblith et al. 2019). With the default linear kernel it is computed from
    the centred features ``Ȧ`` (n × p) and ``Ḃ`` (n × q), in O(n·(p + q)²) time and O(p² + q²
    + pq) memory, never forming an ``n × n`` matrix:

    * ``"biased"``: ``CKA = ‖ȦᵀḂ‖²_F / (‖ȦᵀȦ‖_F · ‖ḂᵀḂ‖_F)``, in [0, 1];
    * ``"unbiased"``: the same ratio of unbiased HSIC estimates (Song et al. 2012, eq. 5). With
      ``α_i = ‖ȧ_i‖²``, ``β_i = ‖ḃ_i‖²`` the row norms and ``s_a = Ȧᵀ1``, ``s_b = Ḃᵀ1`` the
      column sums, ``K̃ = ȦȦᵀ − diag(α)`` gives ``tr(K̃L̃) = ‖ȦᵀḂ‖² − αᵀβ``,
      ``1ᵀK̃1 = ‖s_a‖² − Σα`` and ``1ᵀK̃L̃1 = (Ȧs_a − α)ᵀ(Ḃs_b − β)
      = s_aᵀ(ȦᵀḂ)s_b − s_aᵀ(Ȧᵀβ) − s_bᵀ(Ḃᵀα) + αᵀβ``, so that
      ``n(n−3)·HSIC_u = tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1`` needs only
      d × d products, row norms and column sums. It is not clipped, and can fall slightly
      below 0 for unrelated representations.

    Any other kernel (e.g. ``hsic.kernels.Gaussian()``, whose ``"median"`` bandwidth is set per
    representation) takes the exact Gram-space sums of [`hsic.nhsic`][hsic.nhsic] (tiled, O(n)
    memory but O(n²·d) time), double-centred (biased) or U-centred (unbiased).

    Args:
      a: activations of one layer, ``(n, d)`` or ``(n, d1, d2, ...)`` (trailing axes are
        flattened): NumPy, JAX (kept on its device) or anything ``numpy.asarray`` takes.
      b: activations of another layer for the same ``n`` samples, any width.
      kernel: ``"linear"`` or a kernel name or object of [`hsic.kernels`][hsic.kernels] (not
        ``"precomputed"``: for Gram matrices use [`hsic.cka_from_gram`][hsic.cka_from_gram]).
      estimator: ``"biased"`` or ``"unbiased"`` (needs n >= 4).
      dtype: ``"float32"`` or ``"float64"``; by default float64 when JAX's x64 mode is on.

    Returns:
      A scalar array; 0 (with a warning) when either representation is constant.

    Raises:
      ValueError: for 1-D activations, mismatched n, too few samples, NaN or inf, or an unknown
        kernel or estimator; each names the argument.

    Example:
      >>> import numpy as np
      >>> from hsic.similarity import cka
      >>> rng = np.random.default_rng(0)
      >>> a = rng.normal(size=(500, 20))
      >>> q, _ = np.linalg.qr(rng.normal(size=(20, 20)))
      >>> round(float(cka(a, 3.0 * a @ q)), 4)      # invariant to rotations and scaling
      1.0
      >>> bool(cka(a, rng.normal(size=(500, 30))) < 0.1)
      True

    References:
      Kornblith, Norouzi, Lee, Hinton (2019), "Similarity of neural network representations
      revisited", ICML. Song, Smola, Gretton, Bedo, Borgwardt (2012), "Feature selection via
      dependence maximization", JMLR 13.
    """
    check_choice(estimator, "estimator", ESTIMATORS)
    kern = _similarity_kernel(kernel)
    dtype = float_dtype(dtype)
    unbiased = estimator == "unbiased"
    with precision(dtype):
        A = as_activations(a, "a", dtype)
        B = as_activations(b, "b", dtype)
        n = _same_n({"a": A, "b": B})
        if n < MIN_N[estimator]:
            raise ValueError(
                f"`a` and `b`: the {estimator} estimator needs at least {MIN_N[estimator]} "
                f"samples (rows); got n={n}."
            )
        if isinstance(kern, _kernels.Linear):
            # host arrays are padded to a few sizes (bucket_size), so that a new n reuses the
            # compiled code; device arrays are used as they are (padding would copy them)
            on_host = not isinstance(A, jax.Array) and not isinstance(B, jax.Array)
            m = bucket_size(n) if on_host else n
            Ad, Bd = _to_device_padded(A, m), _to_device_padded(B, m)
            count = jax.device_put(np.int32(n))
            sums = linear_sums(Ad, Bd, count, rows=chunk_rows(m, max(Ad.shape[1], Bd.shape[1])),
                               unbiased=unbiased)
            _check_finite(sums.finite_a, "a")
            _check_finite(sums.finite_b, "b")
            if _constant(bool(sums.constant_a), bool(sums.constant_b)):
                return jnp.zeros((), dtype)
            return linear_cka_from_sums(sums, n, unbiased=unbiased)
        A, B = np.asarray(A), np.asarray(B)  # the kernels fit on the host (median heuristic)
        _check_finite(np.isfinite(A).all(), "a")
        _check_finite(np.isfinite(B).all(), "b")
        if _constant(bool(np.all(A == A[:1])), bool(np.all(B == B[:1]))):
            return jnp.zeros((), dtype)
        ka, kb = kern.fit(A, name="a"), kern.fit(B, name="b")
        s = centred_sums(jax.device_put(A), jax.device_put(B), ka, kb, estimator=estimator,
                         algorithm="auto")
        return ratio(s.kl, s.kk, s.ll, clip=not unbiased)


def _constant(constant_a: bool, constant_b: bool) -> bool:
    for flag, name in ((constant_a, "a"), (constant_b, "b")):
        if flag:
            _warn_constant(name)
    return constant_a or constant_b


def _similarity_kernel(kernel: Any) -> _kernels.Kernel:
    kern = _kernels.get_kernel(kernel, "kernel")
    if isinstance(kern, _kernels.Precomputed):
        raise ValueError(
            "`kernel`='precomputed' does not apply to activations; for two Gram matrices use "
            "hsic.cka_from_gram(K, L)."
        )
    return kern


def _same_n(arrays: Mapping[str, Any]) -> int:
    """The common number of rows of the named arrays, or a ValueError naming them."""
    rows = {name: x.shape[0] for name, x in arrays.items()}
    if len(set(rows.values())) > 1:
        hint = transposed_hint({k: tuple(v.shape) for k, v in arrays.items()})
        listed = ", ".join(f"`{k}` has {v}" for k, v in rows.items())
        raise ValueError(
            f"The activations must have the same number of samples (rows): {listed}.{hint}"
        )
    return next(iter(rows.values()))


@dataclasses.dataclass(frozen=True)
class CKAMatrixResult:
    """The layer-by-layer CKA matrix of [`cka_matrix`][hsic.similarity.cka_matrix].

    Attributes:
      matrix: ``(p, q)`` NumPy array, ``matrix[i, j]`` the CKA of layer ``i`` of ``layers_a``
        and layer ``j`` of ``layers_b`` (of ``layers_a`` again when ``layers_b`` was None).
      names_a: the names of the rows' layers.
      names_b: the names of the columns' layers.
      hsic: ``(p, q)`` the unbiased HSIC of each pair, averaged over the minibatches.
      n: the number of samples, over all batches.
      n_batches: the number of minibatches.
      kernel: the kernel, as a string.
    """

    matrix: np.ndarray
    names_a: tuple[str, ...]
    names_b: tuple[str, ...]
    hsic: np.ndarray
    n: int
    n_batches: int
    kernel: str

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Heatmap with the layer names on both axes: ``hsic.plot.cka_matrix(self)`` (see
        [`hsic.plot.cka_matrix`][hsic.plot.cka_matrix]; needs matplotlib)."""
        return figures.cka_matrix(self, ax=ax, **kwargs)

    def __repr__(self) -> str:
        p, q = self.matrix.shape
        return (f"CKAMatrixResult({p}x{q} layers, n={self.n} in {self.n_batches} batches, "
                f"kernel={self.kernel})")


def _names(layers: Any, names: Sequence[str] | None, arg: str, count: int) -> tuple[str, ...]:
    if names is not None:
        names = tuple(str(name) for name in names)
        if len(names) != count:
            raise ValueError(f"`{arg}` must give one name per layer ({count}); got {len(names)}.")
        return names
    if isinstance(layers, Mapping):
        return tuple(str(k) for k in layers)
    return tuple(str(i) for i in range(count))


def _as_list(layers: Any, arg: str) -> list:
    if isinstance(layers, Mapping):
        layers = list(layers.values())
    elif isinstance(layers, (list, tuple)):
        layers = list(layers)
    else:
        raise ValueError(
            f"`{arg}` must be a list (or dict) of activations, or a function from a batch to "
            f"one; got {type(layers).__name__}."
        )
    if not layers:
        raise ValueError(f"`{arg}` is empty: give at least one layer.")
    return layers


def _array_batches(layers_a: list, layers_b: list | None, batch_size: int | None):
    """Consecutive batches of ``batch_size`` rows of array layers (the last one takes the
    remainder, so that no sample is dropped and none is smaller than ``batch_size``)."""
    n = {np.shape(x)[0] if np.ndim(x) else 0 for x in layers_a + (layers_b or [])}
    if len(n) > 1:
        raise ValueError(
            "Every layer of `layers_a` and `layers_b` must have the same number of samples "
            f"(rows); got {sorted(n)}."
        )
    total = n.pop()
    size = total if batch_size is None else batch_size
    count = max(total // size, 1)
    bounds = [i * size for i in range(count)] + [total]

    def take(layers, lo, hi):
        return None if layers is None else [x[lo:hi] for x in layers]

    return count, ((take(layers_a, lo, hi), take(layers_b, lo, hi))
                   for lo, hi in zip(bounds[:-1], bounds[1:], strict=True))


def cka_matrix(
    layers_a: Sequence[ArrayLike] | Mapping[str, ArrayLike] | Callable[[Any], Any],
    layers_b: Sequence[ArrayLike] | Mapping[str, ArrayLike] | Callable[[Any], Any] | None = None,
    *,
    batches: Iterable[Any] | None = None,
    batch_size: int | None = None,
    kernel: str | _kernels.Kernel = "linear",
    names_a: Sequence[str] | None = None,
    names_b: Sequence[str] | None = None,
    dtype: str | np.dtype | None = None,
    progress: bool | None = None,
) -> CKAMatrixResult:
    """The layer-by-layer CKA matrix, accumulated over minibatches (Nguyen et al. 2021).

    For each minibatch of ``m`` samples, the unbiased HSIC (Song et al. 2012) of every pair of
    layers, ``HSIC_u(K_i, L_j) = Σ K̂_i∘L̂_j / (m(m−3))`` on U-centred Gram matrices, is
    averaged over the batches; then

    ``CKA_ij = mean HSIC_u(K_i, L_j) / sqrt(mean HSIC_u(K_i, K_i) · mean HSIC_u(L_j, L_j))``.

    Averaging unbiased estimates makes this consistent as the number of batches grows, for a
    fixed batch size (biased minibatch estimates would not average out). With one batch of all
    n samples it is ``cka(..., estimator="unbiased")``. Memory is that of the layers' ``m × m``
    Gram matrices of one batch, never of the whole data set.

    Args:
      layers_a: a list (or dict, whose keys name the layers) of activations of the same n
        samples, each ``(n, d)`` or ``(n, d1, d2, ...)``; or a function from a batch to such a
        list or dict (e.g. a model's forward pass returning its hidden layers), with
        ``batches``: the activations are then computed batch by batch and never stored whole.
      layers_b: the layers of a second network, in the same form (a function of the same
        batches); by default ``layers_a`` against itself.
      batches: with functions: an iterable of batches, each passed to ``layers_a`` (and
        ``layers_b``); every batch needs at least 4 samples.
      batch_size: with arrays: rows per minibatch, consecutive rows (the last batch takes the
        remainder); by default one batch of all n.
      kernel: ``"linear"`` (default), or a kernel name or object of
        [`hsic.kernels`][hsic.kernels]; a ``"median"`` bandwidth is set per layer per batch.
      names_a: names of the layers of ``layers_a`` (default: the dict's keys, or 0, 1, ...).
      names_b: the same for ``layers_b``.
      dtype: ``"float32"`` or ``"float64"``; by default float64 when JAX's x64 mode is on.
      progress: a progress bar over the batches: True, False, or None (on a terminal, for long
        runs; see the package's progress rule).

    Returns:
      A [`CKAMatrixResult`][hsic.similarity.CKAMatrixResult]; ``.plot()`` draws the heatmap.

    Raises:
      ValueError: for a batch of fewer than 4 samples, layers with different numbers of
        samples, a 1-D layer, NaN or inf, or arguments that do not fit together.

    Example:
      >>> import numpy as np
      >>> from hsic.similarity import cka_matrix
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=(512, 10))
      >>> layers = {"in": x, "relu": np.maximum(x @ rng.normal(size=(10, 32)), 0),
      ...           "noise": rng.normal(size=(512, 8))}
      >>> res = cka_matrix(layers, batch_size=128)
      >>> res.names_a, res.n_batches
      (('in', 'relu', 'noise'), 4)
      >>> np.round(np.diag(res.matrix), 4)
      array([1., 1., 1.])
      >>> bool(res.matrix[0, 1] > 0.5 > abs(res.matrix[0, 2]))
      True

    References:
      Nguyen, Raghu, Kornblith (2021), "Do wide and deep networks learn the same things?
      Uncovering how neural network representations vary with width and depth", ICLR.
      Kornblith, Norouzi, Lee, Hinton (2019), "Similarity of neural network representations
      revisited", ICML.
    """
    kern = _similarity_kernel(kernel)
    dtype = float_dtype(dtype)
    if progress is not None:
        resolve_progress(progress, 0)  # checks the value
    if callable(layers_a):
        if batches is None:
            raise ValueError("`batches` is required when `layers_a` is a function: pass an "
                             "iterable of batches to feed it.")
        if batch_size is not None:
            raise ValueError("`batch_size` applies to array layers; with a function, the "
                             "batches come from `batches`.")
        if layers_b is not None and not callable(layers_b):
            raise ValueError("`layers_b` must be a function of the batch too when `layers_a` "
                             "is one; got arrays.")
        fa, fb = layers_a, layers_b
        total = len(batches) if isinstance(batches, Sized) else None
        stream: Iterable = ((fa(batch), None if fb is None else fb(batch)) for batch in batches)
    else:
        if batches is not None:
            raise ValueError("`batches` applies when `layers_a` is a function of a batch; for "
                             "arrays, use `batch_size`.")
        if callable(layers_b):
            raise ValueError("`layers_b` must be arrays when `layers_a` is; got a function.")
        if batch_size is not None:
            batch_size = check_number(batch_size, "batch_size", f"an integer >= {MIN_BATCH}",
                                      integer=True, low=MIN_BATCH)
        la = _as_list(layers_a, "layers_a")
        lb = None if layers_b is None else _as_list(layers_b, "layers_b")
        names_a = _names(layers_a, names_a, "names_a", len(la))
        names_b = None if lb is None else _names(layers_b, names_b, "names_b", len(lb))
        total, stream = _array_batches(la, lb, batch_size)
    source = "batches" if callable(layers_a) else (
        "layers_a" if batch_size is None else "batch_size")
    acc = _Accumulator(kern, dtype, names_a, names_b, total, progress, source)
    with precision(dtype):
        for acts_a, acts_b in stream:
            acc.add(acts_a, acts_b)
    return acc.result()


class _Accumulator:
    """The running sums of ``cka_matrix``: the batch HSIC matrices, and the progress bar."""

    def __init__(self, kernel, dtype, names_a, names_b, total, progress, source):
        self.kernel, self.dtype, self.source = kernel, dtype, source
        self.given_a, self.given_b = names_a, names_b
        self.total, self.progress = total, progress
        self.names_a: tuple[str, ...] = ()
        self.names_b: tuple[str, ...] = ()
        self.cross = self.self_a = self.self_b = None
        self.n = self.batches = 0
        self.bar: Any = None

    def _layers(self, acts, arg):
        items = _as_list(acts, arg)
        names = _names(acts, self.given_a if arg == "layers_a" else self.given_b,
                       "names_a" if arg == "layers_a" else "names_b", len(items))
        arrays = [as_activations(x, f"{arg}[{name!r}]", self.dtype)
                  for x, name in zip(items, names, strict=True)]
        return names, arrays

    def add(self, acts_a, acts_b) -> None:
        names_a, arrays_a = self._layers(acts_a, "layers_a")
        names_b, arrays_b = (None, None) if acts_b is None else self._layers(acts_b, "layers_b")
        if not self.batches:
            self.names_a, self.names_b = names_a, names_b or names_a
        labelled = {f"layers_a[{k!r}]": x for k, x in zip(names_a, arrays_a, strict=True)}
        if arrays_b is not None:
            labelled.update({f"layers_b[{k!r}]": x for k, x in
                             zip(names_b or (), arrays_b, strict=True)})
        m = _same_n(labelled)
        if m < MIN_BATCH:
            raise ValueError(
                f"`{self.source}`: batch {self.batches} has {m} samples; the unbiased minibatch "
                f"estimator needs at least {MIN_BATCH} per batch."
            )
        check_fits_in_memory(
            m, len(labelled) + 2, self.dtype, what="cka_matrix (one batch's Gram matrices)",
            instead="Pass a smaller `batch_size` (e.g. 1024) or smaller `batches`: the minibatch "
            "estimator needs only batch × batch matrices.",
        )
        fitted_a = [self.kernel.fit(x, name=k) for x, k in zip(arrays_a, labelled, strict=False)]
        fitted_b = None if arrays_b is None else [
            self.kernel.fit(x, name=k) for x, k in zip(arrays_b, list(labelled)[len(arrays_a):],
                                                       strict=True)]
        cross, self_a, self_b, finite_a, finite_b = batch_hsic_matrix(
            fitted_a, [jnp.asarray(x) for x in arrays_a], fitted_b,
            None if arrays_b is None else [jnp.asarray(x) for x in arrays_b],
        )
        for flags, names, arg in ((finite_a, names_a, "layers_a"),
                                  (finite_b, names_b or names_a, "layers_b")):
            for ok, name in zip(np.asarray(flags), names, strict=True):
                _check_finite(ok, f"{arg}[{name!r}]", f" in batch {self.batches}")
        scale = 1.0 / (m * (m - 3.0))
        parts = [np.asarray(v, dtype=np.float64) * scale for v in (cross, self_a, self_b)]
        if self.cross is None:
            self.cross, self.self_a, self.self_b = parts
        else:
            if parts[0].shape != self.cross.shape:
                raise ValueError(
                    f"Batch {self.batches} gives {parts[0].shape} layers; the first gave "
                    f"{self.cross.shape}. Every batch must give the same layers."
                )
            self.cross, self.self_a, self.self_b = (
                s + p for s, p in zip((self.cross, self.self_a, self.self_b), parts, strict=True))
        self.n += m
        self.batches += 1
        self._tick(m, [x.shape[1] for x in arrays_a + (arrays_b or [])])

    def _tick(self, m: int, widths: list[int]) -> None:
        if self.batches == 1:
            per_batch = m * sum(widths) + len(widths) * m * m  # entries read per batch
            work = per_batch * self.total if self.total is not None else float("inf")
            self.bar = make_bar(resolve_progress(self.progress, work), self.total,
                                "cka_matrix", unit="batch")
        if self.bar is not None:
            self.bar.update(1)

    def result(self) -> CKAMatrixResult:
        if self.bar is not None:
            self.bar.close()
        if self.cross is None:
            raise ValueError("`batches` is empty: give at least one batch.")
        cross = self.cross / self.batches
        self_a, self_b = self.self_a / self.batches, self.self_b / self.batches
        denom = np.sqrt(np.outer(np.maximum(self_a, 0.0), np.maximum(self_b, 0.0)))
        with np.errstate(divide="ignore", invalid="ignore"):
            matrix = np.where(denom > 0, cross / np.where(denom > 0, denom, 1.0), 0.0)
        return CKAMatrixResult(
            matrix=matrix, names_a=self.names_a, names_b=self.names_b, hsic=cross, n=self.n,
            n_batches=self.batches, kernel=type(self.kernel).__name__,
        )
