"""Level and power of ``hsic.test(method="wild_bootstrap")`` on autocorrelated series.

Under independence: x and y are two independent stationary Gaussian AR(1) series,
``z_t = φ z_{t−1} + e_t``, for φ in {0, 0.5, 0.8} and n in {200, 500}. For each setting,
``--reps`` independent pairs are tested at α = 0.05 with

* the wild bootstrap with its default, data-chosen multiplier length (``default``);
* the wild bootstrap with ℓ = 20 given, with the variance correction (``l20_corrected``);
* ℓ = 20 without the variance correction (``l20_uncorrected``, the package's earlier
  default): the same replicates divided by ``info["variance_correction"]``;
* the permutation test (``permutation``), which ignores the serial dependence.

The rejection rates come with Clopper–Pearson intervals (``scipy.stats.binomtest``). Power:
``y_t = sin(x_t) + u_t``, with x and the noise u independent AR(1) series of the same φ.

Run from the repository root::

    nice python benchmarks/bench_wild_bootstrap_level.py               # 300 pairs, B = 299
    nice python benchmarks/bench_wild_bootstrap_level.py --quick       # 60 pairs, B = 199

Results go to ``benchmarks/results/wild_bootstrap_level.json`` (``..._quick.json``), with the
machine, the versions and the load average at the start and end of each setting.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.signal
import scipy.stats

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, str(REPO))

from bench_core import machine_info  # noqa: E402  (benchmarks/ is the script's directory)

import hsic  # noqa: E402

ALPHA = 0.05


def ar1(rng: np.random.Generator, n: int, phi: float, burn: int = 200) -> np.ndarray:
    """A stationary Gaussian AR(1) stretch (unit innovations, ``burn`` samples discarded)."""
    return scipy.signal.lfilter([1.0], [1.0, -phi], rng.normal(size=n + burn))[burn:]


def interval(count: int, reps: int, level: float) -> list[float]:
    ci = scipy.stats.binomtest(count, reps, ALPHA).proportion_ci(level)
    return [float(ci.low), float(ci.high)]


def run_setting(phi, n, reps, B, seed, power):
    rng = np.random.default_rng(seed)
    pvalues = {k: [] for k in ("default", "l20_corrected", "l20_uncorrected", "permutation")}
    lengths = []
    start, load0 = time.perf_counter(), os.getloadavg()
    for r in range(reps):
        x = ar1(rng, n, phi)
        y = np.sin(x) + ar1(rng, n, phi) if power else ar1(rng, n, phi)
        res = hsic.test(x, y, method=hsic.WildBootstrap(n_resamples=B), rng=r)
        pvalues["default"].append(res.pvalue)
        lengths.append(res.info["length"])
        fixed = hsic.test(x, y, method=hsic.WildBootstrap(n_resamples=B, length=20.0), rng=r)
        pvalues["l20_corrected"].append(fixed.pvalue)
        old_null = fixed.null_distribution / fixed.info["variance_correction"]
        pvalues["l20_uncorrected"].append(
            float((1 + np.sum(old_null >= fixed.statistic)) / (1 + B))
        )
        pvalues["permutation"].append(
            hsic.test(x, y, method=hsic.Permutation(n_resamples=B), rng=r).pvalue
        )
    out = {
        "phi": phi, "n": n, "reps": reps, "n_bootstrap": B, "seed": seed,
        "hypothesis": "dependent: y = sin(x) + AR(1) noise" if power else "independent",
        "seconds": round(time.perf_counter() - start, 1),
        "loadavg_start": list(load0), "loadavg_end": list(os.getloadavg()),
        "default_length": {
            "mean": float(np.mean(lengths)), "min": float(np.min(lengths)),
            "max": float(np.max(lengths)),
        },
        "rejection_rate": {}, "ci95": {}, "ci99": {},
    }
    for name, ps in pvalues.items():
        count = int(np.sum(np.asarray(ps) <= ALPHA))
        out["rejection_rate"][name] = count / reps
        out["ci95"][name] = interval(count, reps, 0.95)
        out["ci99"][name] = interval(count, reps, 0.99)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="60 pairs, B = 199")
    parser.add_argument("--reps", type=int, default=None, help="pairs per setting (300)")
    parser.add_argument("--power-reps", type=int, default=None, help="pairs per power setting")
    parser.add_argument("--bootstrap", type=int, default=None, help="B (299)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    reps = args.reps or (60 if args.quick else 300)
    power_reps = args.power_reps or (30 if args.quick else 100)
    B = args.bootstrap or (199 if args.quick else 299)
    out = Path(args.out or REPO / "benchmarks" / "results" / (
        "wild_bootstrap_level_quick.json" if args.quick else "wild_bootstrap_level.json"))
    settings = [(phi, n, False) for phi in (0.0, 0.5, 0.8) for n in (200, 500)]
    settings += [(phi, 200, True) for phi in (0.5, 0.8)]
    result = {"machine": machine_info(), "alpha": ALPHA, "settings": []}
    # warm-up (compilation) outside the timed settings
    warm = np.random.default_rng(0)
    for n in (200, 500):
        hsic.test(ar1(warm, n, 0.5), ar1(warm, n, 0.5),
                  method=hsic.WildBootstrap(n_resamples=B))
    for i, (phi, n, power) in enumerate(settings):
        row = run_setting(phi, n, power_reps if power else reps, B, seed=1000 + i, power=power)
        result["settings"].append(row)
        rates = ", ".join(f"{k} {v:.3f}" for k, v in row["rejection_rate"].items())
        print(f"phi={phi} n={n} {row['hypothesis']}: {rates}; default l ~ "
              f"{row['default_length']['mean']:.1f}; {row['seconds']} s, load "
              f"{row['loadavg_start'][0]:.1f}", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))  # partial results survive an interrupt
    result["machine"]["loadavg_end"] = list(os.getloadavg())
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
