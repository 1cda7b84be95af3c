"""Method objects: how a test computes its null, and the options that belong to that method.

As scipy's ``PermutationMethod`` and ``MonteCarloMethod``, each method is a small frozen
dataclass whose fields are the options of that method and no other, checked when it is built:
an option that a method does not take cannot be passed, and a bad value raises a
``ValueError`` at once. A test's ``method=`` argument takes such an object, or a method's name
for its defaults (``method="gamma"`` is ``method=hsic.Gamma()``).

The same objects serve every test that can use them: ``Permutation`` and ``Gamma`` work for
[`hsic.test`][hsic.test], [`hsic.joint_test`][hsic.joint_test] and
[`hsic.pairwise`][hsic.pairwise]; ``Bootstrap`` for the joint test; ``KCI``, ``RCIT`` and
``RCoT`` for [`hsic.conditional_test`][hsic.conditional_test]; the others for the test of one
pair.

Example:
    >>> import hsic
    >>> hsic.Permutation(n_resamples=2000)
    Permutation(n_resamples=2000, batch_size=None)
    >>> hsic.Block(size=2)
    Traceback (most recent call last):
    ...
    ValueError: `size` must be an integer >= 4, or None; got 2.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, cast

import numpy as np

from hsic._base.validation import (
    check_choice,
    check_number,
    check_positive_float,
    check_positive_int,
)
from hsic._nulls.aggregated import (
    DEFAULT_N_BANDWIDTHS,
    check_bandwidths,
    check_factors,
    check_pair_pvalues,
    check_weights,
    pair_weights,
    weight_vector,
)
from hsic._nulls.wild_bootstrap import check_length
from hsic._stats.block import check_block_size
from hsic._stats.features import check_n_features

__all__ = [
    "Aggregated",
    "AggregatedIncomplete",
    "Block",
    "Bootstrap",
    "Gamma",
    "KCI",
    "Method",
    "Nystrom",
    "Permutation",
    "RCIT",
    "RCoT",
    "RFF",
    "WildBootstrap",
    "as_method",
    "DEFAULT_BATCH_SIZE",
]

#: The nulls of the feature methods.
FEATURE_NULLS = ("spectral", "permutation")
#: Resamples per device call when a method object leaves ``batch_size`` to the test: the same
#: for every test (memory and progress granularity only; results do not depend on it).
DEFAULT_BATCH_SIZE = 250


def _set(obj: Any, name: str, value: Any) -> None:
    """Store a checked (normalised) value on a frozen method object."""
    object.__setattr__(obj, name, value)


def _check_batch_size(obj: Any) -> None:
    if obj.batch_size is not None:
        _set(obj, "batch_size", check_positive_int(obj.batch_size, "batch_size"))


@dataclasses.dataclass(frozen=True)
class Method:
    """Base of the method objects: ``name`` is the method's name in results and strings."""

    name: ClassVar[str]

    def options(self) -> dict[str, Any]:
        """The method's options, as plain values."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class _Resampling(Method):
    """A null from B resamples of the data: the fields of ``Permutation`` and ``Bootstrap``."""

    n_resamples: int = 1000
    batch_size: int | None = None

    def __post_init__(self) -> None:
        _set(self, "n_resamples", check_positive_int(self.n_resamples, "n_resamples"))
        _check_batch_size(self)


@dataclasses.dataclass(frozen=True)
class Permutation(_Resampling):
    """The exact permutation null: B random permutations of one variable's rows.

    The p-value is ``(1 + #{null ≥ observed}) / (1 + B)``, ties within ``1000·eps``
    (relative) counting as extreme. Valid at any n.

    Args:
      n_resamples: B, the number of permutations.
      batch_size: permutations per device call (memory and progress granularity only: the
        result does not depend on it); ``None``: 250, in every test. ``hsic.test``
        recomputes the Gram matrices in each call (one compiled program per padded size of
        n), so batches far below the default cost more.
    """

    name: ClassVar[str] = "permutation"


@dataclasses.dataclass(frozen=True)
class Bootstrap(_Resampling):
    """The bootstrap null of the joint test: each variable's rows resampled with replacement,
    independently (Pfister et al. 2018).

    Args:
      n_resamples: B, the number of bootstrap samples.
      batch_size: bootstrap samples per device call (the result does not depend on it);
        ``None``: 250, as everywhere.
    """

    name: ClassVar[str] = "bootstrap"


@dataclasses.dataclass(frozen=True)
class Gamma(Method):
    """The gamma approximation to the null, matched to its null mean and variance (Gretton
    et al. 2008; Pfister et al. 2018 for dHSIC). No resampling and no options."""

    name: ClassVar[str] = "gamma"


@dataclasses.dataclass(frozen=True)
class _Aggregating(Method):
    """The options shared by ``Aggregated`` and ``AggregatedIncomplete``."""

    n_resamples: int = 2000
    n_resamples_level: int | None = None
    alpha: float = 0.05
    bandwidths: Any = "auto"
    n_bandwidths: int = DEFAULT_N_BANDWIDTHS
    bandwidth_factors: Sequence[float] | None = None
    weights: Any = "uniform"
    pair_pvalues: Literal["fitted", "empirical"] = "fitted"
    batch_size: int | None = None

    def __post_init__(self) -> None:
        _set(self, "n_resamples", check_positive_int(self.n_resamples, "n_resamples"))
        check_pair_pvalues(self.pair_pvalues)
        if self.n_resamples_level is not None:
            _set(self, "n_resamples_level",
                 check_positive_int(self.n_resamples_level, "n_resamples_level"))
        _set(self, "alpha", check_number(
            self.alpha, "alpha", "a number in (0, 1)", low=0, high=1, low_open=True,
            high_open=True,
        ))
        _set(self, "n_bandwidths", check_positive_int(self.n_bandwidths, "n_bandwidths"))
        _set(self, "bandwidths", check_bandwidths(self.bandwidths))
        if self.bandwidth_factors is not None:
            if self.bandwidths != "auto":
                raise ValueError(
                    "Give either `bandwidths` or `bandwidth_factors`, not both; got "
                    f"bandwidths={self.bandwidths!r} and "
                    f"bandwidth_factors={self.bandwidth_factors!r}."
                )
            factors = check_factors(self.bandwidth_factors)
            _set(self, "bandwidth_factors", tuple(float(f) for f in factors))
        if self.weights is None:
            _set(self, "weights", "uniform")
        if isinstance(self.weights, str):
            weight_vector(self.weights, 1)  # an unknown scheme raises here
        else:
            weights = check_weights(self.weights, self.shape())
            _set(self, "weights", tuple(tuple(float(w) for w in row) for row in weights))
        _check_batch_size(self)

    def shape(self) -> tuple[int, int]:
        """``(J_x, J_y)``: the bandwidths of x and of y."""
        if self.bandwidth_factors is not None:
            return len(self.bandwidth_factors), len(self.bandwidth_factors)
        if self.bandwidths == "auto":
            return self.n_bandwidths, self.n_bandwidths
        return len(self.bandwidths[0]), len(self.bandwidths[1])

    def level_resamples(self) -> int:
        """B₂: ``n_resamples_level``, or ``n_resamples`` when it is ``None``."""
        return self.n_resamples if self.n_resamples_level is None else self.n_resamples_level

    def weight_matrix(self) -> np.ndarray:
        """The normalised ``(J_x, J_y)`` weights of the bandwidth pairs."""
        if isinstance(self.weights, str):
            return pair_weights(self.weights, self.shape())
        # normalised once, at construction: normalising again would move some by an ulp
        return np.asarray(self.weights, dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class Aggregated(_Aggregating):
    """HSICAgg (Schrab et al. 2022): permutation tests over a collection of bandwidth
    pairs, aggregated with a level correction, with a valid p-value.

    By default the collection spans each variable's inter-sample distances (10 bandwidths per
    variable, 100 pairs); ``bandwidth_factors=`` gives the factor grid around the median
    bandwidth instead. The cost is ``(B₁ + B₂)`` permutations of ``J_x + J_y`` Gram matrices
    and ``J_x·J_y`` sums each, and ``J_x + J_y`` matrices of n² in memory.

    Args:
      n_resamples: B₁, the resamples shared by all bandwidth pairs (the quantile set).
        With ``pair_pvalues="empirical"``, the per-pair p-values lie on the grid
        ``k/(1 + B₁)``: take B₁ well above ``(number of pairs)/alpha``, else the test is
        conservative (see the module ``hsic._nulls.aggregated``).
      n_resamples_level: B₂, the second, independent set that corrects the level and gives
        the p-value; ``None``: ``n_resamples``.
      alpha: the level of the reported decision (``info["reject"]``, ``info["u_alpha"]``);
        the p-value does not depend on it.
      bandwidths: ``"auto"`` (default): for each variable, ``n_bandwidths`` bandwidths spaced
        geometrically from half the 5 % quantile to twice the 95 % quantile of its non-zero
        inter-sample distances (on the median heuristic's subsample); the kernels' family
        (Gaussian or Laplace) is used, their bandwidth is not. Or a pair
        ``(bandwidths_x, bandwidths_y)`` of sequences, in the data's units.
      n_bandwidths: J, the bandwidths per variable of ``"auto"``: the test runs over the
        ``J²`` pairs, and its cost grows with them.
      bandwidth_factors: instead of ``bandwidths``, the grid of multiples of each kernel's
        fitted bandwidth (the median heuristic by default), used for x and for y, e.g.
        ``(0.25, 0.5, 1, 2, 4)``, the default of earlier versions.
      weights: the weights of the bandwidth pairs (normalised to sum 1): ``"uniform"``
        (default; ``None`` too), ``"increasing"``, ``"decreasing"`` or ``"centred"`` (the
        product of MMDAgg's schemes over the ordered bandwidths of x and of y), or a
        ``(J_x, J_y)`` array of positive weights.
      pair_pvalues: the per-pair p-values that are aggregated. ``"fitted"`` (default): the
        upper tail of the Pearson type III law matched to the mean, variance and skewness
        of the pair's B₁ resampled statistics, which has no floor at ``1/(1 + B₁)``, so the
        level correction does not fight the resampling grid (measured: more power, and
        p-values down to ``1/(1 + B₂)``). ``"empirical"``: HSICAgg's, the pair's rank among
        its B₁ resamples. Either way the p-value is exact: the aggregated statistic is
        calibrated against the B₂ level set.
      batch_size: resamples per device call (the result does not depend on it).
    """

    name: ClassVar[str] = "aggregated"


@dataclasses.dataclass(frozen=True)
class AggregatedIncomplete(_Aggregating):
    """HSICAggInc (Schrab, Kim, Guedj, Gretton 2022): the aggregated test on
    incomplete U-statistics, in linear time and memory.

    Each bandwidth pair's statistic is an incomplete U-statistic of HSIC over a design of
    about ``R·n/2`` pairs of rows (the first R superdiagonals of the halves of the sample),
    its null the wild bootstrap (Rademacher signs shared by every pair); the aggregation, the
    level correction and the p-value are those of [`Aggregated`][hsic.Aggregated]. It costs
    ``O(n·R·J_x·J_y·(B₁ + B₂))`` operations and ``O(n)`` memory. The statistic uses only
    ``R·n/2`` of the ``n²/2`` pairs: below ``n`` of a few thousand, ``"aggregated"`` has more
    power for the same data. See the module ``hsic._nulls.incomplete``.

    Args:
      n_diagonals: R, the superdiagonals of the design (``R ≥ n/2 − 1``: every pair, the
        complete U-statistic).
      n_resamples: B₁, the wild-bootstrap draws shared by all bandwidth pairs.
      n_bandwidths: J, the bandwidths per variable of ``"auto"`` (5 here: 25 pairs).

    The other options (``n_resamples_level``, ``alpha``, ``bandwidths``,
    ``bandwidth_factors``, ``weights``, ``pair_pvalues``, ``batch_size``) are those of
    [`Aggregated`][hsic.Aggregated].
    """

    name: ClassVar[str] = "aggregated_incomplete"

    n_resamples: int = 500
    n_bandwidths: int = 5
    n_diagonals: int = 200

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "n_diagonals", check_positive_int(self.n_diagonals, "n_diagonals"))


@dataclasses.dataclass(frozen=True)
class WildBootstrap(Method):
    """The wild bootstrap for stationary time series (Chwialkowski, Sejdinovic, Gretton 2014):
    the rows are in time order, and a centred AR(1) multiplier process of correlation
    ``e^{−|s−t|/ℓ}`` replaces the permutations, which would break the serial dependence.

    Args:
      n_resamples: B, the number of bootstrap replicates.
      length: ℓ, the correlation length of the multiplier process; ``None``: chosen from the
        data (see [`hsic.test`][hsic.test]; recorded in ``res.info``).
      batch_size: replicates per device call (the result does not depend on it).
    """

    name: ClassVar[str] = "wild_bootstrap"

    n_resamples: int = 1000
    length: float | None = None
    batch_size: int | None = None

    def __post_init__(self) -> None:
        _set(self, "n_resamples", check_positive_int(self.n_resamples, "n_resamples"))
        _set(self, "length", check_length(self.length))
        _check_batch_size(self)


@dataclasses.dataclass(frozen=True)
class _FeatureMethod(Method):
    n_features: int = 100
    null: Literal["spectral", "permutation"] = "spectral"
    n_resamples: int = 1000

    def __post_init__(self) -> None:
        check_choice(self.null, "null", FEATURE_NULLS)
        _set(self, "n_resamples", check_positive_int(self.n_resamples, "n_resamples"))


@dataclasses.dataclass(frozen=True)
class RFF(_FeatureMethod):
    """Random Fourier features of the Gaussian kernels (Zhang et al. 2018): the statistic
    ``‖Φ̃ᵀΨ̃‖²_F/n²`` costs O(n·D²).

    Args:
      n_features: D, an even number of features per variable.
      null: ``"spectral"`` (``n_resamples`` draws of the asymptotic weighted chi-square law,
        costing nothing in n) or ``"permutation"`` (permuting rows of the features, O(n·D²)
        each).
      n_resamples: the number of spectral draws or permutations.
    """

    name: ClassVar[str] = "rff"

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "n_features", check_n_features(self.n_features))


@dataclasses.dataclass(frozen=True)
class Nystrom(_FeatureMethod):
    """Nyström features of any kernel but ``"precomputed"`` (Zhang et al. 2018), from
    ``n_features`` = m landmarks per variable drawn uniformly from ``rng``; the same nulls as
    [`RFF`][hsic.RFF].

    Args:
      n_features: m, the number of landmarks per variable (at most n); ``None`` (default):
        ``min(100, n)``.
      null: ``"spectral"`` or ``"permutation"``.
      n_resamples: the number of spectral draws or permutations.
    """

    name: ClassVar[str] = "nystrom"

    n_features: int | None = None  # type: ignore[assignment]  # None: min(100, n)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_features is not None:
            _set(self, "n_features", check_positive_int(self.n_features, "n_features"))

    def landmarks(self, n: int) -> int:
        """m for n samples: ``n_features``, or ``min(100, n)`` when it is ``None``."""
        return min(100, n) if self.n_features is None else self.n_features


@dataclasses.dataclass(frozen=True)
class Block(Method):
    """Block HSIC (Zhang et al. 2018): the average of unbiased HSICs over blocks of ``size``
    consecutive rows, with its normal null, whose variance is computed exactly; no
    randomness. Shuffle the rows first if their order is not random.

    Args:
      size: rows per block, 4 to n/2; ``None``: ``max(4, ⌊√n⌋)``.
    """

    name: ClassVar[str] = "block"

    size: int | None = None

    def __post_init__(self) -> None:
        _set(self, "size", check_block_size(self.size, "size"))


def as_method(method: Any, allowed: Mapping[str, type[Method]], *, test: str) -> Method:
    """A method object for ``method``: one of ``allowed``'s classes, or the name of one.

    Args:
      method: a method object or name (case-insensitive: ``"Gamma"`` is ``"gamma"``).
      allowed: the methods the calling test takes, by name.
      test: the calling test's name, for the error.

    Example:
      >>> from hsic._api.methods import Gamma, Permutation, as_method
      >>> as_method("gamma", {"permutation": Permutation, "gamma": Gamma}, test="hsic.test")
      Gamma()
    """
    if isinstance(method, str) and method.lower() in allowed:
        return allowed[method.lower()]()  # names are case-insensitive, as kernel names are
    if isinstance(method, tuple(allowed.values())):
        return cast(Method, method)  # an instance of one of allowed's classes
    names = ", ".join(repr(name) for name in allowed)
    classes = ", ".join(f"hsic.{cls.__name__}(...)" for cls in allowed.values())
    raise ValueError(
        f"`method` of {test} must be one of {names}, or one of {classes}; got {method!r}."
    )


# --------------------------------------------------------------------------------------------
# The methods of the conditional test
# --------------------------------------------------------------------------------------------

#: The nulls of the conditional tests: approximations to a weighted chi-square mixture.
CONDITIONAL_NULLS = ("gamma", "hbe", "simulated")


def _check_conditional(obj: Any) -> None:
    check_choice(obj.null, "null", CONDITIONAL_NULLS)
    _set(obj, "epsilon", check_positive_float(obj.epsilon, "epsilon"))
    _set(obj, "n_resamples", check_positive_int(obj.n_resamples, "n_resamples"))


@dataclasses.dataclass(frozen=True)
class KCI(Method):
    """The kernel conditional independence test (Zhang et al. 2011), for
    [`hsic.conditional_test`][hsic.conditional_test]. O(n³) time.

    Args:
      null: the approximation to the statistic's weighted chi-square null: ``"gamma"`` (two
        moments), ``"hbe"`` (Hall–Buckley–Eagleson, three moments) or ``"simulated"``
        (``n_resamples`` draws).
      epsilon: ε, the regulariser of the kernel ridge regression on z (causal-learn's and
        the authors' value by default).
      n_resamples: the number of draws of the simulated null (``null="simulated"`` only).

    Example:
      >>> import hsic
      >>> hsic.KCI(null="hbe")
      KCI(null='hbe', epsilon=0.001, n_resamples=5000)
    """

    name: ClassVar[str] = "kci"

    null: Literal["gamma", "hbe", "simulated"] = "gamma"
    epsilon: float = 1e-3
    n_resamples: int = 5000

    def __post_init__(self) -> None:
        _check_conditional(self)


#: The z-features of RCIT and RCoT by default: ``Z_FEATURES_PER_ROOT_N · √n``, at least
#: ``Z_FEATURES_MIN`` (the authors' 100) and at most ``Z_FEATURES_MAX``.
Z_FEATURES_PER_ROOT_N = 4
Z_FEATURES_MIN = 100
Z_FEATURES_MAX = 2000


@dataclasses.dataclass(frozen=True)
class _RandomFeatureCI(Method):
    null: Literal["gamma", "hbe", "simulated"] = "hbe"
    epsilon: float = 1e-10
    n_features: int | None = None
    n_features_xy: int = 6
    n_resamples: int = 5000

    def __post_init__(self) -> None:
        _check_conditional(self)
        if self.n_features is not None:
            _set(self, "n_features", check_n_features(self.n_features))
        _set(self, "n_features_xy", check_n_features(self.n_features_xy, "n_features_xy"))

    def z_features(self, n: int) -> int:
        """D_z, the random features of z for n samples: ``n_features``, or, when it is
        ``None``, ``4√n`` rounded up to an even number, within ``[100, 2000]``.

        Why it grows with n: the ridge regression on D_z features leaves a bias ``b_x(z)`` in
        x's residuals and ``b_y(z)`` in y's, of squared size about ``1/D_z``; under
        conditional independence the partial cross-covariance then tends to
        ``Cov(b_x, b_y) ~ 1/D_z``, and the statistic, n times its square, to about
        ``n/D_z²``, which the null does not allow for. ``D_z ∝ √n`` keeps it bounded.
        Measured (RCoT, n = 10⁴, ``y = z² + noise``, ``x = sin 2z + noise``, 200 data sets):
        rejection rate at α = 0.05 of 0.27 with D_z = 100, 0.10 with 200, 0.05 with 400.

        Example:
          >>> import hsic
          >>> [hsic.RCIT().z_features(n) for n in (500, 10_000, 100_000)]
          [100, 400, 1266]
        """
        if self.n_features is not None:
            return self.n_features
        root = math.ceil(Z_FEATURES_PER_ROOT_N * math.sqrt(n) / 2.0) * 2
        return int(min(max(root, Z_FEATURES_MIN), Z_FEATURES_MAX))


@dataclasses.dataclass(frozen=True)
class RCIT(_RandomFeatureCI):
    """RCIT (Strobl et al. 2019): KCI approximated with random Fourier features, for
    [`hsic.conditional_test`][hsic.conditional_test]; y's features are of (y, z). O(n·D²) time.

    Args:
      null: ``"gamma"``, ``"hbe"`` (the default) or ``"simulated"``.
      epsilon: ε, the ridge of the regression on z's features (Strobl's code's value).
      n_features: the number of random Fourier features of z (even); ``None`` (default):
        ``4√n`` within ``[100, 2000]`` (``z_features``), so that the regression's bias does
        not grow into a false rejection as n grows. The authors' fixed 100 is
        ``n_features=100``.
      n_features_xy: the number of features of x and of y (even).
      n_resamples: the number of draws of the simulated null (``null="simulated"`` only).
    """

    name: ClassVar[str] = "rcit"


@dataclasses.dataclass(frozen=True)
class RCoT(_RandomFeatureCI):
    """RCoT (Strobl et al. 2019), the variant of [`RCIT`][hsic.RCIT] the authors recommend:
    y's features are of y alone. The same options as ``RCIT``.

    Args:
      null: ``"gamma"``, ``"hbe"`` (the default) or ``"simulated"``.
      epsilon: ε, the ridge of the regression on z's features.
      n_features: the number of random Fourier features of z (even); ``None`` (default):
        ``4√n`` within ``[100, 2000]`` (``RCIT.z_features``).
      n_features_xy: the number of features of x and of y (even).
      n_resamples: the number of draws of the simulated null (``null="simulated"`` only).
    """

    name: ClassVar[str] = "rcot"
