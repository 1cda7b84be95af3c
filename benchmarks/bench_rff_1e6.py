"""Smoke benchmark: the random-Fourier-feature HSIC test at n = 1,000,000, d = 10.

The data have a weak dependence that a correlation test cannot see: x ~ N(0, I_d) and

    y = amplitude · (x_0² − 1) + ε,   ε ~ N(0, 1),

an even function of x_0, so y is uncorrelated with every column of x. Pearson's test is run on
each column (Bonferroni-corrected over the d columns); the HSIC test uses random Fourier
features (``hsic.test(x, y, method=hsic.RFF(n_features=D, null=...))``, Gaussian kernels
with median bandwidths, D features per variable, spectral null by default, ``rng=1``).

Reported: the wall time of the test (first call, JIT compilation included, then a warm second
call), the peak resident memory of the process (``resource.getrusage``, which includes the data
themselves), the Pearson and HSIC p-values, and PASS/FAIL for the targets: first call under
60 s, Bonferroni Pearson p > 0.05 and HSIC p < 0.01. Optionally (``--block``) the block test
on the same data is timed too.

Run from the repository root::

    python benchmarks/bench_rff_1e6.py                  # n = 10⁶, d = 10, D = 100, spectral
    python benchmarks/bench_rff_1e6.py --null permutation --permutations 50
    python benchmarks/bench_rff_1e6.py --n 100000 --block

Results go to ``benchmarks/results/rff_1e6.json`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, str(REPO))


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mib() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def make_data(n: int, d: int, amplitude: float, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32)
    noise = rng.standard_normal(n, dtype=np.float32)
    y = (amplitude * (x[:, 0].astype(np.float64) ** 2 - 1.0) + noise).astype(np.float32)
    return x, y


def pearson_pvalues(x: np.ndarray, y: np.ndarray) -> list[float]:
    import scipy.stats

    y64 = y.astype(np.float64)
    return [float(scipy.stats.pearsonr(x[:, j].astype(np.float64), y64).pvalue)
            for j in range(x.shape[1])]


def machine() -> dict:
    import jax

    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "numpy": np.__version__,
        "load_average": os.getloadavg(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=10)
    parser.add_argument("--features", type=int, default=100, help="D per variable (even)")
    parser.add_argument("--null", choices=["spectral", "permutation"], default="spectral")
    parser.add_argument("--permutations", type=int, default=None,
                        help="B, the method's n_resamples: permutations, or spectral null draws "
                        "(default 100 or 1000)")
    parser.add_argument("--amplitude", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=0, help="seed of the data")
    parser.add_argument("--block", action="store_true", help="also time the block test")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "rff_1e6.json"))
    args = parser.parse_args(argv)

    import hsic

    resamples = args.permutations or (100 if args.null == "permutation" else 1000)

    t = time.perf_counter()
    x, y = make_data(args.n, args.d, args.amplitude, args.seed)
    data_s = time.perf_counter() - t
    rss_after_data = current_rss_mib()
    pearson = pearson_pvalues(x, y)
    pearson_bonferroni = min(1.0, args.d * min(pearson))

    def run():
        start = time.perf_counter()
        method = hsic.RFF(n_features=args.features, null=args.null, n_resamples=resamples)
        res = hsic.test(x, y, method=method, rng=1)
        return res, time.perf_counter() - start

    res, first_s = run()
    peak_after_first = peak_rss_mib()
    res2, warm_s = run()
    assert res2.pvalue == res.pvalue, "same rng, different p-value"

    block = None
    if args.block:
        start = time.perf_counter()
        bres = hsic.test(x, y, method="block")
        block = {
            "seconds_first_call": time.perf_counter() - start,
            "block_size": bres.info["block_size"],
            "n_blocks": bres.info["n_blocks"],
            "statistic": bres.statistic,
            "pvalue": bres.pvalue,
        }

    result = {
        "machine": machine(),
        "settings": {
            "n": args.n, "d": args.d, "n_features": args.features, "null": args.null,
            "n_permutations": resamples if args.null == "permutation" else None,
            "n_null_samples": resamples if args.null == "spectral" else None,
            "amplitude": args.amplitude, "data_seed": args.seed, "test_seed": 1,
            "model": "x ~ N(0, I_d), y = amplitude * (x_0^2 - 1) + N(0, 1)",
        },
        "data_seconds": data_s,
        "rss_after_data_mib": rss_after_data,
        "pearson_pvalues": pearson,
        "pearson_min_pvalue_bonferroni": pearson_bonferroni,
        "rff": {
            "seconds_first_call": first_s,
            "seconds_warm_call": warm_s,
            "peak_rss_mib_after_first_call": peak_after_first,
            "statistic": res.statistic,
            "pvalue": res.pvalue,
            "null_mean": float(np.mean(res.null_distribution)),
            "null_quantile_99": float(np.quantile(res.null_distribution, 0.99)),
            "null_max": float(np.max(res.null_distribution)),
            "bandwidth_x": res.bandwidth_x,
            "bandwidth_y": res.bandwidth_y,
        },
        "block": block,
        "peak_rss_mib": peak_rss_mib(),
    }
    targets = {
        "first call under 60 s": first_s < 60.0,
        "Pearson (Bonferroni) p > 0.05": pearson_bonferroni > 0.05,
        "HSIC-RFF p < 0.01": res.pvalue < 0.01,
    }
    result["targets"] = targets

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float) + "\n")

    print(f"n = {args.n:,}, d = {args.d}, D = {args.features}, null = {args.null}")
    print(f"data generation        {data_s:8.2f} s   (RSS after: {rss_after_data:,.0f} MiB)")
    print(f"RFF test, first call   {first_s:8.2f} s   (JIT compilation included)")
    print(f"RFF test, warm call    {warm_s:8.2f} s")
    print(f"peak RSS               {result['peak_rss_mib']:8,.0f} MiB")
    print(f"Pearson p per column   {', '.join(f'{p:.3g}' for p in pearson)}")
    print(f"Pearson min p x d      {pearson_bonferroni:.3g}")
    print(f"HSIC-RFF statistic     {res.statistic:.4g}, p = {res.pvalue:.4g} "
          f"(null: mean {result['rff']['null_mean']:.3g}, "
          f"99% quantile {result['rff']['null_quantile_99']:.3g}, "
          f"max {result['rff']['null_max']:.3g})")
    if block is not None:
        print(f"block test             {block['seconds_first_call']:8.2f} s, "
              f"B = {block['block_size']}, p = {block['pvalue']:.4g}")
    for name, ok in targets.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    print(f"wrote {out}")
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
