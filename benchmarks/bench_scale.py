"""Exact tiled, block, RFF and Nyström HSIC from n = 10³ to 10⁶: time and error against n.

For each n, x ~ N(0, I_d) and y = sin(x₁) + N(0, 1) (d = 10), with the default Gaussian
kernels (median heuristic, on at most 1000 rows). Each method computes its statistic with
``hsic.hsic(x, y, estimator=...)``:

* ``exact``: the tiled biased statistic (O(n²) time, O(n) memory), run up to ``--exact-max``
  (at 10⁶ it would take hours; the n = 10⁵ timing comes from ``bench_large_n.py``);
* ``block``: block HSIC, B = ⌊√n⌋, compared with the exact *unbiased* statistic it estimates;
* ``rff``: 100 random Fourier features per variable, compared with the exact biased statistic;
* ``nystrom``: 100 landmarks per variable, compared with the exact biased statistic.

Times are medians of warm calls (after a first call that compiles; its excess over the median
is reported as compile time), with ``block_until_ready``. The relative error is
``|approx − exact| / exact``, where the exact statistic was computed (n ≤ ``--exact-max``), in
float64 for the reference. For RFF and Nyström the error is the mean over ``--seeds`` feature
draws of the absolute relative error.

Run from the repository root::

    python benchmarks/bench_scale.py                   # n = 1e3, 1e4, 1e5, 1e6
    python benchmarks/bench_scale.py --sizes 1000 10000 --exact-max 10000

Writes ``benchmarks/results/scale.csv`` and ``.json``, and the figure ``docs/figures/scale.png``
(time and relative error against n).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time

import jax
import numpy as np

import hsic

METHODS = ("exact", "block", "rff", "nystrom")


def _timed(fn, repeats: int) -> tuple[float, float, float]:
    """(value, median seconds of warm calls, compile seconds) of a statistic."""
    start = time.perf_counter()
    value = float(jax.block_until_ready(fn()))
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    median = float(np.median(times)) if times else first
    return value, median, max(first - median, 0.0)


def run(n: int, d: int, exact_max: int, seeds: int) -> list[dict]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (np.sin(x[:, :1]) + rng.normal(size=(n, 1))).astype(np.float32)
    repeats = 3 if n <= 100_000 else 1
    rows = []
    exact = {}
    if n <= exact_max:
        value, seconds, compile_s = _timed(lambda: hsic.hsic(x, y), 1 if n > 20_000 else 3)
        exact["biased"] = float(hsic.hsic(x, y, dtype="float64"))
        exact["unbiased"] = float(hsic.hsic(x, y, estimator="unbiased", dtype="float64"))
        rows.append(dict(method="exact", n=n, seconds=seconds, compile_seconds=compile_s,
                         statistic=value,
                         rel_error=abs(value - exact["biased"]) / exact["biased"]))
    for method in METHODS[1:]:
        kwargs = dict(estimator=method)
        if method != "block":
            kwargs["n_features"] = 100
        value, seconds, compile_s = _timed(lambda kw=kwargs: hsic.hsic(x, y, **kw), repeats)
        error = None
        if exact:
            target = exact["unbiased" if method == "block" else "biased"]
            values = [value] if method == "block" else [
                float(hsic.hsic(x, y, rng=s, **kwargs)) for s in range(seeds)
            ]
            error = float(np.mean([abs(v - target) / target for v in values]))
        rows.append(dict(method=method, n=n, seconds=seconds, compile_seconds=compile_s,
                         statistic=value, rel_error=error))
    return rows


def plot(rows: list[dict], path: str, machine: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for colour, method in enumerate(METHODS):
        style = dict(color=f"C{colour}", marker="o", label=method)
        mine = [r for r in rows if r["method"] == method]
        left.loglog([r["n"] for r in mine], [r["seconds"] for r in mine], **style)
        errs = [r for r in mine if r["rel_error"] is not None and method != "exact"]
        if errs:
            right.loglog([r["n"] for r in errs], [r["rel_error"] for r in errs], **style)
    left.set(xlabel="n", ylabel="seconds (median, warm)", title="Time of the statistic")
    right.set(xlabel="n", ylabel="|approx − exact| / exact",
              title="Relative error against the exact statistic")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(machine, fontsize=8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[1000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--d", type=int, default=10)
    parser.add_argument("--exact-max", type=int, default=30_000)
    parser.add_argument("--seeds", type=int, default=5,
                        help="feature draws (rng = 0, 1, ...) averaged for the RFF and Nyström "
                        "errors")
    parser.add_argument("--out", default="benchmarks/results/scale")
    parser.add_argument("--figure", default="docs/figures/scale.png")
    parser.add_argument("--replot", action="store_true",
                        help="only redraw the figure from the JSON written by an earlier run")
    args = parser.parse_args()
    if args.replot:
        with open(args.out + ".json") as f:
            saved = json.load(f)
        m = saved["machine"]
        plot(saved["rows"], args.figure, f"{m['cpus']} CPU cores, jax {m['jax']}, {m['date']}, "
             f"load average {m['load_average_at_end']:.1f}")
        return
    rows = []
    for n in args.sizes:
        for row in run(n, args.d, args.exact_max, args.seeds):
            rows.append(row)
            error = "" if row["rel_error"] is None else f"rel. error {row['rel_error']:.2e}"
            print(f"n={n:>8}  {row['method']:>8}  {row['seconds']:9.3f} s  "
                  f"(compile {row['compile_seconds']:.2f} s)  {error}", flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    machine = dict(
        platform=platform.platform(), cpus=os.cpu_count(), python=platform.python_version(),
        jax=jax.__version__, hsic=hsic.__version__, device=str(jax.devices()[0]),
        load_average_at_end=load, date=time.strftime("%Y-%m-%d %H:%M:%S"),
    )
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(dict(machine=machine, rows=rows), f, indent=2)
    with open(args.out + ".csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    label = (f"{machine['cpus']} CPU cores ({platform.machine()}), jax {jax.__version__}, "
             f"{machine['date']}, load average {load:.1f}")
    plot(rows, args.figure, label)
    print(f"wrote {args.out}.csv, {args.out}.json and {args.figure}", file=sys.stderr)


if __name__ == "__main__":
    main()
