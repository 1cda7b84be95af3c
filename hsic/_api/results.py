"""The result objects of the tests: one base, ``TestResult``, and its four extensions.

Every test returns a frozen dataclass with ``statistic``, ``pvalue``, ``null_distribution``
(``None`` where the method has none), ``method`` (the method's name), ``n`` and ``info``
(method-specific details, plain JSON-serialisable values), plus the fields of its kind: the
fitted kernels, or the pairwise matrices. It unpacks like scipy's results
(``stat, p = res``); ``repr`` is one line and ``str`` the readable block; ``plot()`` draws the
null law (the heatmap for pairwise results); ``to_dict()``, ``repr``, ``str`` and ``plot`` are
written once, here, for all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np

from hsic._api import figures
from hsic._stats import kernels as _kernels

__all__ = [
    "ConditionalTestResult",
    "HSICTestResult",
    "JointTestResult",
    "PairwiseResult",
    "TestResult",
    "describe_kernel",
]

#: What ``statistic`` is, for each method of ``hsic.test`` whose statistic is not HSIC_b.
STATISTIC_NAMES = {
    "rff": "approximate biased HSIC",
    "nystrom": "approximate biased HSIC",
    "block": "block average of unbiased HSIC",
}


def describe_kernel(kernel: _kernels.Kernel) -> str:
    """A one-line description of a fitted kernel, e.g. ``Gaussian(bandwidth=0.8137)``."""
    params = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in _kernels.kernel_params(kernel).items()
        if k not in ("name", "factor")
    )
    return f"{type(kernel).__name__}({params})"


def bandwidth_of(kernel: _kernels.Kernel) -> float | None:
    """The kernel's bandwidth as a float, or ``None`` for kernels without one."""
    value = getattr(kernel, "bandwidth", None)
    return None if value is None else float(value)


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON values: kernels as their parameters, arrays as nested lists
    (NaN as ``None``), NumPy scalars as Python numbers."""
    if isinstance(value, _kernels.Kernel):
        return _kernels.kernel_params(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            # None (JSON null) for NaN, in an object array; numpy's stubs take no None here
            return np.where(  # type: ignore[call-overload]
                np.isnan(value), None, value.astype(object)
            ).tolist()
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _format(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def _short(value: Any) -> str:
    """A number as ``.6g``, an array as its shape (for the one-line ``repr``)."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return f"<array {'x'.join(str(k) for k in value.shape)}>"
    try:
        return f"{float(value):.6g}"
    except (TypeError, ValueError):
        return repr(value)


