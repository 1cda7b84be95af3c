"""Many-pair benchmark: ``hsic.pairwise`` against dcor's ``rowwise`` and a loop over hyppo.

What is compared, on the same pairs of 1-D columns (x ~ N(0, 1) columns, half of the y columns
noisy nonlinear functions of x columns):

* **statistics (+ gamma p-values), n = 1000, P pairs**:
  ``hsic.pairwise(X, Y, method="gamma")`` (biased HSIC and its gamma p-value for every pair)
  against ``dcor.rowwise(dcor.distance_correlation, xs, ys)`` (distance correlation of each pair,
  no p-value: dcor's closest batched analogue), and against a loop of
  ``hyppo.independence.Hsic().test(x, y, auto=True)`` (hyppo's chi-square approximation).
* **permutation tests, n = 1000, B permutations**: ``hsic.pairwise(X, Y, n_permutations=B)``
  against a loop over pairs of ``Hsic().test(x, y, reps=B, auto=False)`` and of
  ``dcor.independence.distance_covariance_test(x, y, num_resamples=B)``. The peers' loops run
  on a few pairs only (they take seconds per pair); the ratio is of the time per pair.
* **1000 columns, n = 500** (``hsic.pairwise(X)``, X of shape (500, 1000): 499 500 pairs):
  the gamma method in full; the permutation method timed on the first 100 columns
  (4950 pairs) with B = 100, and extrapolated linearly in pairs × B to 1000 columns and
  B = 1000 (its cost is one n × n contraction per pair and permutation).

Timings are medians of wall-clock seconds after a warm-up call at the same shape (JIT
compilation, numba); the compile time of ours (first call minus the warm median) is reported
apart. Results go to ``benchmarks/results/pairwise.json``. Compare ratios, not seconds: the
machine is shared.

Run from the repository root::

    python benchmarks/bench_pairwise.py            # ~10 minutes on 2 cores
    python benchmarks/bench_pairwise.py --quick    # smaller sizes, a smoke test
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
for path in (HERE.parent, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_core import machine_info, quiet  # noqa: E402

import hsic  # noqa: E402


def make_columns(n: int, p: int, q: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    Y = rng.normal(size=(n, q))
    for j in range(0, q, 2):  # every other y column depends on an x column
        Y[:, j] = np.sin(2 * X[:, j % p]) + 0.5 * rng.normal(size=n)
    return X, Y


def timed(fn, repeats: int) -> dict:
    """First call (warm-up / compile) timed alone, then the median of ``repeats`` calls."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return {"median_s": median, "times_s": times, "first_call_s": first,
            "compile_s": max(first - median, 0.0)}


def peer_loop(fn, pairs, repeats: int = 1) -> dict:
    """Time a per-pair peer call over ``pairs`` (after a warm-up call on 30 samples: numba)."""
    fn(pairs[0][0][:30], pairs[0][1][:30])
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for x, y in pairs:
            fn(x, y)
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return {"median_s": median, "times_s": times, "pairs": len(pairs),
            "per_pair_s": median / len(pairs)}


