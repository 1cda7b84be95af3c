"""The ``hsic`` command-line tool: its commands, options, output and exit codes.

* ``hsic test X Y``: an independence test between the samples in two data files (``.csv``,
  ``.tsv`` or ``.npy``, one row per sample, read by :func:`hsic._base.io.read_table`);
* ``hsic demo``: the same test on a built-in example (:func:`hsic.load_example`);
* ``hsic compare``: MI estimators, HSIC and nHSIC on tasks with known MI (``hsic/mi/_cli.py``);
* ``hsic --version``.

The statistics are :func:`hsic.test`'s; this module only turns arguments into a call and a
result into text or JSON. User errors (unreadable files, bad values, options that do not fit)
print one line, ``hsic: error: ...``, on stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import warnings
from collections.abc import Iterator, Sequence

import numpy as np

import hsic
from hsic._api.test import METHODS
from hsic._base.argtypes import non_negative_int, positive_float, positive_int, probability
from hsic._base.io import read_table
from hsic.bottleneck._cli import add_bottleneck_command
from hsic.datasets import EXAMPLES
from hsic.kernels import KERNEL_NAMES
from hsic.mi._cli import add_compare_command

__all__ = ["build_parser", "main", "verdict"]

#: Exit status of user errors (bad files, data or options), as argparse uses for usage errors.
EXIT_USER_ERROR = 2

_EXPLANATIONS = {
    "ring": (
        "150 points on a noisy circle. x and y are uncorrelated (Pearson r = {r:+.3f}), yet "
        "clearly dependent: a correlation test misses this, HSIC does not."
    ),
    "independent": (
        "150 draws of two independent normal variables (Pearson r = {r:+.3f}). "
        "HSIC should find no evidence of dependence."
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hsic`` command line.

    Args:
      argv: the arguments after the program name; ``None`` means ``sys.argv[1:]``.

    Returns:
      The exit status: 0 on success (and for ``--help`` and ``--version``), 2 for a user error.

    Example:
      >>> from hsic.cli import main
      >>> main(["--version"])  # doctest: +ELLIPSIS
      hsic ...
      0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error argparse has printed
        return exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    try:
        with _warnings_to_stderr():
            args.run(args)
    except ValueError as err:  # bad files or data (DataFileError) and hsic.test's own checks
        print(f"hsic: error: {' '.join(str(err).split())}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("hsic: interrupted", file=sys.stderr)
        return 130
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hsic`` and its ``test`` and ``demo`` commands.

    Example:
      >>> from hsic.cli import build_parser
      >>> args = build_parser().parse_args(["test", "x.csv", "y.csv", "--method", "gamma"])
      >>> args.x, args.method, args.seed
      ('x.csv', 'gamma', 0)
    """
    parser = argparse.ArgumentParser(
        prog="hsic",
        description="Kernel (HSIC) independence tests between two variables.",
        epilog="Run 'hsic demo' for a first look, and 'hsic test --help' for your own data.",
    )
    parser.add_argument("--version", action="version", version=f"hsic {hsic.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    output = argparse.ArgumentParser(add_help=False)
    output.add_argument(
        "--alpha",
        type=probability,
        default=0.05,
        help="significance level of the verdict line (default: %(default)s)",
    )
    output.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON (HSICTestResult.to_dict()) instead of text",
    )

    test = commands.add_parser(
        "test",
        parents=[output],
        help="test whether the variables in two files are independent",
        description=(
            "Test whether X and Y are independent. X and Y are .csv, .tsv or .npy files with "
            "one row per sample (the same samples, in the same order) and one or more columns. "
            "A first row of column names in .csv/.tsv files is detected and skipped."
        ),
        epilog="Example: hsic test x.csv y.csv --permutations 2000 --seed 1",
    )
    test.add_argument("x", metavar="X", help="samples of the first variable")
    test.add_argument("y", metavar="Y", help="samples of the second variable")
    test.add_argument(
        "--method",
        choices=list(METHODS),
        default="permutation",
        help="null distribution: exact permutations, or the faster gamma approximation "
        "(default: %(default)s)",
    )
    test.add_argument(
        "--permutations",
        type=positive_int,
        default=1000,
        metavar="B",
        help="number of permutations (or bootstrap samples, or null draws); ignored by the "
        "methods without resampling, gamma and block (default: %(default)s)",
    )
    test.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        metavar="S",
        help="random seed (the test's rng) (default: %(default)s)",
    )
    for var in ("x", "y"):
        test.add_argument(
            f"--kernel-{var}",
            type=str.lower,
            choices=list(KERNEL_NAMES),
            default="gaussian",
            metavar="NAME",
            help=f"kernel of {var.upper()}: {', '.join(KERNEL_NAMES)} (default: %(default)s)",
        )
        test.add_argument(
            f"--bandwidth-{var}",
            type=positive_float,
            metavar="FLOAT",
            help=f"bandwidth of a gaussian or laplace kernel of {var.upper()} "
            "(default: the median distance between samples)",
        )
    test.set_defaults(run=_run_test)

    demo = commands.add_parser(
        "demo",
        parents=[output],
        help="run the test on a built-in example",
        description="Run an HSIC permutation test on a small built-in example dataset.",
    )
    demo.add_argument(
        "--example",
        choices=EXAMPLES,
        default="ring",
        help="which example (default: %(default)s)",
    )
    demo.set_defaults(run=_run_demo)

    add_compare_command(commands)

    add_bottleneck_command(commands)
    return parser