@dataclasses.dataclass(frozen=True, repr=False, kw_only=True)
class TestResult:
    """The fields every test result has.

    Attributes:
      statistic: the observed statistic (see each test).
      pvalue: the p-value of the null hypothesis of independence.
      null_distribution: the resampled or simulated null statistics, or ``None`` where the
        method has none (gamma and normal approximations).
      method: the name of the test's method, e.g. ``"permutation"``.
      n: the number of samples.
      info: method-specific details, plain JSON-serialisable values (for example
        ``n_resamples``, or ``gamma_shape`` and ``gamma_scale``); see each method.
    """

    __test__: ClassVar[bool] = False  # not a test class, whatever pytest thinks of the name
    #: The fields holding fitted kernels (one kernel, or a tuple of them), in display order.
    kernel_fields: ClassVar[tuple[str, ...]] = ()

    statistic: Any
    pvalue: Any
    null_distribution: np.ndarray | None
    method: str
    n: int
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __iter__(self) -> Iterator[Any]:
        """``stat, p = result``, as with scipy's tests."""
        return iter((self.statistic, self.pvalue))

    @property
    def statistic_name(self) -> str:
        """What ``statistic`` is, for the summary."""
        return "statistic"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary of every field but the null distribution."""
        return {
            f.name: jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name != "null_distribution"
        }

    def summary_lines(self) -> list[str]:
        """The body of the ``repr``: the statistic and p-value (matrices extend this)."""
        return [
            f"  statistic  = {self.statistic:.6g}   ({self.statistic_name})",
            f"  pvalue     = {self.pvalue:.4g}",
        ]

    def __repr__(self) -> str:
        """One line: the class, statistic, p-value, method and n (``str`` gives the block)."""
        return (
            f"{type(self).__name__}(statistic={_short(self.statistic)}, "
            f"pvalue={_short(self.pvalue)}, method={self.method!r}, n={self.n})"
        )

    def __str__(self) -> str:
        """The readable block: the method and its scalar details, n, the statistic and
        p-value, and the kernels."""
        scalars = [
            f"{k}={_format(v)}" for k, v in self.info.items()
            if isinstance(v, (str, int, float)) and not isinstance(v, bool)
        ]
        lines = [
            f"{type(self).__name__}(method={self.method!r}{''.join(', ' + s for s in scalars)})",
            f"  n          = {self.n}",
            *self.summary_lines(),
        ]
        for name in self.kernel_fields:
            value = getattr(self, name)
            if isinstance(value, tuple):
                lines += [f"  kernel[{j}]  = {describe_kernel(k)}" for j, k in enumerate(value)]
            else:
                lines.append(f"  {name:<10} = {describe_kernel(value)}")
        return "\n".join(lines)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Draw the null law and the observed statistic: ``hsic.plot.null_distribution(self)``.

        See [`hsic.plot.null_distribution`][hsic.plot.null_distribution] (needs matplotlib:
        ``pip install ".[plot]"``). With no ``ax``, the figure is a pyplot figure when
        ``matplotlib.pyplot`` has been imported (so it shows in Jupyter and with
        ``plt.show()``), else a standalone one.

        Returns:
          The matplotlib ``Axes``.
        """
        return figures.null_distribution(self, ax=ax, **kwargs)


class _PairBandwidths:
    """``bandwidth_x`` and ``bandwidth_y`` of a result with fields ``kernel_x`` and ``kernel_y``."""

    kernel_x: _kernels.Kernel
    kernel_y: _kernels.Kernel

    @property
    def bandwidth_x(self) -> float | None:
        """The bandwidth used for x, or ``None`` for kernels without one."""
        return bandwidth_of(self.kernel_x)

    @property
    def bandwidth_y(self) -> float | None:
        """The bandwidth used for y, or ``None`` for kernels without one."""
        return bandwidth_of(self.kernel_y)


@dataclasses.dataclass(frozen=True, repr=False, kw_only=True)
class HSICTestResult(_PairBandwidths, TestResult):
    """Result of an HSIC independence test ([`hsic.test`][hsic.test]).

    Attributes:
      statistic: the biased ``HSIC_b = tr(KHLH)/n²``, except for ``"rff"`` and ``"nystrom"``
        (``HSIC_b`` of the approximate Gram matrices, ``‖Φ̃ᵀΨ̃‖²_F/n²``) and ``"block"`` (the
        block average of unbiased HSICs).
      pvalue: the p-value of "x and y are independent".
      null_distribution: the statistic of each permuted sample (``"permutation"``;
        ``"aggregated"``, for the most significant bandwidth pair; ``"rff"``/``"nystrom"``
        with ``null="permutation"``), of each wild bootstrap replicate
        (``"wild_bootstrap"``), the simulated null draws (``null="spectral"``), or ``None``
        (``"gamma"``, ``"block"``).
      method: the method's name (see [`hsic.test`][hsic.test]).
      n: the number of samples.
      kernel_x: the fitted kernel of x (its bandwidth is the one actually used).
      kernel_y: the fitted kernel of y.
      info: the method's details. ``n_resamples`` (B) for every resampling method;
        ``"gamma"``: ``gamma_shape`` and ``gamma_scale``, the gamma law of ``statistic``
        (``n·statistic`` has scale ``n·gamma_scale``, as in Gretton et al. 2008);
        ``"aggregated"``: the bandwidth grid, every pair's statistic and p-value,
        ``u_alpha`` and the decision; ``"rff"``/``"nystrom"``: ``null`` and ``n_features``;
        ``"block"``: ``block_size``, ``n_blocks`` and ``null_std``; ``"wild_bootstrap"``:
        ``length`` (ℓ), ``length_rule``, the lag-1 autocorrelations behind ℓ and
        ``variance_correction``.

    Example:
      >>> import numpy as np, hsic
      >>> x = np.linspace(-1, 1, 50)
      >>> stat, p = hsic.test(x, x**2, method=hsic.Permutation(n_resamples=99))
      >>> p
      0.01
    """

    kernel_fields: ClassVar[tuple[str, ...]] = ("kernel_x", "kernel_y")

    kernel_x: _kernels.Kernel
    kernel_y: _kernels.Kernel

    @property
    def statistic_name(self) -> str:
        """What ``statistic`` is, for the summary."""
        return STATISTIC_NAMES.get(self.method, "biased HSIC")


