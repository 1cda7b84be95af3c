"""KSG speed benchmark: ``hsic.mi.ksg`` against scikit-learn and a SciPy k-d tree KSG, on the CPU.

What is timed (k = 3, KSG variant 1, the estimator both peers compute):

* 1-D x and y (bivariate normal, ρ = 0.8), n ∈ {1000, 10000, 100000}:
  ``hsic.mi.ksg(x, y)`` (the sorted-window search) against
  ``sklearn.feature_selection.mutual_info_regression(x, y, n_neighbors=3)``;
  our brute-force search is timed too, up to n = 10000;
* 10-D x and 10-D y (Gaussian, sparse correlation), n ∈ {1000, 10000}:
  ``hsic.mi.ksg(x, y)`` (tiled brute force) against a KSG written with
  ``scipy.spatial.cKDTree`` (max-norm k-NN query, then radius counts), scikit-learn having no
  multivariate KSG.

Timings are medians of wall-clock seconds over repeats after a warm-up call, and for the
scikit-learn comparison also the median of back-to-back paired ratios (steadier under load).
``ksg`` returns a Python float, so its result is on the host when the clock stops. The first
call at a new shape (JIT compilation included) is reported apart: ``compile_s`` is the first
call minus the warm median. scikit-learn's estimate includes its own scaling and noise; the
estimates are recorded (``value``) to show that the runs computed the same quantity.

The machine may be shared and noisy: compare the ratios (peer / hsic), not the seconds.

Run from the repository root::

    python benchmarks/bench_ksg.py            # full run (a few minutes)
    python benchmarks/bench_ksg.py --quick    # n = 1000 only

Results go to ``benchmarks/results/ksg.json`` and ``ksg.csv`` (``ksg_quick.*`` with --quick).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for path in (REPO, HERE):  # run from a source checkout without installing; share bench_core
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_core import machine_info, time_calls  # noqa: E402

K = 3


def ckdtree_ksg(x: np.ndarray, y: np.ndarray, k: int = K) -> float:
    """KSG variant 1 with SciPy k-d trees (what a user would write without ``hsic``)."""
    from scipy.spatial import cKDTree
    from scipy.special import digamma

    n = len(x)
    z = np.hstack([x, y])
    eps = cKDTree(z).query(z, k=k + 1, p=np.inf)[0][:, k]  # self is the 0-th neighbour
    r = np.nextafter(eps, 0)  # strictly closer than eps
    nx = cKDTree(x).query_ball_point(x, r, p=np.inf, return_length=True) - 1
    ny = cKDTree(y).query_ball_point(y, r, p=np.inf, return_length=True) - 1
    return float(digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1)))


def paired_ratios(ours, peer, pairs: int) -> list[float]:
    """peer time / our time in back-to-back pairs (alternating which runs first).

    On a shared machine the load drifts between the two blocks of repeats of ``time_calls``;
    within a pair both calls see about the same load, so the median of these ratios is the
    steadier figure.
    """
    from bench_core import _clock

    out = []
    for i in range(pairs):
        if i % 2:
            t_peer, t_ours = _clock(peer)[0], _clock(ours)[0]
        else:
            t_ours, t_peer = _clock(ours)[0], _clock(peer)[0]
        out.append(t_peer / t_ours)
    return out


def row(case, impl, n, dims, t, ours_median=None):
    out = {
        "case": case,
        "impl": impl,
        "n": n,
        "dim_x": dims[0],
        "dim_y": dims[1],
        "median_s": t["median_s"],
        "repeats": t["repeats"],
        "times_s": t["times_s"],
        "first_call_s": t["first_call_s"],
        "compile_s": t.get("compile_s"),
        "value": t["value"],
    }
    if ours_median is not None:
        out["ratio_vs_hsic"] = t["median_s"] / ours_median
    return out


def run(args) -> dict:
    from sklearn.feature_selection import mutual_info_regression

    import hsic.mi

    info = machine_info()
    import sklearn

    info["sklearn"] = sklearn.__version__
    print(f"  {info['platform']}, {info['cpu_count']} CPUs, load {info['loadavg_start']}")
    rows = []
    one_d = hsic.mi.tasks.multinormal(1, 1, rho=0.8)
    ten_d = hsic.mi.tasks.multinormal(10, 10, rho=0.6, sparse=True)
    sizes_1d = [1000] if args.quick else [1000, 10000, 100000]
    sizes_10d = [1000] if args.quick else [1000, 10000]

    for n in sizes_1d:
        x, y = one_d.sample(n, rng=0)
        ours = time_calls(lambda x=x, y=y: hsic.mi.ksg(x, y, k=K), first_counts=False)
        rows.append(row("1d", "hsic.mi.ksg", n, (1, 1), ours))
        if n <= 10000:
            brute = time_calls(
                lambda x=x, y=y: hsic.mi.ksg(x, y, k=K, algorithm="brute"), first_counts=False
            )
            rows.append(row("1d", "hsic.mi.ksg(brute)", n, (1, 1), brute, ours["median_s"]))
        sk = time_calls(
            lambda x=x, y=y: float(
                mutual_info_regression(x, y[:, 0], n_neighbors=K, random_state=0)[0]
            ),
            first_counts=True,
        )
        rows.append(row("1d", "sklearn.mutual_info_regression", n, (1, 1), sk, ours["median_s"]))
        paired = paired_ratios(
            lambda x=x, y=y: hsic.mi.ksg(x, y, k=K),
            lambda x=x, y=y: mutual_info_regression(x, y[:, 0], n_neighbors=K, random_state=0),
            pairs=3 if n > 10000 else 21,
        )
        rows[-1]["paired_ratios"] = paired
        rows[-1]["paired_ratio_median"] = float(np.median(paired))
        print(
            f"1-D n={n}: hsic {ours['median_s']:.4f} s (compile {ours['compile_s']:.2f} s), "
            f"sklearn {sk['median_s']:.4f} s, ratio {sk['median_s'] / ours['median_s']:.1f}x "
            f"(paired median {np.median(paired):.1f}x, range {min(paired):.1f}-"
            f"{max(paired):.1f}); MI {ours['value']:.4f} vs {sk['value']:.4f} "
            f"(true {one_d.mi:.4f})",
            flush=True,
        )

    for n in sizes_10d:
        x, y = ten_d.sample(n, rng=0)
        ours = time_calls(lambda x=x, y=y: hsic.mi.ksg(x, y, k=K), first_counts=False)
        rows.append(row("10d", "hsic.mi.ksg", n, (10, 10), ours))
        tree = time_calls(lambda x=x, y=y: ckdtree_ksg(x, y), first_counts=True)
        rows.append(row("10d", "scipy.cKDTree KSG", n, (10, 10), tree, ours["median_s"]))
        print(
            f"10-D n={n}: hsic {ours['median_s']:.4f} s (compile {ours['compile_s']:.2f} s), "
            f"cKDTree {tree['median_s']:.4f} s, ratio {tree['median_s'] / ours['median_s']:.1f}x;"
            f" MI {ours['value']:.4f} vs {tree['value']:.4f} (true {ten_d.mi:.4f})",
            flush=True,
        )

    n_target = 1000 if args.quick else 10000
    target = next(r for r in rows if r["impl"].startswith("sklearn") and r["n"] == n_target)
    verdict = "PASS" if target["paired_ratio_median"] >= 5 else "FAIL"
    print(f"target: >= 5x faster than sklearn at n={target['n']}: "
          f"{target['paired_ratio_median']:.1f}x (paired median) {verdict}")
    info["loadavg_end"] = list(__import__("os").getloadavg())
    return {
        "machine": info,
        "k": K,
        "rows": rows,
        "target_ratio_1d": target["paired_ratio_median"],
        "target_met": verdict == "PASS",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="n = 1000 only")
    parser.add_argument("--out", default=None, help="output prefix (default results/ksg)")
    args = parser.parse_args()
    default = HERE / "results" / ("ksg_quick" if args.quick else "ksg")
    prefix = Path(args.out) if args.out else default
    prefix.parent.mkdir(parents=True, exist_ok=True)
    result = run(args)
    prefix.with_suffix(".json").write_text(json.dumps(result, indent=2, default=str))
    fields = ["case", "impl", "n", "dim_x", "dim_y", "median_s", "repeats", "first_call_s",
              "compile_s", "ratio_vs_hsic", "paired_ratio_median", "value"]
    with prefix.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(result["rows"])
    print(f"wrote {prefix}.json and {prefix}.csv")


if __name__ == "__main__":
    main()
