"""Small example datasets shipped with the package, for demos, docs and smoke tests.

They are synthetic, made by ``tools/make_example_data.py`` with a fixed seed, and stored as
CSV files in ``hsic/data/``:

* ``"ring"``: 150 points on a noisy circle. x and y are uncorrelated (Pearson r ≈ 0) but
  clearly dependent, the classic case a correlation test misses and HSIC finds.
* ``"independent"``: 150 draws of two independent standard normal variables.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

__all__ = ["EXAMPLES", "load_example"]

EXAMPLES = ("ring", "independent")


def load_example(name: str = "ring") -> tuple[np.ndarray, np.ndarray]:
    """Load an example dataset as two 1-D arrays ``(x, y)``.

    Args:
      name: ``"ring"`` or ``"independent"``.

    Example:
      >>> import hsic
      >>> x, y = hsic.load_example("ring")
      >>> x.shape, y.shape
      ((150,), (150,))
    """
    if name not in EXAMPLES:
        allowed = ", ".join(repr(e) for e in EXAMPLES)
        raise ValueError(f"`name` must be one of {allowed}; got {name!r}.")
    with resources.files("hsic").joinpath(f"data/{name}.csv").open() as f:
        data = np.loadtxt(f, delimiter=",", skiprows=1)
    return data[:, 0], data[:, 1]