@dataclasses.dataclass(frozen=True, repr=False, kw_only=True)
class JointTestResult(TestResult):
    """Result of a joint independence test ([`hsic.joint_test`][hsic.joint_test]).

    Attributes:
      statistic: the observed dHSIC (a V-statistic; for d = 2 the biased HSIC).
      pvalue: the p-value of "x_1, ..., x_d are jointly independent".
      null_distribution: dHSIC of each permuted or bootstrapped sample, or ``None`` (gamma).
      method: ``"permutation"``, ``"bootstrap"`` or ``"gamma"``.
      n: the number of samples.
      kernels: the fitted kernel of each variable (bandwidths are the ones actually used).
      info: ``d``; ``n_resamples`` for the resampling methods; for the gamma method
        ``gamma_shape`` and ``gamma_scale`` (the gamma law of ``statistic``; ``n·statistic``
        has scale ``n·gamma_scale``, as in Pfister et al. 2018), ``null_mean`` and
        ``null_variance``.
    """

    kernel_fields: ClassVar[tuple[str, ...]] = ("kernels",)

    kernels: tuple[_kernels.Kernel, ...]

    @property
    def statistic_name(self) -> str:
        """What ``statistic`` is, for the summary."""
        return "dHSIC"

    @property
    def d(self) -> int:
        """The number of variables."""
        return len(self.kernels)

    @property
    def bandwidths(self) -> tuple[float | None, ...]:
        """The bandwidth used for each variable (``None`` for kernels without one)."""
        return tuple(bandwidth_of(k) for k in self.kernels)


@dataclasses.dataclass(frozen=True, repr=False, kw_only=True)
class ConditionalTestResult(_PairBandwidths, TestResult):
    """Result of a conditional independence test
    ([`hsic.conditional_test`][hsic.conditional_test]).

    Attributes:
      statistic: KCI's ``tr(K̃_{ẍ|z} K̃_{y|z})/n``, or RCIT's ``n·‖Ĉ_{xy·z}‖²_F``.
      pvalue: the p-value of "x and y are independent given z".
      null_distribution: the simulated null draws (``null="simulated"``), else ``None``.
      method: ``"kci"``, ``"rcit"`` or ``"rcot"``.
      n: the number of samples.
      kernel_x: the fitted kernel of x (KCI: of ẍ = (x, z/2); all on standardised data).
      kernel_y: the fitted kernel of y (RCIT: of ÿ = (y, z)).
      kernel_z: the fitted kernel of z.
      info: ``null`` (``"gamma"``, ``"hbe"`` or ``"simulated"``), ``epsilon``, the null mean
        and variance of the statistic (``null_mean``, ``null_variance``); ``gamma_shape`` and
        ``gamma_scale``
        (``null="gamma"``: the law is ``scipy.stats.gamma(gamma_shape, scale=gamma_scale)``),
        ``hbe_dof`` (ν, ``null="hbe"``), ``n_resamples`` (``null="simulated"``), and the
        numbers of features (RCIT).
    """

    kernel_fields: ClassVar[tuple[str, ...]] = ("kernel_x", "kernel_y", "kernel_z")

    kernel_x: _kernels.Kernel
    kernel_y: _kernels.Kernel
    kernel_z: _kernels.Kernel

    @property
    def statistic_name(self) -> str:
        """What ``statistic`` is, for the summary."""
        return "tr(K̃ẍ|z K̃y|z)/n" if self.method == "kci" else "n·‖C_xy·z‖²"

    @property
    def bandwidth_z(self) -> float | None:
        """The bandwidth used for z, or ``None`` for kernels without one."""
        return bandwidth_of(self.kernel_z)


