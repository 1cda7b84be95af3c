"""Many-pair benchmark: ``hsic.pairwise`` against dcor's ``rowwise`` and a loop over hyppo.

What is compared, on the same pairs of 1-D columns (x ~ N(0, 1) columns, half of the y columns
noisy nonlinear functions of x columns):

* **statistics (+ gamma p-values), n = 1000, p × q pairs** (default 10 × 10):
  ``hsic.pairwise(X, Y, method="gamma")`` (biased HSIC and its gamma p-value for every pair)
  against ``dcor.rowwise(dcor.distance_correlation, xs, ys)`` (distance correlation of each
  pair, no p-value: dcor's closest batched analogue), **timed in alternation** (ours, dcor,
  ours, ...; ``--paired`` rounds) and reported as the median of the per-round ratios, with the
  load average; and against a loop of ``hyppo.independence.Hsic().test(x, y, auto=True)``
  (hyppo's chi-square approximation, timed on ``--peer-pairs`` pairs and scaled to all).
* **more columns, n = 1000** (``--wide`` × ``--wide`` columns, default 40 × 40 = 1600 pairs):
  the same gamma comparison where the per-pair cost dominates (ours grows with columns, dcor's
  with pairs); dcor's rowwise timed once on all pairs.
* **permutation tests, n = 1000**: ``hsic.pairwise(X, Y, method=hsic.Permutation(B))``
  (B = 1000 by default) against loops of ``Hsic().test(x, y, reps=B_peer, auto=False)`` and of
  ``dcor.independence.distance_covariance_test(x, y, num_resamples=B_peer)`` on
  ``--peer-perm-pairs`` pairs (default 1) with a **reduced** ``B_peer`` (default 100): hyppo
  recomputes the statistic per permutation, so its full loop takes over 30 minutes. The ratio is
  of the time per pair and per permutation (the peers' cost is linear in B).
* **1000 columns, n = 500** (``hsic.pairwise(X)``, X of shape (500, 1000): 499 500 pairs):
  the gamma method in full; the permutation method timed on the first 100 columns
  (4950 pairs) with B = 100, and extrapolated linearly in pairs × B to 1000 columns and
  B = 1000 (its cost is one n × n contraction per pair and permutation).

Timings are medians of wall-clock seconds after a warm-up call at the same shape (JIT
compilation, numba); the compile time of ours (first call minus the warm median) is reported
apart. Results go to ``benchmarks/results/pairwise.json``. Compare ratios, not seconds: the
machine is shared (``os.getloadavg()`` is recorded with each timing).

Run from the repository root::

    python benchmarks/bench_pairwise.py            # ~10 minutes on 2 cores (shared)
    python benchmarks/bench_pairwise.py --quick    # smaller sizes, a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
for path in (HERE.parent, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_core import alternate, machine_info, quiet  # noqa: E402

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


def paired(ours, peer, rounds: int) -> dict:
    """Alternate ``ours`` and ``peer`` (after a warm-up of each) and take the median of the
    per-round ratios ``peer / ours``: both see the same load."""
    ours()
    peer()
    ours_t, peer_t, loads, _, _ = alternate(ours, peer, rounds)
    ratios = [p / o for o, p in zip(ours_t, peer_t, strict=True)]
    return {"ours_s": statistics.median(ours_t), "peer_s": statistics.median(peer_t),
            "ratio": statistics.median(ratios), "ratios": ratios, "ours_times_s": ours_t,
            "peer_times_s": peer_t, "loadavg_1min": loads}


def floor(args) -> dict:
    """Where the gamma time goes at p × q columns: the exp of the (p + q) n × n Gram entries
    alone (float32, jitted, the least any exact Gram-based HSIC must do), timed in alternation
    with dcor's rowwise on the same p·q pairs."""
    import dcor
    import jax
    import jax.numpy as jnp

    n, p, q = args.n, args.p, args.q
    X, Y = make_columns(n, p, q)
    cols = jnp.asarray(np.hstack([X, Y]).T, jnp.float32)

    @jax.jit
    def exp_only(c):
        d = c[:, :, None] - c[:, None, :]
        return jnp.sum(jnp.exp(-d * d), axis=(1, 2))

    xs = np.ascontiguousarray(np.repeat(X.T, q, axis=0))
    ys = np.ascontiguousarray(np.tile(Y.T, (p, 1)))
    res = paired(lambda: exp_only(cols).block_until_ready(),
                 quiet(lambda: dcor.rowwise(dcor.distance_correlation, xs, ys)), args.paired)
    return {"operation": f"floor: exp of {p + q} n x n Gram matrices (float32) vs dcor rowwise "
                         f"on {p * q} pairs", "n": n, **res}


