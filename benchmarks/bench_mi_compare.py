"""The published MI/HSIC comparison: ``hsic.mi.compare`` on the standard task suite.

Runs the harness on the twelve tasks of ``hsic.mi.tasks.TASKS`` at n ∈ {200, 1000, 5000} and
writes ``benchmarks/results/mi_compare.csv`` (the summary table), ``mi_compare.json`` (table,
per-seed runs, configuration, machine and versions) and the figures
``docs/figures/mi/estimate_vs_true_mi.png`` and ``power_vs_n.png``, which
``docs/mi-results.md`` shows.

What a shared 2-core machine can afford decides three things (all stated on the docs page):

* Power (a permutation test per statistic, B permutations, the same for all) is computed at
  n ∈ {200, 1000}. At n = 5000 only the estimates are computed: the exact HSIC permutation
  engine costs about a second per permutation there on this machine, and a KSG/KDE permutation
  test B full re-estimates.
* ``kde`` (O(n²) in NumPy, about 1 s per estimate at n = 1000) gets estimates only, and only
  at n ∈ {200, 1000}.
* The neural bounds train for ``--steps`` steps (default 300), fewer seeds at n = 5000.

Run from the repository root, niced, in the background::

    nice python benchmarks/bench_mi_compare.py > /tmp/bench_mi.log 2>&1 &
    python benchmarks/bench_mi_compare.py --quick      # smoke run: 3 tasks, n ∈ {200, 400}
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, str(REPO))

import hsic.mi  # noqa: E402

TESTED = ["ksg", "gaussian", "histogram", "infonce", "nwj", "mine", "smile", "hsic", "nhsic"]
NEURAL = ["infonce", "nwj", "mine", "smile"]


def merge(parts: list[hsic.mi.CompareResult]) -> hsic.mi.CompareResult:
    """One result from several ``compare`` runs (their records and runs, in order)."""
    first = parts[0]
    config = dict(first.config)
    config["parts"] = [dict(p.config) for p in parts]
    return dataclasses.replace(
        first,
        records=tuple(r for p in parts for r in p.records),
        runs=tuple(r for p in parts for r in p.runs),
        config=config,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--permutations", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seeds-large", type=int, default=2, help="seeds at n = 5000")
    parser.add_argument("--steps", type=int, default=300, help="neural training steps")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "mi_compare"))
    parser.add_argument("--figures", default=str(REPO / "docs" / "figures" / "mi"))
    args = parser.parse_args(argv)

    tasks = list(hsic.mi.tasks.TASKS)
    small, large = [200, 1000], [5000]
    if args.quick:
        tasks = ["normal-1d-0.8", "student-t-2x2-dof3-0.5", "independent-normal-3x3"]
        small, large = [200], [400]
        args.out += "_quick"
        args.figures = str(Path(args.figures).with_name("mi_quick"))
    options = {e: {"steps": args.steps} for e in NEURAL}
    plan = [
        ("tests at small n", dict(n=small, seeds=args.seeds, estimators=TESTED,
                                  n_permutations=args.permutations, options=options)),
        ("kde at small n", dict(n=small, seeds=args.seeds, estimators=["kde"],
                                n_permutations=0)),
        ("estimates at large n", dict(n=large, seeds=args.seeds_large, estimators=TESTED,
                                      n_permutations=0, options=options)),
    ]
    parts = []
    for label, kwargs in plan:
        start = time.perf_counter()
        print(f"[{time.strftime('%H:%M:%S')}] {label}: {kwargs}", flush=True)
        parts.append(hsic.mi.compare(tasks, progress=False, **kwargs))
        print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
        result = merge(parts)  # written after each part, so that a cut-short run leaves data
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        print("wrote", result.to_csv(out.with_suffix(".csv")),
              result.to_json(out.with_suffix(".json")))
        print("wrote", *result.plot(args.figures), flush=True)


if __name__ == "__main__":
    main()
