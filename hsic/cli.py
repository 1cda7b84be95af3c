"""The ``hsic`` command-line tool: its commands, options, output and exit codes.

* ``hsic test X Y`` (or ``hsic test DATA --x COLS --y COLS``): an independence test between
  the samples in two data files, or two sets of columns of one (``.csv``, ``.tsv`` or
  ``.npy``, one row per sample, read by :func:`hsic._base.io.load_table`; missing values are
  refused or, with ``--dropna``, dropped from both). Its method options are derived from the
  fields of the method objects (:func:`method_options`), so that each method's options have
  flags and a flag the method does not take is refused, as ``hsic.test`` refuses it;
* ``hsic demo``: the same test on a built-in example (:func:`hsic.load_example`);
* ``hsic compare``: MI estimators, HSIC and nHSIC on tasks with known MI (``hsic/mi/_cli.py``);
* ``hsic --version``.

The statistics are :func:`hsic.test`'s; this module only turns arguments into a call and a
result into text or JSON. User errors (unreadable files, bad values, options that do not fit)
print one line, ``hsic: error: ...``, on stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import collections.abc
import contextlib
import dataclasses
import inspect
import json
import re
import sys
import types
import typing
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import hsic
from hsic._api.test import METHODS
from hsic._base.argtypes import non_negative_int, positive_float, probability
from hsic._base.io import Table, load_table
from hsic.bottleneck._cli import add_bottleneck_command
from hsic.datasets import EXAMPLES
from hsic.kernels import KERNEL_NAMES
from hsic.mi._cli import add_compare_command

__all__ = ["MethodOption", "build_parser", "main", "method_options", "verdict"]

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
      >>> args.x, args.y, args.method, args.rng
      ('x.csv', 'y.csv', 'gamma', None)
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
        help="test whether two variables are independent, from one or two data files",
        description=(
            "Test whether X and Y are independent. Either two files, X and Y, with one row per "
            "sample (the same samples, in the same order) and one or more columns, or one file "
            "with --x and --y naming the columns of each variable. Files are .csv, .tsv (read "
            "with pandas) or .npy; a first row of column names in a text file is detected. A "
            "missing value (an empty cell, NaN, or an empty line inside the data) is an error "
            "unless --dropna is given."
        ),
        epilog=(
            "Examples: hsic test x.csv y.csv --n-resamples 2000 --rng 1; "
            "hsic test data.csv --x a,b --y c --dropna"
        ),
    )
    test.add_argument("x", metavar="X", help="the data file of the first variable (or of both)")
    test.add_argument(
        "y", metavar="Y", nargs="?", help="the data file of the second variable (optional)"
    )
    data = test.add_argument_group("data")
    for var in ("x", "y"):
        data.add_argument(
            f"--{var}",
            dest=f"{var}_columns",
            metavar="COLS",
            help=f"the columns of {var.upper()}: a name or comma-separated names in the header "
            f"row (required with one file; with two, from {var.upper()}'s file)",
        )
    data.add_argument(
        "--columns",
        metavar="COLS",
        help="with two files: the columns to use from each file, comma-separated names",
    )
    data.add_argument(
        "--index-col",
        metavar="COL",
        help="drop this column of each text file, by 0-based position or name: the row labels "
        "that pandas' DataFrame.to_csv() writes first (refused unless dropped or unused)",
    )
    data.add_argument(
        "--dropna",
        action="store_true",
        help="drop the rows where X or Y has a missing value (the same rows from both), and "
        "say how many on stderr",
    )
    test.add_argument(
        "--method",
        choices=list(METHODS),
        default="permutation",
        help="how the p-value is computed (default: %(default)s); see the method options below",
    )
    test.add_argument(
        "--rng",
        type=non_negative_int,
        metavar="S",
        help="random seed: the source of every random choice (default: hsic.test's)",
    )
    test.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        help="floating-point precision of the computation (default: hsic.test's, float32 "
        "unless JAX's x64 mode is on)",
    )
    test.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help="show a progress bar on stderr (default: when stderr is a terminal and --json "
        "is not given)",
    )
    test.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar and no notes on stderr; warnings and errors are still shown",
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
    add_method_options(test)
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
    if args.quiet and args.progress:
        raise ValueError("--quiet and --progress contradict each other; give one of them.")
    method = method_from_args(args)
    (tx, label_x), (ty, label_y) = _read_pair(args)
    x, y = _complete(tx, ty, args)
    options = {} if args.rng is None else {"rng": args.rng}
    res = hsic.test(
        x,
        y,
        method=method,
        kernel_x=_kernel(args.kernel_x, args.bandwidth_x, "--bandwidth-x"),
        kernel_y=_kernel(args.kernel_y, args.bandwidth_y, "--bandwidth-y"),
        dtype=args.dtype,
        progress=(
            args.progress
            if args.progress is not None
            else not (args.quiet or args.json) and sys.stderr.isatty()
        ),
        **options,
    )
    header = f"X: {label_x} {_shape(x)}\nY: {label_y} {_shape(y)}"
    _print_result(res, args, header)


def _read_pair(args: argparse.Namespace) -> tuple[tuple[Table, str], tuple[Table, str]]:
    """The tables of X and Y, with their labels: from two files, or two column sets of one."""
    index_col = args.index_col
    if index_col is not None and index_col.strip().isdigit():
        index_col = int(index_col)
    paths = [args.x] if args.y is None else [args.x, args.y]
    text = [Path(p).suffix.lower() in (".csv", ".tsv") for p in paths]
    if index_col is not None and not any(text):
        raise ValueError("--index-col applies to .csv and .tsv files only.")
    tables = [
        load_table(path, index_col=index_col if is_text else None)
        for path, is_text in zip(paths, text, strict=True)
    ]
    if args.y is None:
        if args.x_columns is None or args.y_columns is None or args.columns is not None:
            raise ValueError(
                "with one file, name the columns of X and of Y with --x and --y (e.g. "
                f"hsic test {args.x} --x a --y b), and not --columns; or give two files."
            )
        tables.append(tables[0])
        selections = [("--x", args.x_columns), ("--y", args.y_columns)]
    else:
        if args.columns is not None and (args.x_columns or args.y_columns):
            raise ValueError("give --columns (for both files) or --x/--y, not both.")
        selections = [
            ("--x" if args.x_columns else "--columns", args.x_columns or args.columns),
            ("--y" if args.y_columns else "--columns", args.y_columns or args.columns),
        ]
    out = []
    for table, (flag, columns) in zip(tables, selections, strict=True):
        label = table.path
        if columns is not None:
            names = [name.strip() for name in columns.split(",")]
            table = table.select(names, flag)
            label += f" [{', '.join(names)}]"
        table.check_no_index()
        out.append((table, label))
    return out[0], out[1]


def _complete(tx: Table, ty: Table, args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """X's and Y's values, without missing values: refused, or (--dropna) dropped from both."""
    if not args.dropna:
        advice = "fill it in, or pass --dropna to drop the rows where X or Y has a missing value."
        tx.check_complete(advice)
        ty.check_complete(advice)
    if len(tx) != len(ty):
        ignored = [
            f"{t.trailing_blank} empty line(s) at the end of {t.path} were ignored"
            for t in (tx, ty)
            if t.trailing_blank
        ]
        raise ValueError(
            f"{tx.path} has {len(tx)} samples but {ty.path} has {len(ty)}; the files need one "
            "row per sample, for the same samples in the same order"
            + (f" ({'; '.join(ignored)}: if they are missing values, write them as NaN)."
               if ignored else ".")
        )
    gaps = tx.missing() | ty.missing()
    if not gaps.any():
        return tx.values, ty.values
    if not args.quiet:
        print(
            f"hsic: dropped {int(gaps.sum())} of {len(gaps)} rows where X or Y has a missing "
            "value (--dropna).",
            file=sys.stderr,
        )
    return tx.values[~gaps], ty.values[~gaps]


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


# --------------------------------------------------------------------------------------------
# The method options of ``hsic test``, derived from the method objects' fields
# --------------------------------------------------------------------------------------------

#: Method fields that the command line takes under another option: ``Aggregated.alpha`` is
#: the level of the verdict, ``--alpha``.
_SHARED = {"alpha": "alpha"}
#: Method fields without a command-line form (an array of weights, a pair of bandwidth lists):
#: Python API only.
API_ONLY = ("weights", "bandwidths")
#: Help where the methods' own descriptions of a field differ.
_HELP = {
    "n_resamples": "B, the number of permutations, bootstrap replicates or null draws",
}
#: Old spellings of options, still taken with a warning: (old flag, dest, new flag).
_DEPRECATED = (
    ("--permutations", "n_resamples", "--n-resamples", int),
    ("--seed", "rng", "--rng", non_negative_int),
)


@dataclasses.dataclass(frozen=True)
class MethodOption:
    """A command-line option of ``hsic test`` for one field of its method objects.

    Attributes:
      field: the field's name, as in ``hsic.Permutation(n_resamples=...)``.
      flag: the option, ``--`` and the field's name with hyphens.
      methods: the names of the methods that take it.
    """

    field: str
    flag: str
    methods: tuple[str, ...]


def method_options() -> dict[str, MethodOption]:
    """The options of the methods of ``hsic test``, by field name, from their dataclasses.

    Example:
      >>> from hsic.cli import method_options
      >>> method_options()["n_features"]
      MethodOption(field='n_features', flag='--n-features', methods=('rff', 'nystrom'))
    """
    takes: dict[str, list[str]] = {}
    for name, cls in METHODS.items():
        for field in dataclasses.fields(cls):
            if field.name not in API_ONLY and field.name not in _SHARED:
                takes.setdefault(field.name, []).append(name)
    return {
        field: MethodOption(field, "--" + field.replace("_", "-"), tuple(names))
        for field, names in takes.items()
    }


def add_method_options(parser: argparse.ArgumentParser) -> None:
    """Add an option for each field of the method objects, with its type and help."""
    group = parser.add_argument_group(
        "method options",
        "Options of the method objects of hsic.test (hsic.Permutation, hsic.RFF, ...). Each "
        "applies to the methods in brackets, and is refused with another method; unset, "
        "the method's default holds.",
    )
    for option in method_options().values():
        cls = METHODS[option.methods[0]]
        parse, choices, metavar = _argparse_type(typing.get_type_hints(cls)[option.field])
        text = _HELP.get(option.field) or _documented_args(cls).get(option.field, "")
        group.add_argument(
            option.flag,
            dest=option.field,
            type=parse,
            choices=choices,
            metavar=metavar,
            help=f"[{', '.join(option.methods)}] {text}".replace("%", "%%"),
        )
    for old, dest, new, parse in _DEPRECATED:
        group.add_argument(
            old,
            dest=f"deprecated_{dest}",
            type=parse,
            metavar="N",
            help=f"deprecated spelling of {new}",
        )


def method_from_args(args: argparse.Namespace) -> hsic.Method:
    """The method object of ``--method`` and its options; an option it does not take, or a
    bad value, raises a ``ValueError`` that names the option."""
    for old, dest, new, _ in _DEPRECATED:
        value = getattr(args, f"deprecated_{dest}", None)
        if value is None:
            continue
        if getattr(args, dest) is not None:
            raise ValueError(f"{old} is the old spelling of {new}; give only {new}.")
        warnings.warn(f"{old} is deprecated; use {new}.", FutureWarning, stacklevel=1)
        setattr(args, dest, value)
    cls = METHODS[args.method]
    given = {}
    for field, option in method_options().items():
        value = getattr(args, field, None)
        if value is None:
            continue
        if args.method not in option.methods:
            raise ValueError(
                f"{option.flag} applies only to --method {' or '.join(option.methods)}; "
                f"got it with --method {args.method}."
            )
        given[field] = value
    if "alpha" in {f.name for f in dataclasses.fields(cls)}:
        given["alpha"] = args.alpha
    try:
        return cls(**given)
    except ValueError as err:  # the method's own check; name the options, not the fields
        message = str(err)
        for field in given:
            flag = "--alpha" if field == "alpha" else method_options()[field].flag
            message = message.replace(f"`{field}`", flag)
        raise ValueError(message) from None


def _argparse_type(hint: Any) -> tuple[Callable[[str], Any], tuple[str, ...] | None, str | None]:
    """``(type, choices, metavar)`` of an option, from its field's annotation."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (hint,) = (a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is typing.Literal:
        return str, typing.get_args(hint), None
    if hint is int:
        return int, None, "INT"
    if hint is float:
        return float, None, "FLOAT"
    if typing.get_origin(hint) is collections.abc.Sequence and typing.get_args(hint) == (float,):
        return _floats, None, "F1,F2,..."
    raise TypeError(f"no command-line form for a field of type {hint!r}; list it in API_ONLY.")


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers; got {text!r}"
        ) from None


def _documented_args(cls: type) -> dict[str, str]:
    """The descriptions of the fields in a class's Google-style "Args:" section."""
    _, _, section = (inspect.getdoc(cls) or "").partition("Args:\n")
    found: dict[str, str] = {}
    field = None
    for line in section.splitlines():
        match = re.match(r"  (\w+): (.*)", line)
        if match:
            field = match.group(1)
            found[field] = match.group(2)
        elif line.startswith("    ") and field:
            found[field] += " " + line.strip()
        elif line.strip():
            break
    for name, text in found.items():  # plain text: no Markdown links or code spans
        text = re.sub(r"\[(`?[^]]+`?)\]\[[^]]*\]", r"\1", text)
        found[name] = re.sub(r"``?([^`]+)``?", r"\1", text).replace("None: ", "unset: ")
    return found


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