def run(args) -> dict:
    import dcor
    from hyppo.independence import Hsic

    out = {"machine": machine_info(), "args": vars(args), "rows": []}
    n, p, q, B = args.n, args.p, args.q, args.permutations
    X, Y = make_columns(n, p, q)
    pairs = [(X[:, i], Y[:, j]) for i in range(p) for j in range(q)]
    n_pairs = len(pairs)
    print(f"n={n}: {p} x {q} = {n_pairs} pairs, load {os.getloadavg()}", flush=True)
    rows = out["rows"]

    # --- statistics and gamma p-values, in alternation with dcor -------------------------------
    t0 = time.perf_counter()
    hsic.pairwise(X, Y, method="gamma")
    first = time.perf_counter() - t0
    xs = np.ascontiguousarray(np.repeat(X.T, q, axis=0))
    ys = np.ascontiguousarray(np.tile(Y.T, (p, 1)))
    gamma = paired(
        lambda: hsic.pairwise(X, Y, method="gamma").pvalue,
        quiet(lambda: dcor.rowwise(dcor.distance_correlation, xs, ys)),
        args.paired,
    )
    rows.append({"operation": "all-pairs statistic (+p), alternating", "n": n, "pairs": n_pairs,
                 "ours": "pairwise(method='gamma')", "ours_compile_s": first - gamma["ours_s"],
                 "peer": "dcor.rowwise(distance_correlation)", **gamma,
                 "target_ratio": 10.0, "meets_target": gamma["ratio"] >= 10.0})
    print(json.dumps(rows[-1], indent=1), flush=True)
    hyppo_chi2 = peer_loop(
        lambda x, y: quiet(lambda: Hsic().test(x, y, auto=True))(), pairs[: args.peer_pairs]
    )
    rows.append({"operation": "all-pairs statistic (+p)", "n": n, "pairs": n_pairs,
                 "ours": "pairwise(method='gamma')", "ours_s": gamma["ours_s"],
                 "peer": "loop of hyppo Hsic().test(auto=True)",
                 "peer_s": hyppo_chi2["per_pair_s"] * n_pairs,
                 "peer_pairs_run": hyppo_chi2["pairs"],
                 "ratio": hyppo_chi2["per_pair_s"] * n_pairs / gamma["ours_s"],
                 "loadavg_1min": os.getloadavg()[0]})
    print(json.dumps(rows[-1], indent=1), flush=True)

    # --- more columns: the per-pair cost dominates ---------------------------------------------
    w = args.wide
    Xw, Yw = make_columns(n, w, w, seed=2)
    ours_wide = timed(lambda: hsic.pairwise(Xw, Yw, method="gamma").pvalue, repeats=3)
    xs = np.ascontiguousarray(np.repeat(Xw.T, w, axis=0))
    ys = np.ascontiguousarray(np.tile(Yw.T, (w, 1)))
    load = os.getloadavg()[0]
    dcor_wide = timed(quiet(lambda: dcor.rowwise(dcor.distance_correlation, xs, ys)), repeats=1)
    rows.append({"operation": f"all-pairs statistic (+p), {w} x {w} columns", "n": n,
                 "pairs": w * w, "ours": "pairwise(method='gamma')",
                 "ours_s": ours_wide["median_s"], "ours_compile_s": ours_wide["compile_s"],
                 "peer": "dcor.rowwise(distance_correlation)", "peer_s": dcor_wide["median_s"],
                 "ratio": dcor_wide["median_s"] / ours_wide["median_s"],
                 "loadavg_1min": [load, os.getloadavg()[0]]})
    print(json.dumps(rows[-1], indent=1), flush=True)

    # --- permutation tests (the peers on few pairs with a reduced B) ---------------------------
    ours_perm = timed(
        lambda: hsic.pairwise(X, Y, method=hsic.Permutation(B), rng=0).pvalue,
        repeats=args.repeats,
    )
    peer_B, peer_pairs = args.peer_permutations, pairs[: args.peer_perm_pairs]
    hyppo_perm = peer_loop(
        lambda x, y: quiet(lambda: Hsic().test(x, y, reps=peer_B, auto=False))(), peer_pairs
    )
    dcor_perm = peer_loop(
        lambda x, y: quiet(lambda: dcor.independence.distance_covariance_test(
            x, y, num_resamples=peer_B, random_state=0))(),
        peer_pairs,
    )
    ours_unit = ours_perm["median_s"] / (n_pairs * B)
    for name, peer in ((f"loop of hyppo Hsic().test(reps={peer_B}, auto=False)", hyppo_perm),
                       (f"loop of dcor distance_covariance_test(num_resamples={peer_B})",
                        dcor_perm)):
        peer_unit = peer["per_pair_s"] / peer_B
        rows.append({
            "operation": "permutation test (per pair and permutation)", "n": n,
            "pairs": n_pairs, "ours": f"pairwise(method=Permutation({B}))",
            "ours_s": ours_perm["median_s"], "ours_compile_s": ours_perm["compile_s"],
            "ours_per_pair_permutation_s": ours_unit, "peer": name,
            "peer_pairs_run": peer["pairs"], "peer_B": peer_B,
            "peer_per_pair_permutation_s": peer_unit, "ratio": peer_unit / ours_unit,
            "note": "peers run with a reduced B on few pairs; their cost is linear in B",
            "loadavg_1min": os.getloadavg()[0],
        })
    print(json.dumps(rows[-2:], indent=1), flush=True)

    # --- 1000 columns, n = 500 ---------------------------------------------------------------
    big_n, big_p = args.big_n, args.big_p
    Xb, _ = make_columns(big_n, big_p, 1, seed=1)
    t0 = time.perf_counter()
    hsic.pairwise(Xb[:, :64], method="gamma")  # compile at the block shape (64 columns)
    warm = time.perf_counter() - t0
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    res = hsic.pairwise(Xb, method="gamma", adjust="bh")
    big_gamma = time.perf_counter() - t0
    sub, sub_B = args.big_perm_columns, args.big_perm_B
    # warm-up: compile at the same shapes
    hsic.pairwise(Xb[:, :sub], method=hsic.Permutation(sub_B))
    t0 = time.perf_counter()
    hsic.pairwise(Xb[:, :sub], method=hsic.Permutation(sub_B))
    sub_perm = time.perf_counter() - t0
    sub_pairs, big_pairs = sub * (sub - 1) // 2, big_p * (big_p - 1) // 2
    extrapolated = sub_perm * (big_pairs / sub_pairs) * (1000 / sub_B)
    rows.append({
        "operation": f"{big_p} columns, n={big_n}", "n": big_n, "pairs": res.n_tests,
        "ours": "pairwise(X, method='gamma', adjust='bh')", "ours_s": big_gamma,
        "ours_warmup_small_s": warm, "loadavg_1min": [load, os.getloadavg()[0]],
        "permutation_measured": {"columns": sub, "pairs": sub_pairs, "B": sub_B,
                                 "seconds": sub_perm},
        "permutation_extrapolated_s_B1000": extrapolated,
    })
    print(json.dumps(rows[-1], indent=1), flush=True)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--p", type=int, default=10)
    parser.add_argument("--q", type=int, default=10)
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--peer-pairs", type=int, default=2)
    parser.add_argument("--paired", type=int, default=7, help="alternating rounds vs dcor")
    parser.add_argument("--wide", type=int, default=40, help="columns of X and Y, wide case")
    parser.add_argument("--peer-permutations", type=int, default=100)
    parser.add_argument("--peer-perm-pairs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big-n", type=int, default=500)
    parser.add_argument("--big-p", type=int, default=1000)
    parser.add_argument("--big-perm-columns", type=int, default=100)
    parser.add_argument("--big-perm-B", type=int, default=100)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--floor-only", action="store_true",
                        help="only time exp() of the Gram entries against dcor (pairwise_floor)")
    parser.add_argument("--out", default=str(HERE / "results" / "pairwise.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.p, args.q, args.permutations = 300, 4, 4, 100
        args.paired, args.wide, args.peer_permutations = 3, 8, 20
        args.big_n, args.big_p, args.big_perm_columns, args.big_perm_B = 200, 100, 20, 20
        args.out = str(HERE / "results" / "pairwise_quick.json")
    if args.floor_only:
        args.out = str(HERE / "results" / "pairwise_floor.json")
        result = {"machine": machine_info(), "args": vars(args), "rows": [floor(args)]}
        print(json.dumps(result["rows"], indent=1))
    else:
        result = run(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1, default=float)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
