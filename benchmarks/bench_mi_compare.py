"""The published MI/HSIC comparison: ``hsic.mi.compare`` on ten standard tasks.

Runs the harness on ten of the twelve tasks of ``hsic.mi.tasks.TASKS`` at n ∈ {200, 1000,
5000} and writes ``benchmarks/results/mi_compare.csv`` (the summary table),
``mi_compare.json`` (table, per-repetition runs, configuration, machine and versions) and the
figures ``docs/figures/mi/estimate_vs_true_mi.png`` and ``power_vs_n.png``, which
``docs/mi-results.md`` shows. Results are rewritten after each part, so a cut-short run still
leaves data.

What a shared 2-core machine can afford decides the budget (all stated on the docs page):

* repetitions (``repeats``, seeds 0, 1, ...): 3 at n = 200, 2 at n = 1000, 1 at n = 5000
  (``--seeds``);
* power (a permutation test per statistic, B = 30 permutations, the same for all) at
  n ∈ {200, 1000} only. At n = 5000 only the estimates are computed: the exact HSIC
  permutation engine and a KSG permutation test (B full re-estimates) cost too much there
  (timings in ``benchmarks/README.md``);
* ``kde`` (O(n²) in NumPy): estimates only, at n ∈ {200, 1000};
* the neural bounds train for at most 300 steps (``hsic.mi.Training(steps=...)``,
  ``--steps``; early stopping may end them sooner).

Run from the repository root, niced, in the background::

    nice python benchmarks/bench_mi_compare.py > /tmp/bench_mi.log 2>&1 &
    python benchmarks/bench_mi_compare.py --quick      # smoke run: 3 tasks, n ∈ {100, 200, 400}
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
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


def markdown(result: hsic.mi.CompareResult) -> str:
    """Markdown tables of the result: estimates (mean ± sd, with bias), power, Spearman's ρ."""
    recs = result.records
    names = list(dict.fromkeys(r["estimator"] for r in recs))
    tasks = list(dict.fromkeys(r["task"] for r in recs))
    sizes = sorted({r["n"] for r in recs})
    get = {(r["estimator"], r["task"], r["n"]): r for r in recs}
    out = []
    for size in sizes:
        out += [f"### Estimates at n = {size} (mean ± sd over "
                f"{next(r['n_repeats'] for r in recs if r['n'] == size)} repetition(s))", ""]
        out.append("| task | true MI | " + " | ".join(names) + " |")
        out.append("|---|---|" + "---|" * len(names))
        for task in tasks:
            cells = []
            for name in names:
                r = get.get((name, task, size))
                if r is None:
                    cells.append("")
                elif r["estimate_sd"] == r["estimate_sd"]:  # not NaN
                    cells.append(f"{r['estimate_mean']:.3g} ± {r['estimate_sd']:.2g}")
                else:
                    cells.append(f"{r['estimate_mean']:.3g}")
            true_mi = next(r["true_mi"] for r in recs if r["task"] == task)
            out.append(f"| {task} | {true_mi:.3f} | " + " | ".join(cells) + " |")
        out.append("")
    tested = [
        n for n in names if any(r["power"] == r["power"] for r in recs if r["estimator"] == n)
    ]
    for size in sizes:
        rows = [r for r in recs if r["n"] == size and r["power"] == r["power"]]
        if not rows:
            continue
        out += [f"### Power at α = {result.alpha:g}, n = {size}", ""]
        out.append("| task | true MI | " + " | ".join(tested) + " |")
        out.append("|---|---|" + "---|" * len(tested))
        for task in tasks:
            cells = [f"{get[(n, task, size)]['power']:.2f}" if (n, task, size) in get else ""
                     for n in tested]
            true_mi = next(r["true_mi"] for r in recs if r["task"] == task)
            out.append(f"| {task} | {true_mi:.3f} | " + " | ".join(cells) + " |")
        out.append("")
    out += ["### Spearman's ρ with the true MI, normal family", ""]
    out.append("| n | " + " | ".join(names) + " |")
    out.append("|---|" + "---|" * len(names))
    for size in sizes:
        cells = []
        for name in names:
            rho = [r["spearman_family"] for r in recs
                   if r["estimator"] == name and r["n"] == size and r["family"] == "normal"]
            cells.append(f"{rho[0]:.2f}" if rho and rho[0] == rho[0] else "")
        out.append(f"| {size} | " + " | ".join(cells) + " |")
    out.append("")
    out += ["### Median seconds per estimate (time_s) and per B permuted values (test_time_s)",
            "", "| estimator | " + " | ".join(f"n = {s}" for s in sizes) + " |",
            "|---|" + "---|" * len(sizes)]
    for name in names:
        cells = []
        for size in sizes:
            rs = [r for r in recs if r["estimator"] == name and r["n"] == size]
            if not rs:
                cells.append("")
                continue
            est = sorted(r["time_s"] for r in rs)[len(rs) // 2]
            test = sorted(r["test_time_s"] for r in rs)[len(rs) // 2]
            cells.append(f"{est:.3g} / {test:.3g}" if test else f"{est:.3g}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


#: Keys of results written before ``compare`` took ``repeats`` and ``n_resamples``.
RENAMED = {"n_seeds": "n_repeats", "n_permutations": "n_resamples"}


def load(path: Path) -> hsic.mi.CompareResult:
    """A result back from the JSON that ``CompareResult.to_json`` wrote (null becomes NaN).

    Files written before the renames (``n_seeds``, ``n_permutations``) are read too.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    data = {RENAMED.get(k, k): v for k, v in data.items()}

    def nan(record):
        return {RENAMED.get(k, k): (math.nan if v is None else v) for k, v in record.items()}

    return hsic.mi.CompareResult(
        records=tuple(nan(r) for r in data["records"]), runs=tuple(nan(r) for r in data["runs"]),
        alpha=data["alpha"], n_resamples=data["n_resamples"], config=data["config"],
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--permutations", type=int, default=30,
                        help="n_resamples, the permutations of each test")
    parser.add_argument("--seeds", type=int, nargs=3, default=[3, 2, 1], metavar="S",
                        help="repeats (seeds 0..S-1) at n = 200, 1000 and 5000")
    parser.add_argument("--steps", type=int, default=300, help="neural training steps")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "mi_compare"))
    parser.add_argument("--figures", default=str(REPO / "docs" / "figures" / "mi"))
    parser.add_argument("--render", metavar="JSON",
                        help="only redraw the figures and the Markdown tables from a saved JSON")
    args = parser.parse_args(argv)
    if args.render:
        result = load(Path(args.render))
        Path(args.render).with_suffix(".md").write_text(markdown(result), encoding="utf-8")
        print("wrote", *result.plot(args.figures))
        return

    # Ten of the twelve standard tasks: the 25x25 Gaussian and the normal-CDF transform of the
    # 3x3 Gaussian are left out to fit the budget of a shared 2-core machine.
    tasks = [t for t in hsic.mi.tasks.TASKS
             if t not in ("normal-dense-25x25-0.5", "normal-cdf-normal-dense-3x3-0.5")]
    sizes = [200, 1000, 5000]
    if args.quick:
        tasks = ["normal-1d-0.8", "student-t-2x2-dof3-0.5", "independent-normal-3x3"]
        sizes = [100, 200, 400]
        args.out += "_quick"
        args.figures = str(Path(args.figures).with_name("mi_quick"))
    options = {e: {"training": hsic.mi.Training(steps=args.steps)} for e in NEURAL}
    s200, s1000, s5000 = args.seeds
    plan = [
        (f"n={sizes[0]}", dict(n=sizes[0], repeats=s200, estimators=TESTED,
                               n_resamples=args.permutations, options=options)),
        (f"n={sizes[1]}", dict(n=sizes[1], repeats=s1000, estimators=TESTED,
                               n_resamples=args.permutations, options=options)),
        (f"n={sizes[2]}, estimates only", dict(n=sizes[2], repeats=s5000, estimators=TESTED,
                                               n_resamples=0, options=options)),
        ("kde, estimates only", dict(n=sizes[:2], repeats=min(s200, s1000), estimators=["kde"],
                                     n_resamples=0)),
    ]
    parts = []
    for label, kwargs in plan:
        start = time.perf_counter()
        print(f"[{time.strftime('%H:%M:%S')}] {label}: {kwargs}", flush=True)
        parts.append(hsic.mi.compare(tasks, progress=True, **kwargs))
        print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
        result = merge(parts)  # written after each part, so that a cut-short run leaves data
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        print("wrote", result.to_csv(out.with_suffix(".csv")),
              result.to_json(out.with_suffix(".json")))
        print("wrote", *result.plot(args.figures), flush=True)
        out.with_suffix(".md").write_text(markdown(result), encoding="utf-8")


if __name__ == "__main__":
    main()
