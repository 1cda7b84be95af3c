"""Gamma test at n = 8000: ``hsic.test(method="gamma")`` against hyppo's ``auto=True`` test.

``bench_core.py`` spends most of its time at n = 8000 in the permutation tests; this script
times only the gamma comparison. Run from the repository root (needs the bench extra)::

    python benchmarks/bench_gamma_n8000.py
    python benchmarks/bench_gamma_n8000.py --n 2000     # another n
"""

import argparse
import time
import warnings

import numpy as np

import hsic


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=8000, help="samples (default 8000)")
    args = parser.parse_args()
    from hyppo.independence import Hsic  # the bench extra; after --help

    warnings.simplefilter("ignore")  # numba's warnings from hyppo
    rng = np.random.default_rng(0)
    n = args.n
    x = rng.normal(size=(n, 5))
    y = np.sin(x) + x**2 / 2 + rng.normal(size=(n, 5))
    Hsic().test(x[:30], y[:30], auto=True)  # numba warm-up
    hsic.test(x, y, method=hsic.Gamma())  # JIT warm-up
    ours = median_seconds(lambda: hsic.test(x, y, method=hsic.Gamma()).pvalue, 5)
    theirs = median_seconds(lambda: Hsic().test(x, y, auto=True), 3)
    print(f"n={n} gamma: hsic {ours:.3f} s, hyppo auto=True {theirs:.3f} s, "
          f"ratio {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
