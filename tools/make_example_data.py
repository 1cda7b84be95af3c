"""Regenerate hsic/data/*.csv, the small synthetic example datasets shipped with the package.

Run from the repository root: ``python tools/make_example_data.py``.
"""

import numpy as np

rng = np.random.default_rng(20261125)
n = 150
# "ring": points on a noisy circle. x and y are uncorrelated (Pearson r ≈ 0) but dependent.
angle = rng.uniform(0, 2 * np.pi, n)
radius = 1 + 0.1 * rng.normal(size=n)
ring = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
# "independent": two independent Gaussian variables.
independent = rng.normal(size=(n, 2))
for name, data in {"ring": ring, "independent": independent}.items():
    np.savetxt(f"hsic/data/{name}.csv", data, delimiter=",", header="x,y", comments="", fmt="%.6f")
