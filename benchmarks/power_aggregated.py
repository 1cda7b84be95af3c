"""Power study of the aggregated tests on the perturbed-uniform family (issue 16).

The alternatives are the perturbed uniform densities of Schrab et al. (MMDAgg, HSICAgg
experiments): on ``[0, 1]^2`` (x and y one-dimensional),
``f_θ(u) = 1 + c P^{-s} Σ_{ν ∈ {1..P}²} θ_ν Π_r G(P u_r − ν_r)`` with
``G(t) = exp(−1/(1 − (4t + 3)²)) 1{−1 < t < −1/2} − exp(−1/(1 − (4t + 1)²)) 1{−1/2 < t < 0}``,
random signs ``θ_ν = ±1`` (drawn per repetition) and P perturbations per axis: the higher P,
the finer the dependence. Samples come from rejection sampling. P = 0 is the uniform
(independence), for the type-I error.

Methods, each at α = 0.05 on the same data: the aggregated test with the old factor grid
(``bandwidth_factors=2^{-2..2}``) and with the new collection (``bandwidths="auto"``),
HSICAggInc, the median-bandwidth permutation test, the gamma test, and the oracle: the best
single bandwidth pair of the new collection (its permutation test, from the aggregated run's
per-pair p-values), chosen after the fact for the highest power at each P.

Resumable: every finished (P, repetition) is appended to ``--state`` (JSON lines) and skipped
on a rerun; the data of (P, r) come from ``default_rng([SEED, P, r])`` and each test's ``rng``
is r, so a rerun reproduces the numbers. Runs (n = 300: about 40 CPU-minutes; n = 500, the
size of the papers' experiments: about 2.8 times that; split the frequencies over processes
with ``--frequencies`` and their own ``--state``, then concatenate the state files)::

    PYTHONPATH=. python benchmarks/power_aggregated.py                       # n = 300
    PYTHONPATH=. python benchmarks/power_aggregated.py --n 500 \
        --state benchmarks/results/power_aggregated_n500.jsonl \
        --out benchmarks/results/power_aggregated_n500.json \
        --figure docs/figures/power_aggregated_n500.png
    PYTHONPATH=. python benchmarks/power_aggregated.py --report   # JSON + figure only

Writes ``benchmarks/results/power_aggregated.json`` and ``docs/figures/power_aggregated.png``
by default. Every aggregated test uses fitted per-pair p-values (the default), B₁ = 500 (the
fitted tails need only each pair's moments) and B₂ = 499.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import platform
import time
from pathlib import Path

import numpy as np

import hsic

SEED = 16
ALPHA = 0.05
ROOT = Path(__file__).resolve().parent


def bump(t: np.ndarray) -> np.ndarray:
    """G of the perturbed uniform family, vectorised."""
    out = np.zeros_like(t)
    a = (t > -1) & (t < -0.5)
    b = (t > -0.5) & (t < 0)
    out[a] = np.exp(-1 / (1 - (4 * t[a] + 3) ** 2))
    out[b] = -np.exp(-1 / (1 - (4 * t[b] + 1) ** 2))
    return out


def perturbed_uniform(rng: np.random.Generator, n: int, p: int, amplitude: float, s: float):
    """n samples of (x, y) from f_θ on [0, 1]² with P = p perturbations per axis (p = 0: the
    uniform). ``amplitude`` is c; the density stays in [0, 2] when c P^{-s} e^{-2} <= 1."""
    if p == 0:
        u = rng.uniform(size=(n, 2))
        return u[:, :1], u[:, 1:]
    theta = rng.choice([-1.0, 1.0], size=(p, p))
    scale = amplitude * p ** (-s)
    assert scale * math.exp(-2) <= 1, "density is negative"
    top = 1 + scale * math.exp(-2)
    samples = np.empty((0, 2))
    while len(samples) < n:
        u = rng.uniform(size=(4 * n, 2))
        cell = np.minimum((p * u).astype(int), p - 1)  # ν − 1
        t = p * u - (cell + 1)
        density = 1 + scale * theta[cell[:, 0], cell[:, 1]] * bump(t[:, 0]) * bump(t[:, 1])
        keep = rng.uniform(0, top, size=len(u)) <= density
        samples = np.concatenate([samples, u[keep]])
    samples = samples[:n]
    return samples[:, :1], samples[:, 1:]


def methods(b1: int, b2: int) -> dict[str, hsic.Method | str]:
    return {
        "aggregated, old grid": hsic.Aggregated(
            bandwidth_factors=(0.25, 0.5, 1.0, 2.0, 4.0), n_resamples=b1, n_resamples_level=b2
        ),
        "aggregated, new collection": hsic.Aggregated(n_resamples=b1, n_resamples_level=b2),
        "HSICAggInc": hsic.AggregatedIncomplete(n_resamples=b1, n_resamples_level=b2),
        "median, permutation": hsic.Permutation(n_resamples=b2),
        "median, gamma": "gamma",
    }


def one(p: int, r: int, args) -> dict:
    rng = np.random.default_rng([SEED, p, r])
    x, y = perturbed_uniform(rng, args.n, p, args.amplitude, args.smoothness)
    row = {"P": p, "rep": r, "pvalues": {}, "seconds": {}}
    for name, method in methods(args.b1, args.b2).items():
        if args.only and name != args.only:
            continue
        start = time.perf_counter()
        res = hsic.test(x, y, method=method, rng=r)
        row["seconds"][name] = time.perf_counter() - start
        row["pvalues"][name] = res.pvalue
        if name == "aggregated, new collection":
            row["pair_pvalues"] = np.round(res.info["pvalues"], 6).tolist()
    return row


def binomial_interval(k: int, n: int, level: float = 0.99) -> tuple[float, float]:
    """The range of rejection counts/n that a test of exact level α gives with probability
    ``level`` (the central binomial interval around α)."""
    from scipy.stats import binom

    lo = binom.ppf((1 - level) / 2, n, ALPHA)
    hi = binom.isf((1 - level) / 2, n, ALPHA)
    return float(lo / n), float(hi / n)


def report(rows: list[dict], args) -> dict:
    frequencies = sorted({row["P"] for row in rows})
    names = list(methods(args.b1, args.b2)) + list(getattr(args, "extra_names", []))
    power: dict[str, dict[str, float]] = {name: {} for name in [*names, "oracle"]}
    counts: dict[str, int] = {}
    oracle_pair: dict[str, list[int]] = {}
    pair_rates: dict[int, np.ndarray] = {}
    for p in frequencies:
        group = [row for row in rows if row["P"] == p]
        counts[str(p)] = len(group)
        for name in names:
            power[name][str(p)] = float(np.mean([row["pvalues"][name] <= ALPHA for row in group]))
        pairs = np.array([row["pair_pvalues"] for row in group])  # (reps, Jx, Jy)
        pair_rates[p] = np.mean(pairs <= ALPHA, axis=0)
    for p in frequencies:
        rates = pair_rates[p]
        best = np.unravel_index(int(np.argmax(rates)), rates.shape)
        oracle_pair[str(p)] = [int(best[0]), int(best[1])]
        power["oracle"][str(p)] = float(rates[best])
    if 0 in pair_rates:  # the oracle's pairs, under independence
        power["oracle"]["0"] = max(
            float(pair_rates[0][tuple(pair)]) for key, pair in oracle_pair.items() if key != "0"
        )
    lo, hi = binomial_interval(0, counts.get("0", 0) or 1)
    alternatives = [p for p in frequencies if p > 0]
    top = str(max(alternatives)) if alternatives else None

    def done_when(name: str) -> dict:
        new = power[name]
        gaps = {str(p): power["oracle"][str(p)] - new[str(p)] for p in alternatives}
        return {
            "oracle_minus_it_max": max(gaps.values()) if gaps else None,
            "oracle_minus_it": gaps,
            "it_minus_median_at_top": None if top is None
            else new[top] - power["median, permutation"][top],
        }

    seconds = {
        name: float(np.median([row["seconds"][name] for row in rows])) for name in names
    }
    out = {
        "what": "power at alpha = 0.05 on the perturbed uniform family, d_x = d_y = 1",
        "command": f"PYTHONPATH=. python benchmarks/power_aggregated.py --n {args.n} "
        f"--frequencies {' '.join(map(str, args.frequencies))} --b1 {args.b1} --b2 {args.b2}",
        "settings": {
            "n": args.n, "amplitude_c": args.amplitude, "smoothness_s": args.smoothness,
            "B1": args.b1, "B2": args.b2, "seed": SEED,
            "HSICAggInc": "B1, B2 as above; 5 x 5 bandwidths, R = 200 (capped at n/2 - 1)",
            "pair_pvalues": "fitted (the default) for every aggregated test",
            "permutation B": args.b2,
        },
        "repetitions": counts,
        "power": power,
        "oracle_pair": oracle_pair,
        "type_one_interval_99": [lo, hi],
        "done_when": {
            **{name: done_when(name) for name in names if "new collection" in name},
            "type_one_within_interval": {
                name: lo <= power[name].get("0", float("nan")) <= hi for name in power
            },
        },
        "median_seconds_per_test": seconds,
        "machine": {"platform": platform.platform(), "hsic": hsic.__version__},
    }
    return out


def figure(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [3, 2]})
    styles = {
        "aggregated, new collection": ("C0", "o", "-"),
        "aggregated, old grid": ("C1", "s", "-"),
        "HSICAggInc": ("C2", "^", "-"),
        "median, permutation": ("C3", "v", "-"),
        "median, gamma": ("C4", "x", ":"),
        "oracle": ("k", "*", "--"),
    }
    frequencies = sorted(int(p) for p in result["repetitions"] if int(p) > 0)
    styles = {name: style for name, style in styles.items() if name in result["power"]}
    for name, (color, marker, line) in styles.items():
        ax0.plot(frequencies, [result["power"][name][str(p)] for p in frequencies],
                 color=color, marker=marker, linestyle=line, label=name)
    ax0.set_xlabel("perturbations P per axis (higher: finer dependence)")
    ax0.set_ylabel("power at α = 0.05")
    ax0.set_xticks(frequencies)
    ax0.set_ylim(-0.02, 1.02)
    ax0.legend(fontsize=8)
    n0 = result["repetitions"].get("0", 0)
    ax0.set_title(f"perturbed uniform, n = {result['settings']['n']}, "
                  f"{min(result['repetitions'].values())}+ repetitions")
    lo, hi = result["type_one_interval_99"]
    names = [name for name in styles if "0" in result["power"][name]]
    values = [result["power"][name]["0"] for name in names]
    ax1.barh(range(len(names)), values, color=[styles[k][0] for k in names])
    ax1.axvspan(lo, hi, color="0.85", zorder=0, label="binomial 99 % interval")
    ax1.axvline(ALPHA, color="0.3", linewidth=0.8)
    ax1.set_yticks(range(len(names)), names, fontsize=8)
    ax1.set_xlabel(f"type-I error (P = 0, {n0} repetitions)")
    ax1.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def _read_state(path: Path) -> str:
    """The state file's text; the committed copy is gzipped (``STATE.gz``)."""
    if path.exists():
        return path.read_text()
    packed = path.with_name(path.name + ".gz")
    return gzip.decompress(packed.read_bytes()).decode() if packed.exists() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--first-rep", type=int, default=0,
                        help="start at this repetition (to split a run over processes)")
    parser.add_argument("--frequencies", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--amplitude", type=float, default=math.exp(2))
    parser.add_argument("--smoothness", type=float, default=0.0)
    parser.add_argument("--b1", type=int, default=500)
    parser.add_argument("--b2", type=int, default=499)
    parser.add_argument("--state", type=Path, default=ROOT / "results" / "power_aggregated.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "power_aggregated.json")
    parser.add_argument("--figure", type=Path,
                        default=ROOT.parent / "docs" / "figures" / "power_aggregated.png")
    parser.add_argument("--report", action="store_true", help="only write the JSON and figure")
    parser.add_argument("--only", help="run only this method (with --state of its own)")
    parser.add_argument("--extra", type=Path, action="append", default=[],
                        help="NAME=B1=STATE: rows of an --only run, shown as 'NAME (B1 = ...)'")
    args = parser.parse_args()
    rows = [json.loads(line) for line in _read_state(args.state).splitlines() if line]
    done = {(row["P"], row["rep"]) for row in rows}
    if not args.report:
        args.state.parent.mkdir(parents=True, exist_ok=True)
        with args.state.open("a") as state:
            # repetitions in the outer loop: every point grows together, so a stopped run
            # still gives a balanced (if shorter) study
            for r in range(args.first_rep, args.reps):
                for p in args.frequencies:
                    if (p, r) in done:
                        continue
                    row = one(p, r, args)
                    rows.append(row)
                    state.write(json.dumps(row) + "\n")
                    state.flush()
                print(f"repetition {r + 1}/{args.reps} done", flush=True)
    rows = [row for row in rows if row["P"] in args.frequencies and row["rep"] < args.reps]
    if args.only:
        return
    extra_names = []
    for spec in args.extra:
        name, b1, path = str(spec).split("=", 2)
        label = f"{name} (B1 = {b1})"
        extra_names.append(label)
        by_key = {(row["P"], row["rep"]): row for row in rows}
        for line in _read_state(Path(path)).splitlines():
            row = json.loads(line)
            key = (row["P"], row["rep"])
            if key in by_key and name in row["pvalues"]:
                by_key[key]["pvalues"][label] = row["pvalues"][name]
                by_key[key]["seconds"][label] = row["seconds"][name]
        rows = [row for row in rows if all(label in row["pvalues"] for label in extra_names)]
    args.extra_names = extra_names
    result = report(rows, args)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    figure(result, args.figure)
    print(json.dumps({k: result[k] for k in ("repetitions", "power", "done_when")}, indent=2))


if __name__ == "__main__":
    main()