@dataclasses.dataclass(frozen=True, repr=False, kw_only=True)
class PairwiseResult(TestResult):
    """HSIC tests of many pairs of columns ([`hsic.pairwise`][hsic.pairwise]).

    Rows index the columns of X, columns those of Y (or of X again when ``Y`` was ``None``).

    Attributes:
      statistic: ``(p, q)`` biased HSIC of each pair. With ``Y=None`` the diagonal is NaN
        (a column is not tested against itself) and the matrix is symmetric.
      pvalue: ``(p, q)`` p-values, unadjusted (NaN on the diagonal with ``Y=None``).
      null_distribution: ``None`` (each pair's null is only counted against, not kept).
      method: ``"permutation"`` or ``"gamma"``.
      n: the number of samples.
      pvalue_adjusted: ``(p, q)`` adjusted p-values (``adjust``), or ``None``.
      adjust: ``"bh"``, ``"bonferroni"`` or ``None``.
      names_x: the names of the columns of X (a DataFrame's column names, else
        ``"x0", "x1", …``).
      names_y: the names of the columns of Y (``names_x`` when ``Y`` was ``None``; else a
        DataFrame's, or ``"y0", "y1", …``).
      bandwidths_x: the bandwidth of each column of X, or ``None`` for kernels without one.
      bandwidths_y: the same for Y.
      n_tests: how many distinct pairs were tested (the m of the adjustment).
      symmetric: whether X was tested against itself (``Y=None``).
      info: ``n_resamples`` (B) for the permutation method.
    """

    pvalue_adjusted: np.ndarray | None
    adjust: str | None
    names_x: tuple[str, ...]
    names_y: tuple[str, ...]
    bandwidths_x: np.ndarray | None
    bandwidths_y: np.ndarray | None
    n_tests: int
    symmetric: bool = False

    def pairs(self) -> list[dict[str, Any]]:
        """The tested pairs as records, sorted by p-value (adjusted, when there is one)."""
        p, q = self.pvalue.shape
        rows, cols = np.triu_indices(p, 1) if self.symmetric else np.indices((p, q)).reshape(2, -1)
        key = self.pvalue if self.pvalue_adjusted is None else self.pvalue_adjusted
        order = np.lexsort((-self.statistic[rows, cols], key[rows, cols]))
        out = []
        for k in order:
            i, j = int(rows[k]), int(cols[k])
            record = {
                "x": self.names_x[i],
                "y": self.names_y[j],
                "statistic": float(self.statistic[i, j]),
                "pvalue": float(self.pvalue[i, j]),
            }
            if self.pvalue_adjusted is not None:
                record["pvalue_adjusted"] = float(self.pvalue_adjusted[i, j])
            out.append(record)
        return out

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Heatmap of the matrices: ``hsic.plot.pairwise(self)`` (see
        [`hsic.plot.pairwise`][hsic.plot.pairwise]; needs matplotlib).

        Returns:
          The matplotlib ``Axes``.
        """
        return figures.pairwise(self, ax=ax, **kwargs)

    def summary_lines(self) -> list[str]:
        """The matrix shape and the five most significant pairs."""
        p, q = self.pvalue.shape
        lines = [f"  {p} x {q} columns, {self.n_tests} pairs tested, adjust={self.adjust!r}"]
        key = "pvalue_adjusted" if self.pvalue_adjusted is not None else "pvalue"
        top = self.pairs()[:5]
        if top:
            lines.append(f"  smallest {key}:")
            lines += [
                f"    {r['x']} ~ {r['y']}: statistic={r['statistic']:.4g}, {key}={r[key]:.4g}"
                for r in top
            ]
        return lines
