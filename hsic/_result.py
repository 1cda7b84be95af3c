"""The result object of every HSIC independence test, ``HSICTestResult``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from hsic._stats import kernels as _kernels

__all__ = ["HSICTestResult"]

#: What ``statistic`` is, for each method whose statistic is not the biased HSIC.
STATISTIC_NAMES = {
    "rff": "approximate biased HSIC",
    "nystrom": "approximate biased HSIC",
    "block": "block average of unbiased HSIC",
}


def _bandwidth(kernel: _kernels.Kernel) -> float | None:
    value = getattr(kernel, "bandwidth", None)
    return None if value is None else float(value)


@dataclasses.dataclass(frozen=True, repr=False)
class HSICTestResult:
    """Result of an HSIC independence test.

    Attributes:
      statistic: the observed statistic: the biased ``HSIC_b = tr(KHLH)/n²``, except for
        ``method="rff"`` and ``"nystrom"`` (``HSIC_b`` of the approximate Gram matrices,
        ``‖Φ̃ᵀΨ̃‖²_F/n²``) and ``"block"`` (the block average of unbiased HSICs).
      pvalue: the p-value of the null hypothesis "x and y are independent".
      null_distribution: the statistic of each permuted sample (``"permutation"``;
        ``"aggregated"``, for the most significant bandwidth pair; ``"rff"``/``"nystrom"``
        with ``null="permutation"``), of each wild bootstrap replicate
        (``"wild_bootstrap"``), the simulated null draws (``null="spectral"``), or ``None``
        (``"gamma"``, ``"block"``).
      method: the test's method (see [`hsic.test`][hsic.test]).
      n: the number of samples.
      kernel_x: the fitted kernel of x (its bandwidth is the one actually used).
      kernel_y: the fitted kernel of y.
      n_permutations: B, the number of permutations, or ``None`` where none were drawn.
      gamma_shape: shape of the gamma law approximating the null of ``statistic`` (gamma only).
      gamma_scale: scale of that law (gamma only). ``n·statistic`` has scale
        ``n·gamma_scale``, as in Gretton et al. (2008).
      info: method-specific details (plain JSON-serialisable values), empty for the
        permutation and gamma methods. ``"aggregated"``: the bandwidth grid, every pair's
        statistic and p-value, ``u_alpha`` and the decision; ``"rff"``/``"nystrom"``:
        ``null``, ``n_features``, ``n_null_samples``; ``"block"``: ``block_size``,
        ``n_blocks`` and ``null_std`` (the null standard deviation of ``statistic``);
        ``"wild_bootstrap"``: ``wild_bootstrap_length`` (ℓ), ``length_rule`` (``"data"`` or
        ``"given"``), ``autocorrelation_x`` and ``autocorrelation_y`` (the lag-1
        autocorrelations behind ℓ), ``variance_correction`` (c_ℓ) and ``multipliers``.
    """

    statistic: float
    pvalue: float
    null_distribution: np.ndarray | None
    method: str
    n: int
    kernel_x: _kernels.Kernel
    kernel_y: _kernels.Kernel
    n_permutations: int | None = None
    gamma_shape: float | None = None
    gamma_scale: float | None = None
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def bandwidth_x(self) -> float | None:
        """The bandwidth used for x, or ``None`` for kernels without one."""
        return _bandwidth(self.kernel_x)

    @property
    def bandwidth_y(self) -> float | None:
        """The bandwidth used for y, or ``None`` for kernels without one."""
        return _bandwidth(self.kernel_y)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Draw the null law and the observed statistic: ``hsic.plot.null_distribution(self)``.

        See [`hsic.plot.null_distribution`][hsic.plot.null_distribution] (needs matplotlib:
        ``pip install "hsic[plot]"``).
        """
        from hsic import plot

        return plot.null_distribution(self, ax=ax, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary (without the null distribution)."""
        return {
            "statistic": self.statistic,
            "pvalue": self.pvalue,
            "method": self.method,
            "n": self.n,
            "n_permutations": self.n_permutations,
            "kernel_x": _kernels.kernel_params(self.kernel_x),
            "kernel_y": _kernels.kernel_params(self.kernel_y),
            "gamma_shape": self.gamma_shape,
            "gamma_scale": self.gamma_scale,
            "info": dict(self.info),
        }

    def __repr__(self) -> str:
        if self.method in ("permutation", "aggregated"):
            detail = f"{self.n_permutations} permutations"
        elif self.method == "wild_bootstrap":
            detail = f"{self.n_permutations} bootstrap samples"
        elif self.method == "gamma":
            detail = f"shape={self.gamma_shape:.4g}, scale={self.gamma_scale:.4g}"
        else:
            detail = ", ".join(
                f"{k}={v!r}" for k, v in self.info.items() if isinstance(v, (str, int))
            )
        what = STATISTIC_NAMES.get(self.method, "biased HSIC")
        lines = [
            f"HSICTestResult(method={self.method!r}, {detail})",
            f"  n          = {self.n}",
            f"  statistic  = {self.statistic:.6g}   ({what})",
            f"  pvalue     = {self.pvalue:.4g}",
            f"  kernel_x   = {_describe(self.kernel_x)}",
            f"  kernel_y   = {_describe(self.kernel_y)}",
        ]
        return "\n".join(lines)


def _describe(kernel: _kernels.Kernel) -> str:
    params = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in _kernels.kernel_params(kernel).items()
        if k not in ("name", "factor")
    )
    return f"{type(kernel).__name__}({params})"