def verdict(pvalue: float, alpha: float) -> str:
    """A one-line reading of a p-value at significance level ``alpha``.

    Example:
      >>> from hsic.cli import verdict
      >>> verdict(0.001, 0.05)
      'p = 0.001 <= alpha = 0.05: reject independence; the data show evidence of dependence.'
    """
    if pvalue <= alpha:
        return (
            f"p = {pvalue:.4g} <= alpha = {alpha:g}: reject independence; "
            "the data show evidence of dependence."
        )
    return (
        f"p = {pvalue:.4g} > alpha = {alpha:g}: no evidence of dependence at this level "
        "(which does not prove independence)."
    )


def _run_test(args: argparse.Namespace) -> None:
    x, y = read_table(args.x), read_table(args.y)
    if len(x) != len(y):
        raise ValueError(
            f"{args.x} has {len(x)} samples but {args.y} has {len(y)}; the files need one row "
            "per sample, for the same samples in the same order."
        )
    res = hsic.test(
        x,
        y,
        method=_method(args.method, args.permutations),
        kernel_x=_kernel(args.kernel_x, args.bandwidth_x, "--bandwidth-x"),
        kernel_y=_kernel(args.kernel_y, args.bandwidth_y, "--bandwidth-y"),
        rng=args.seed,
        progress=not args.json and sys.stderr.isatty(),
    )
    header = f"X: {args.x} {_shape(x)}\nY: {args.y} {_shape(y)}"
    _print_result(res, args, header)


def _run_demo(args: argparse.Namespace) -> None:
    x, y = hsic.load_example(args.example)
    res = hsic.test(x, y, rng=0)
    r = float(np.corrcoef(x, y)[0, 1])
    header = f"Example {args.example!r}: {_EXPLANATIONS[args.example].format(r=r)}"
    _print_result(res, args, header)
    if not args.json:
        print("Next: hsic test X.csv Y.csv on your own data (see hsic test --help).")


def _print_result(res: hsic.HSICTestResult, args: argparse.Namespace, header: str) -> None:
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
    else:
        print(f"{header}\n\n{res}\n\n{verdict(res.pvalue, args.alpha)}")


def _method(name: str, n_resamples: int) -> hsic.Method:
    """The method object of ``--method``, with ``--permutations`` where it resamples."""
    cls = METHODS[name]
    takes = {field.name for field in dataclasses.fields(cls)}
    # a Method subclass, called with n_resamples only when it has that field
    return cls(n_resamples=n_resamples) if "n_resamples" in takes else cls()  # type: ignore[call-arg]


def _kernel(name: str, bandwidth: float | None, flag: str) -> str | hsic.kernels.Kernel:
    """The kernel name, or a kernel object with a fixed bandwidth."""
    if bandwidth is None:
        return name
    cls = KERNEL_NAMES[name]
    if "bandwidth" not in {f.name for f in dataclasses.fields(cls)}:
        raise ValueError(f"{flag} applies to the gaussian and laplace kernels, not to {name!r}.")
    return cls(bandwidth=bandwidth)  # type: ignore[call-arg]  # it has a bandwidth (checked above)


def _shape(a: np.ndarray) -> str:
    n, d = a.shape
    return f"({n} samples, {d} column{'s' if d > 1 else ''})"


@contextlib.contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Show each warning, as it happens, as one line ``hsic: warning: ...`` on stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _show_warning
        yield


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"hsic: warning: {' '.join(str(message).split())}", file=sys.stderr)
