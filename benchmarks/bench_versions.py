"""Paired A/B benchmark of two checkouts of ``hsic``: did a change slow the core down?

Runs the hsic side of ``bench_core.py`` (statistic, permutation test, gamma test) and of
``bench_pairwise.py`` (pairwise gamma and permutation tests) in fresh subprocesses, alternating
between the two checkouts (A, B, A, B, ...), so that slow drifts of a shared machine's load hit
both alike. Each subprocess imports one checkout, warms every workload up (compilation is not
timed), then times each workload ``--repeats`` times (``block_until_ready``/``float``) and
reports the medians. The result per workload is the median over rounds of the paired ratio
``B / A`` (above 1: B is slower), with its range.

Both checkouts' APIs are supported: the method-object API (``hsic.Permutation``, ``rng=``) and
the earlier keyword API (``n_permutations=``, ``seed=``).

Run from the repository root, with the other checkout beside it::

    git worktree add /tmp/hsic-before <commit>
    python benchmarks/bench_versions.py /tmp/hsic-before . --rounds 5

Results go to ``benchmarks/results/versions.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: The workload code run inside each subprocess (its first argument: the repeats).
WORKER = r'''
import json, statistics, sys, time
import numpy as np
import hsic

repeats = int(sys.argv[1])
new_api = hasattr(hsic, "Permutation")
rng = np.random.default_rng(0)

def data(n, d=5):
    x = rng.normal(size=(n, d))
    y = np.sin(x) + 0.5 * rng.normal(size=(n, d))
    return x.astype(np.float32), y.astype(np.float32)

def test(x, y, method, B=None):
    if new_api:
        m = hsic.Permutation(n_resamples=B) if method == "permutation" else method
        return hsic.test(x, y, method=m, rng=0)
    return hsic.test(x, y, method=method, n_permutations=B or 1000, seed=0)

def pairwise(X, method, B=None):
    if new_api:
        m = hsic.Permutation(n_resamples=B) if method == "permutation" else method
        return hsic.pairwise(X, method=m, rng=0)
    return hsic.pairwise(X, method=method, n_permutations=B or 1000, seed=0)

work = {}
for n in (1000, 4000):
    x, y = data(n)
    work[f"statistic n={n}"] = lambda x=x, y=y: float(hsic.hsic(x, y))
    work[f"gamma test n={n}"] = lambda x=x, y=y: test(x, y, "gamma").pvalue
for n in (500, 1000):
    x, y = data(n)
    work[f"permutation test n={n} B=1000"] = lambda x=x, y=y: test(x, y, "permutation", 1000).pvalue
X = rng.normal(size=(1000, 40)).astype(np.float32)
work["pairwise gamma n=1000 40 cols"] = lambda: pairwise(X, "gamma").pvalue
work["pairwise permutation n=1000 10 cols B=200"] = lambda: pairwise(
    X[:, :10], "permutation", 200).pvalue

out = {}
for name, f in work.items():
    f()  # warm-up: compilation
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    out[name] = statistics.median(times)
print(json.dumps(out))
'''


def run_worker(checkout: Path, worker: str, *args: object) -> dict[str, float]:
    """Run ``worker`` (Python source printing one JSON line last) in a subprocess with
    ``checkout`` first on the path and ``args`` as its arguments; that line, parsed."""
    env_path = str(checkout.resolve())
    proc = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {env_path!r})\n" + worker,
         *map(str, args)],
        capture_output=True, text=True, check=True, cwd=checkout,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_once(checkout: Path, repeats: int) -> dict[str, float]:
    """One subprocess with ``checkout`` first on the path: the median time of each workload."""
    return run_worker(checkout, WORKER, repeats)


def summarise(rounds: list[dict], *, suffix: str = "") -> dict[str, dict]:
    """Per workload, the medians over rounds of A and B (keys ``a_median<suffix>``,
    ``b_median<suffix>``) and of the paired ratio ``B / A`` with its range; printed too."""
    summary = {}
    for name in rounds[0]["a"]:
        ratios = [rd["b"][name] / rd["a"][name] for rd in rounds]
        a = statistics.median(rd["a"][name] for rd in rounds)
        b = statistics.median(rd["b"][name] for rd in rounds)
        summary[name] = {
            f"a_median{suffix}": a,
            f"b_median{suffix}": b,
            "ratio_b_over_a": statistics.median(ratios),
            "ratio_range": [min(ratios), max(ratios)],
        }
        print(f"{name:45s} A {a:9.3f}  B {b:9.3f}  B/A = {statistics.median(ratios):.3f} "
              f"(range {min(ratios):.3f}-{max(ratios):.3f})")
    return summary


def write_result(args: argparse.Namespace, summary: dict, rounds: list[dict]) -> None:
    """Write ``args.out``: the date, machine, both checkouts, the settings, the summary and
    the raw rounds."""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": platform.platform(), "python": platform.python_version(),
        "a": str(args.a), "b": str(args.b), "rounds": args.rounds, "repeats": args.repeats,
        "summary": summary, "raw": rounds,
    }, indent=2))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="the checkout to compare against (before)")
    parser.add_argument("b", type=Path, help="the checkout under test (after)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "versions.json")
    args = parser.parse_args(argv)
    rounds = []
    for r in range(args.rounds):
        a = run_once(args.a, args.repeats)
        b = run_once(args.b, args.repeats)
        rounds.append({"a": a, "b": b})
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    write_result(args, summarise(rounds, suffix="_s"), rounds)


if __name__ == "__main__":
    main()