def run(args) -> dict:
    import dcor
    from hyppo.independence import Hsic

    out = {"machine": machine_info(), "args": vars(args), "rows": []}
    n, p, q, B = args.n, args.p, args.q, args.permutations
    X, Y = make_columns(n, p, q)
    pairs = [(X[:, i], Y[:, j]) for i in range(p) for j in range(q)]
    n_pairs = len(pairs)
    print(f"n={n}: {p} x {q} = {n_pairs} pairs", flush=True)

    # --- statistics and gamma p-values -----------------------------------------------------
    ours_gamma = timed(lambda: hsic.pairwise(X, Y, method="gamma").pvalue, repeats=5)
    xs = np.ascontiguousarray(np.repeat(X.T, q, axis=0))
    ys = np.ascontiguousarray(np.tile(Y.T, (p, 1)))
    dcor_rowwise = timed(
        quiet(lambda: dcor.rowwise(dcor.distance_correlation, xs, ys)), repeats=5
    )
    hyppo_chi2 = peer_loop(
        lambda x, y: quiet(lambda: Hsic().test(x, y, auto=True))(), pairs[: args.peer_pairs]
    )
    rows = [
        {"operation": "all-pairs statistic (+p)", "n": n, "pairs": n_pairs,
         "ours": "pairwise(method='gamma')", "ours_s": ours_gamma["median_s"],
         "ours_compile_s": ours_gamma["compile_s"],
         "peer": "dcor.rowwise(distance_correlation)", "peer_s": dcor_rowwise["median_s"],
         "ratio": dcor_rowwise["median_s"] / ours_gamma["median_s"]},
        {"operation": "all-pairs statistic (+p)", "n": n, "pairs": n_pairs,
         "ours": "pairwise(method='gamma')", "ours_s": ours_gamma["median_s"],
         "peer": "loop of hyppo Hsic().test(auto=True)",
         "peer_s": hyppo_chi2["per_pair_s"] * n_pairs, "peer_pairs_run": hyppo_chi2["pairs"],
         "ratio": hyppo_chi2["per_pair_s"] * n_pairs / ours_gamma["median_s"]},
    ]
    print(json.dumps(rows, indent=1), flush=True)

    # --- permutation tests -------------------------------------------------------------------
    ours_perm = timed(
        lambda: hsic.pairwise(X, Y, n_permutations=B, seed=0).pvalue, repeats=args.repeats
    )
    hyppo_perm = peer_loop(
        lambda x, y: quiet(lambda: Hsic().test(x, y, reps=B, auto=False))(),
        pairs[: args.peer_pairs],
    )
    dcor_perm = peer_loop(
        lambda x, y: quiet(lambda: dcor.independence.distance_covariance_test(
            x, y, num_resamples=B, random_state=0))(),
        pairs[: args.peer_pairs],
    )
    ours_per_pair = ours_perm["median_s"] / n_pairs
    for name, peer in (("loop of hyppo Hsic().test(reps=B, auto=False)", hyppo_perm),
                       ("loop of dcor distance_covariance_test(num_resamples=B)", dcor_perm)):
        rows.append({
            "operation": f"permutation test, B={B}", "n": n, "pairs": n_pairs,
            "ours": f"pairwise(n_permutations={B})", "ours_s": ours_perm["median_s"],
            "ours_compile_s": ours_perm["compile_s"], "ours_per_pair_s": ours_per_pair,
            "peer": name, "peer_per_pair_s": peer["per_pair_s"],
            "peer_pairs_run": peer["pairs"], "ratio": peer["per_pair_s"] / ours_per_pair,
        })
    print(json.dumps(rows[-2:], indent=1), flush=True)

    # --- 1000 columns, n = 500 ---------------------------------------------------------------
    big_n, big_p = args.big_n, args.big_p
    Xb, _ = make_columns(big_n, big_p, 1, seed=1)
    t0 = time.perf_counter()
    hsic.pairwise(Xb[:, :64], method="gamma")  # compile at the block shape (64 columns)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = hsic.pairwise(Xb, method="gamma", adjust="bh")
    big_gamma = time.perf_counter() - t0
    sub, sub_B = args.big_perm_columns, args.big_perm_B
    hsic.pairwise(Xb[:, :sub], n_permutations=sub_B)  # warm-up: compile at the same shapes
    t0 = time.perf_counter()
    hsic.pairwise(Xb[:, :sub], n_permutations=sub_B)
    sub_perm = time.perf_counter() - t0
    sub_pairs, big_pairs = sub * (sub - 1) // 2, big_p * (big_p - 1) // 2
    extrapolated = sub_perm * (big_pairs / sub_pairs) * (1000 / sub_B)
    rows.append({
        "operation": f"{big_p} columns, n={big_n}", "n": big_n, "pairs": res.n_tests,
        "ours": "pairwise(X, method='gamma', adjust='bh')", "ours_s": big_gamma,
        "ours_warmup_small_s": warm,
        "permutation_measured": {"columns": sub, "pairs": sub_pairs, "B": sub_B,
                                 "seconds": sub_perm},
        "permutation_extrapolated_s_B1000": extrapolated,
    })
    print(json.dumps(rows[-1], indent=1), flush=True)
    out["rows"] = rows
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--p", type=int, default=10)
    parser.add_argument("--q", type=int, default=10)
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--peer-pairs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big-n", type=int, default=500)
    parser.add_argument("--big-p", type=int, default=1000)
    parser.add_argument("--big-perm-columns", type=int, default=100)
    parser.add_argument("--big-perm-B", type=int, default=100)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results" / "pairwise.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.p, args.q, args.permutations = 300, 4, 4, 100
        args.big_n, args.big_p, args.big_perm_columns, args.big_perm_B = 200, 100, 20, 20
        args.out = str(HERE / "results" / "pairwise_quick.json")
    result = run(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1, default=float)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
