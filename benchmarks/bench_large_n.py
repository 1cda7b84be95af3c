"""Exact HSIC at large n: time, peak memory and accuracy of the tiled statistic.

For each n, a fresh subprocess computes ``hsic.hsic(x, y)`` (float32, tiled, median
bandwidths) on x ~ N(0, I_d), y = sin(x₁) + noise, d = 10, and reports

* the median wall time of the warm calls and the first call's compile time;
* the process's peak resident memory (``ru_maxrss``), which includes JAX itself;
* the relative error against the same statistic in float64, computed the same way, and
  against a direct float64 NumPy ``tr(KHLH)/n²`` on a random subsample (same bandwidths).

Run from the repository root::

    python benchmarks/bench_large_n.py                     # n = 1e3, 1e4, 1e5
    python benchmarks/bench_large_n.py --sizes 1000 20000

Results go to ``benchmarks/results/large_n.json`` and ``.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time
import numpy as np
import jax
import hsic
from hsic.kernels import Gaussian

n, d, repeats = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
x = rng.normal(size=(n, d)).astype(np.float32)
y = (np.sin(x[:, :1]) + rng.normal(size=(n, 1))).astype(np.float32)
kx, ky = Gaussian().fit(x), Gaussian().fit(y)   # the median rule, fixed for all precisions

t0 = time.perf_counter()
value32 = float(hsic.hsic(x, y, kernel_x=kx, kernel_y=ky))
first = time.perf_counter() - t0
times = []
for _ in range(repeats):
    t0 = time.perf_counter()
    float(hsic.hsic(x, y, kernel_x=kx, kernel_y=ky))
    times.append(time.perf_counter() - t0)
peak32 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
value64 = float(hsic.hsic(x, y, kernel_x=kx, kernel_y=ky, dtype="float64"))

m = min(n, 2000)
rows = rng.choice(n, size=m, replace=False)
def gram(a, s):
    a = a.astype(np.float64)
    d2 = ((a[:, None, :] - a[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2 / (2 * s * s))
K, L = gram(x[rows], kx.bandwidth), gram(y[rows], ky.bandwidth)
H = np.eye(m) - 1.0 / m
reference = np.trace(K @ H @ L @ H) / m**2
sub32 = float(hsic.hsic(x[rows], y[rows], kernel_x=kx, kernel_y=ky))
print(json.dumps(dict(
    n=n, d=d, seconds=float(np.median(times)), repeats=repeats,
    compile_seconds=max(first - float(np.median(times)), 0.0), peak_rss_gib=peak32,
    hsic_float32=value32, hsic_float64=value64,
    rel_error_vs_float64=abs(value32 - value64) / abs(value64),
    subsample=m, rel_error_subsample_vs_numpy=abs(sub32 - reference) / abs(reference),
)))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--d", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results/large_n")
    args = parser.parse_args()
    import jax  # noqa: F401  (only for the version below)

    rows = []
    for n in args.sizes:
        repeats = 3 if n <= 20_000 else 1
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(n), str(args.d), str(repeats)],
            capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": "."},
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"n={n:>8}  {row['seconds']:8.2f} s  (compile {row['compile_seconds']:.2f} s)  "
            f"peak RSS {row['peak_rss_gib']:.2f} GiB  "
            f"rel. error vs float64 {row['rel_error_vs_float64']:.1e}  "
            f"vs NumPy on {row['subsample']} rows {row['rel_error_subsample_vs_numpy']:.1e}",
            flush=True,
        )
    machine = dict(
        platform=platform.platform(), cpus=os.cpu_count(), python=platform.python_version(),
        jax=sys.modules["jax"].__version__, date=time.strftime("%Y-%m-%d %H:%M:%S"),
    )
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(dict(machine=machine, rows=rows), f, indent=2)
    with open(args.out + ".csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
