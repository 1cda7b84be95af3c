"""NOCCO's regularised inverse: XLA Gauss–Jordan (ours) against the LAPACK LU solve.

The HSIC-bottleneck step needs ``(K̄ + εmI)⁻¹`` of seven 256 × 256 matrices (five blocks, X
and Y) and their closed-form gradients. This script times, in one process and alternating
(after a JIT warm-up whose time is reported apart):

* ``gauss_jordan``: ``hsic._stats.nocco.spd_inverse`` (matrix products only), the seven
  matrices in one vmapped call, as the trainer does;
* ``lu_solve``: ``jnp.linalg.solve(A, I)`` (LAPACK LU and triangular solves through OpenBLAS),
  one matrix at a time, as the trainer did before;
* ``lu_solve_1_blas_thread``: the same with OpenBLAS limited to one thread (threadpoolctl), to
  show where the LAPACK route's time goes on a shared machine.

It reports the median time per call, the median of the paired ratios, the float32 error of
each against a float64 NumPy inverse, and the load average, to
``benchmarks/results/nocco_inverse.json``.

Usage::

    nice -n 0 python benchmarks/bench_nocco_inverse.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from hsic import centre
from hsic._stats.nocco import spd_inverse
from hsic.bottleneck import bottleneck_gram

RESULTS = os.path.join(os.path.dirname(__file__), "results", "nocco_inverse.json")


def _matrices(m, count, seed):
    """Regularised centred Gram matrices of ReLU features, like the MLP's blocks."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        z = np.maximum(rng.normal(size=(m, 256)), 0).astype(np.float32) * (1 + i)
        out.append(centre(bottleneck_gram(z, sigma=5.0)) + 1e-5 * m * jnp.eye(m))
    return jnp.stack(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=256)
    parser.add_argument("--count", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    import threadpoolctl

    A = _matrices(args.m, args.count, 0)
    eye = jnp.eye(args.m)
    fns = {
        "gauss_jordan": jax.jit(jax.vmap(spd_inverse)),
        "lu_solve": jax.jit(lambda A: jnp.stack([jnp.linalg.solve(a, eye) for a in A])),
    }
    fns["lu_solve_1_blas_thread"] = fns["lu_solve"]
    ref = np.stack([np.linalg.inv(np.asarray(a, np.float64)) for a in A])
    compile_s, error, times = {}, {}, {k: [] for k in fns}
    for name, f in fns.items():
        t0 = time.perf_counter()
        out = jax.block_until_ready(f(A))
        compile_s[name] = time.perf_counter() - t0
        error[name] = float(np.max(np.abs(np.asarray(out, np.float64) - ref))
                            / np.abs(ref).max())
    load_start = os.getloadavg()
    for _ in range(args.repeats):
        for name, f in fns.items():
            limit = 1 if name.endswith("1_blas_thread") else None
            with threadpoolctl.threadpool_limits(limit, user_api="blas"):
                t0 = time.perf_counter()
                jax.block_until_ready(f(A))
                times[name].append(time.perf_counter() - t0)
    base = np.asarray(times["gauss_jordan"])
    result = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpu_count": os.cpu_count(), "jax": jax.__version__,
                    "numpy": np.__version__, "load_average_start": load_start,
                    "load_average_end": os.getloadavg()},
        "m": args.m, "count": args.count, "repeats": args.repeats,
        "median_s": {k: float(np.median(v)) for k, v in times.items()},
        "paired_ratio_to_gauss_jordan": {k: float(np.median(np.asarray(v) / base))
                                         for k, v in times.items()},
        "compile_s": compile_s, "float32_relative_error": error,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
