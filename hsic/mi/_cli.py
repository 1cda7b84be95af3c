"""The ``hsic compare`` command: the MI/HSIC comparison harness from the command line.

[`hsic.cli`][hsic.cli] registers it through [`add_compare_command`]; this module turns the
options into a call of [`hsic.mi.compare`][hsic.mi.compare], prints a summary table, and on
request writes the full table (``--out``: ``.csv`` or ``.json``) and the figures. ``--quick``
runs a small preset (`QUICK`) that finishes in seconds.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

__all__ = ["add_compare_command"]

_DEFAULT_ESTIMATORS = "ksg,gaussian,hsic,nhsic"

#: The settings of a plain run, and of ``--quick``: three tasks of known, increasing MI (two
#: of them in one family, for the rank correlation), a non-Gaussian one and an independent
#: pair (for the tests' size), at one small n. Options given on the command line win.
DEFAULTS = {"tasks": "all", "n": "200,1000", "seeds": 3, "permutations": 100}
QUICK = {"tasks": "normal-1d-0.8,normal-dense-3x3-0.5,additive-uniform-0.5,"
                  "independent-normal-3x3", "n": "200", "seeds": 2, "permutations": 50}


def add_compare_command(commands) -> None:
    """Add the ``compare`` sub-command to ``commands`` (an argparse sub-parser collection)."""
    from hsic._base.argtypes import non_negative_int, positive_int, probability

    compare = commands.add_parser(
        "compare",
        help="compare MI estimators, HSIC and nHSIC on tasks with known MI",
        description=(
            "Run MI estimators, HSIC and nHSIC on tasks whose true mutual information is known "
            "(hsic.mi.tasks) and tabulate their estimates, bias, RMSE, rank correlation with "
            "the true MI, permutation-test power and run time."
        ),
        epilog=(
            "Example: hsic compare --tasks normal-1d-0.8,independent-normal-3x3 --n 200,1000 "
            "--seeds 3 --estimators ksg,infonce,hsic --out results.csv --figures figs. "
            "A first look: hsic compare --quick"
        ),
    )
    compare.add_argument(
        "--tasks",
        default=None,
        metavar="NAMES",
        help="comma-separated task names, or 'all' for the standard suite (default: all)",
    )
    compare.add_argument(
        "--n", default=None, metavar="SIZES",
        help=f"comma-separated sample sizes (default: {DEFAULTS['n']})",
    )
    compare.add_argument(
        "--seeds", type=positive_int, default=None, metavar="S",
        help="repetitions (samples) per task and n, with seeds 0..S-1 (compare's `repeats`; "
        f"default: {DEFAULTS['seeds']})",
    )
    compare.add_argument(
        "--estimators", default=_DEFAULT_ESTIMATORS, metavar="NAMES",
        help="comma-separated estimators: ksg, gaussian, histogram, kde, infonce, nwj, mine, "
        "smile, hsic, nhsic (default: %(default)s)",
    )
    compare.add_argument(
        "--permutations", type=non_negative_int, default=None, metavar="B",
        help="permutations of each independence test (compare's `n_resamples`); 0 for no "
        f"tests (default: {DEFAULTS['permutations']})",
    )
    compare.add_argument(
        "--alpha", type=probability, default=0.05,
        help="level of the tests (default: %(default)s)",
    )
    compare.add_argument(
        "--steps", type=positive_int, metavar="STEPS",
        help="training steps of the neural estimators (default: theirs, 500)",
    )
    compare.add_argument(
        "--out", default=None, metavar="PATH",
        help="also write the full table to a .csv or .json file (without it, only the "
        "summary is printed)",
    )
    compare.add_argument(
        "--quick", action="store_true",
        help=f"a quick look, in seconds: --tasks {QUICK['tasks']} --n {QUICK['n']} --seeds "
        f"{QUICK['seeds']} --permutations {QUICK['permutations']} (options given win)",
    )
    compare.add_argument(
        "--figures", metavar="DIR",
        help="also draw the figures (PNG) into this folder (needs matplotlib)",
    )
    compare.set_defaults(run=_run_compare)


def _split(text: str, name: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError(f"`{name}` must be a comma-separated list; got {text!r}.")
    return items


def _run_compare(args: argparse.Namespace) -> None:
    import hsic.mi
    from hsic.mi._bounds import BOUNDS

    out = None if args.out is None else pathlib.Path(args.out)
    if out is not None and out.suffix.lower() not in (".csv", ".json"):
        raise ValueError(f"--out must end in .csv or .json; got {args.out!r}.")
    for key, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    tasks = list(hsic.mi.tasks.TASKS) if args.tasks == "all" else _split(args.tasks, "--tasks")
    sizes = []
    for text in _split(args.n, "--n"):
        try:
            sizes.append(int(text))
        except ValueError:
            raise ValueError(f"--n must be comma-separated integers; got {args.n!r}.") from None
    estimators = _split(args.estimators, "--estimators")
    options = {}
    if args.steps is not None:
        training = hsic.mi.Training(steps=args.steps)
        options = {e: {"training": training} for e in estimators if e in BOUNDS}
    result = hsic.mi.compare(
        tasks, n=sizes, repeats=args.seeds, rng=0, estimators=estimators,  # seeds 0..S-1
        n_resamples=args.permutations, alpha=args.alpha, options=options,
        progress=sys.stderr.isatty(),
    )
    print(_table(result))
    if out is not None:
        result.save(out)
        print(f"\nWrote {out} ({len(result.records)} rows).")
    if args.figures:
        for path in result.plot(args.figures):
            print(f"Wrote {path}.")


def _table(result) -> str:
    """A fixed-width summary: one line per (estimator, task, n)."""
    head = f"{'estimator':<10} {'task':<32} {'n':>6} {'true':>6} {'mean':>8} {'sd':>7} {'power':>5}"
    lines = [head, "-" * len(head)]
    for r in result.records:
        lines.append(
            f"{r['estimator']:<10} {r['task'][:32]:<32} {r['n']:>6} {r['true_mi']:>6.3f} "
            f"{r['estimate_mean']:>8.4g} {r['estimate_sd']:>7.3g} {r['power']:>5.2f}"
        )
    return "\n".join(lines)
