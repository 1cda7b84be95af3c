"""Reading data files for the command-line tool.

This module owns the file formats that ``hsic test`` accepts (``.csv``, ``.tsv`` and ``.npy``,
one row per sample) and their error messages. Text files are parsed by ``pandas.read_csv``;
this module adds what a test of independence needs on top: every cell a number, the line
(as a text editor counts it) and column of any bad or missing cell, and no silent row shifts
or index columns. :func:`load_table` returns a :class:`Table` that keeps missing values as NaN
with their lines, so that the caller can report them or drop the same rows of two files;
:func:`read_table` is the one-call form that refuses them. Every error is a
:class:`DataFileError` naming the file. Checks on the statistics' side (matching n, constant
data...) stay in :func:`hsic.test`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["DataFileError", "SUFFIXES", "Table", "load_table", "read_table"]

#: The file types :func:`read_table` reads, and the delimiter of the text ones.
SUFFIXES = {".csv": ",", ".tsv": "\t", ".npy": None}

#: The advice of an error on a missing value when the caller gives none.
FILL_IN = "fill it in, or drop the rows with missing values."


class DataFileError(ValueError):
    """A data file that cannot be used; the message starts with the file (and line, column).

    Attributes:
      path: the file, as given.
      line: the 1-based line of a text file where the problem is, or ``None``.
      column: the 1-based column of that line, or ``None``.
      name: that column's name in the header row, or ``None``.
      row: where there are no lines (``.npy``), the 0-based row; ``column`` is then 0-based.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        reason: str,
        line: int | None = None,
        column: int | None = None,
        *,
        name: str | None = None,
        row: int | None = None,
    ):
        self.path, self.line, self.column = os.fspath(path), line, column
        self.name, self.row = name, row
        where = [self.path]
        where += [] if line is None else [f"line {line}"]
        where += [] if row is None else [f"row {row}"]
        if column is not None:
            where += [f"column {column}" + ("" if name is None else f" ({name!r})")]
        if row is not None:
            where[-1] += " (counting from 0)"
        super().__init__(f"{', '.join(where)}: {reason}")


@dataclasses.dataclass(frozen=True)
class Table:
    """The numbers of a data file, with what is needed to report on its rows and columns.

    Attributes:
      path: the file, as given.
      values: a float64 array of shape ``(n, d)``; NaN marks a missing value (every other
        value is finite).
      names: the column names of the header row, or ``None`` (no header, or ``.npy``).
      columns: the 1-based position in the file of each column of ``values``.
      lines: the 1-based line of each row in the file, or ``None`` (``.npy``, or text with
        line breaks inside quoted cells).
      blank: whether each row is an empty line of a text file.
      trailing_blank: the number of empty lines after the data, which are not rows.
    """

    path: str
    values: np.ndarray
    names: tuple[str, ...] | None
    columns: tuple[int, ...]
    lines: np.ndarray | None
    blank: np.ndarray
    trailing_blank: int = 0

    def __len__(self) -> int:
        return self.values.shape[0]

    def error(self, reason: str, row: int | None = None, col: int | None = None):
        """A :class:`DataFileError` on row ``row`` and column ``col`` (0-based in ``values``)."""
        line = None if row is None or self.lines is None else int(self.lines[row])
        zero_row = row if row is not None and self.lines is None else None
        column = name = None
        if col is not None:
            column = self.columns[col] - (zero_row is not None)
            name = None if self.names is None else self.names[col]
        return DataFileError(self.path, reason, line, column, name=name, row=zero_row)

    def missing(self) -> np.ndarray:
        """Whether each row has a missing value (NaN, an empty cell or an empty line)."""
        return np.isnan(self.values).any(axis=1)

    def check_complete(self, advice: str = FILL_IN) -> None:
        """Raise a :class:`DataFileError` on the first missing value, with ``advice``."""
        gaps = np.argwhere(np.isnan(self.values))
        if len(gaps) == 0:
            return
        row, col = (int(i) for i in gaps[0])
        if self.blank[row]:
            raise self.error(f"empty line inside the data: a missing value; {advice}", row)
        raise self.error(f"missing value (an empty cell or NaN); {advice}", row, col)

    def take(self, rows: np.ndarray) -> Table:
        """The table of the rows selected by ``rows`` (a boolean mask or indices)."""
        return dataclasses.replace(
            self,
            values=self.values[rows],
            lines=None if self.lines is None else self.lines[rows],
            blank=self.blank[rows],
        )

    def select(self, names: Sequence[str], option: str) -> Table:
        """The table of the columns called ``names``, in that order.

        Args:
          names: column names of the header row.
          option: the option that chose them, for errors.
        """
        if self.names is None:
            raise DataFileError(
                self.path, f"{option} selects columns by name, but the file has no header row."
            )
        cols = []
        for name in names:
            found = [j for j, have in enumerate(self.names) if have == name]
            if len(found) != 1:
                problem = "no column" if not found else f"{len(found)} columns"
                raise DataFileError(
                    self.path,
                    f"{option}: {problem} named {name!r}; the columns are "
                    f"{', '.join(repr(n) for n in self.names)}.",
                )
            cols.append(found[0])
        return dataclasses.replace(
            self,
            values=self.values[:, cols],
            names=tuple(self.names[j] for j in cols),
            columns=tuple(self.columns[j] for j in cols),
        )

    def check_no_index(self) -> None:
        """Refuse a column that looks like the index ``DataFrame.to_csv()`` writes.

        That is a column with an empty header cell whose values are distinct integers
        (``0 … n−1``, or what remains of them after rows were dropped or shuffled): used as
        data, it makes independent files look dependent, or hides a real dependence.
        """
        if self.names is None:
            return
        for j, name in enumerate(self.names):
            col = self.values[:, j]
            if name == "" and np.all(col == np.round(col)) and len(np.unique(col)) == len(col):
                raise self.error(
                    "has no name and holds distinct integers: it looks like the index that "
                    "pandas' DataFrame.to_csv() writes, which is not data. Pass --index-col "
                    f"{self.columns[j] - 1} to drop it, or write the file with "
                    "to_csv(index=False).",
                    col=j,
                )


def load_table(path: str | os.PathLike, *, index_col: int | str | None = None) -> Table:
    """Read a data file with one row per sample, keeping missing values (as NaN).

    * ``.csv`` (comma-separated) and ``.tsv`` (tab-separated) text, UTF-8, parsed by
      ``pandas.read_csv``. The first row is a header if none of its cells is a number.
      Every row must have that row's number of cells, each a finite number or missing (an
      empty cell, or a name pandas reads as NaN, such as ``NaN`` or ``NA``). An empty line
      inside the data is a missing row; empty lines before and after the data are ignored.
    * ``.npy``, read with ``np.load(path, allow_pickle=False)``: a 1-D or 2-D array of numbers
      (bool, int or float); NaN is a missing value. Pickled and object arrays are refused.

    Args:
      path: the file; its type is given by its suffix (case-insensitive).
      index_col: a column to drop, by its 0-based position or its name: the row labels that
        ``DataFrame.to_csv()`` writes first. Text files only.

    Returns:
      The :class:`Table` of the file.

    Raises:
      DataFileError: (a ``ValueError``) if the file cannot be read, or holds ragged rows,
        non-numeric or infinite values, or no data.

    Example:
      >>> import pathlib, tempfile
      >>> from hsic._base.io import load_table
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     path = pathlib.Path(tmp, "xy.csv")
      ...     _ = path.write_text(",x,y\\n0,1,2\\n1,,4.5\\n")
      ...     table = load_table(path, index_col=0)
      >>> table.names, table.values, table.lines
      (('x', 'y'), array([[1. , 2. ], [nan, 4.5]]), array([2, 3]))
    """
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise DataFileError(
            path, f"unsupported file type {suffix or '(none)'!r}; use .csv, .tsv or .npy."
        )
    try:
        if suffix == ".npy":
            if index_col is not None:
                raise DataFileError(path, "--index-col applies to .csv and .tsv files only.")
            return _read_npy(path)
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise DataFileError(path, f"cannot read the file: {err.strerror or err}.") from err
    sep = SUFFIXES[suffix]
    assert sep is not None  # only .npy has no delimiter
    table = _read_text(path, data, sep)
    return table if index_col is None else _drop_column(table, index_col)


def read_table(
    path: str | os.PathLike,
    *,
    index_col: int | str | None = None,
    columns: Sequence[str] | None = None,
) -> np.ndarray:
    """Read a data file with one row per sample into a float64 array of shape ``(n, d)``.

    The formats are :func:`load_table`'s. This refuses missing values and a column that looks
    like the index ``DataFrame.to_csv()`` writes (an unnamed column of distinct integers).

    Args:
      path: the file; its type is given by its suffix (case-insensitive).
      index_col: a column to drop, by its 0-based position or its name (text files only).
      columns: the names of the columns to keep, in that order; ``None``: all.

    Returns:
      A float64 array of shape ``(n, d)``; a single column gives ``d = 1``.

    Raises:
      DataFileError: (a ``ValueError``) if the file cannot be read, or holds ragged rows,
        non-numeric, missing or infinite values, an index column, or no data.

    Example:
      >>> import pathlib, tempfile
      >>> from hsic._base.io import read_table
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     path = pathlib.Path(tmp, "xy.csv")
      ...     _ = path.write_text("x,y\\n1,2\\n3,4.5\\n\\n")
      ...     read_table(path)
      array([[1. , 2. ],
             [3. , 4.5]])
    """
    table = load_table(path, index_col=index_col)
    if columns is not None:
        table = table.select(columns, "`columns`")
    table.check_no_index()
    table.check_complete()
    return table.values


# --------------------------------------------------------------------------------------------
# Text files
# --------------------------------------------------------------------------------------------

_TOO_MANY = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_NOT_BLANK = re.compile(rb"\S")
_LEADING_BLANK = re.compile(rb"(?:\xef\xbb\xbf)?(?:[ \t]*(?:\r\n|\r|\n))*")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _count_breaks(data: bytes) -> int:
    """The number of line breaks (``\\n``, ``\\r\\n`` or ``\\r``), without a copy."""
    returns = data.count(b"\r")
    return data.count(b"\n") + (returns and returns - data.count(b"\r\n"))


def _count_lines(data: bytes) -> int:
    """The number of lines as ``bytes.splitlines`` (and pandas) count them."""
    return _count_breaks(data) + (1 if data and not data.endswith((b"\n", b"\r")) else 0)


def _is_blank(line: bytes) -> bool:
    return not line.strip()


def _read_text(path: str | os.PathLike, data: bytes, sep: str) -> Table:
    """Parse delimited text with pandas, keeping each row's line for error messages."""
    import pandas as pd  # deferred: only the CLI's file reading needs it

    leading = _LEADING_BLANK.match(data)
    skip = 0 if leading is None else _count_breaks(leading.group())  # empty lines before the data
    options = dict(sep=sep, skipinitialspace=True, skip_blank_lines=False, index_col=False)
    try:
        if _NOT_BLANK.search(data, 0 if leading is None else leading.end()) is None:
            raise pd.errors.EmptyDataError
        first = pd.read_csv(
            io.BytesIO(data), header=None, nrows=1, dtype=str, keep_default_na=False,
            skiprows=skip, encoding="utf-8-sig", **options,
        )
        cells = [str(c).strip() for c in first.iloc[0]]
        header = not any(_is_number(c) for c in cells)
        width = len(cells)
        with warnings.catch_warnings():  # mixed types in a column: reported below, precisely
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            frame = pd.read_csv(
                io.BytesIO(data), header=None, names=range(width), skiprows=skip + header,
                encoding="utf-8-sig", **options,
            )
    except pd.errors.EmptyDataError:
        raise DataFileError(
            path, "no data rows; expected one row of numbers per sample."
        ) from None
    except UnicodeDecodeError as err:
        raise DataFileError(path, "not a UTF-8 text file.") from err
    except pd.errors.ParserError as err:
        message = str(err).strip()
        too_many = _TOO_MANY.search(message)
        if too_many:
            want, line, got = (int(g) for g in too_many.groups())
            raise DataFileError(path, f"expected {want} values, got {got}.", line) from None
        raise DataFileError(path, f"malformed text: {message}.") from None

    n = len(frame)
    first_line = skip + header + 1
    row_lines: np.ndarray | None = None
    if first_line - 1 + n == _count_lines(data):  # no line breaks inside quoted cells
        row_lines = np.arange(first_line, first_line + n)
    values = np.empty((n, width), dtype=np.float64)
    names = tuple(cells) if header else None
    table = Table(
        os.fspath(path), values, names, tuple(range(1, width + 1)), row_lines,
        np.zeros(n, dtype=bool),
    )
    for j in range(width):
        values[:, j] = _numbers(frame[j], table, j, header)
    if row_lines is not None and np.isnan(values[:, -1]).any():
        lines = data.splitlines(keepends=False)
        blank = np.zeros(n, dtype=bool)
        for i in np.flatnonzero(np.isnan(values).all(axis=1)):
            blank[i] = _is_blank(lines[row_lines[i] - 1])
        trailing = 0
        while trailing < n and blank[n - 1 - trailing]:
            trailing += 1
        table = dataclasses.replace(table, blank=blank, trailing_blank=trailing)
        table = table.take(np.arange(n - trailing))
        _check_short_rows(table, lines, sep)
    if len(table) == 0:
        raise DataFileError(path, "no data rows; expected one row of numbers per sample.")
    return table


def _numbers(column, table: Table, j: int, header: bool) -> np.ndarray:
    """One column as float64 (NaN where missing), or an error at its first bad cell."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        out = column.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        as_text = column.astype(object)
        coerced = pd.to_numeric(as_text.where(as_text.notna(), None), errors="coerce")
        bad = np.flatnonzero(coerced.isna().to_numpy() & column.notna().to_numpy())
        if len(bad):
            row = int(bad[0])
            text = str(as_text.iloc[row]).strip()
            hint = " (a header row must have no numeric names)" if row == 0 and not header else ""
            raise table.error(f"{text!r} is not a number{hint}.", row, j)
        out = coerced.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.flatnonzero(np.isinf(out))
    if len(infinite):
        row = int(infinite[0])
        raise table.error(f"{out[row]} is not finite; drop or fill in such rows.", row, j)
    return out


def _check_short_rows(table: Table, lines: list[bytes], sep: str) -> None:
    """Refuse a non-empty row with fewer cells than the first (pandas fills them with NaN)."""
    width = table.values.shape[1]
    if width == 1 or table.lines is None:
        return
    for i in np.flatnonzero(np.isnan(table.values[:, -1]) & ~table.blank):
        raw = lines[int(table.lines[i]) - 1].decode("utf-8", errors="replace")
        got = len(next(csv.reader([raw], delimiter=sep)))
        if got < width:
            raise table.error(f"expected {width} values, got {got}.", int(i))


def _drop_column(table: Table, index_col: int | str) -> Table:
    """The table without the column ``index_col`` (a 0-based position or a name)."""
    width = table.values.shape[1]
    if isinstance(index_col, str):
        if table.names is None or table.names.count(index_col) != 1:
            raise DataFileError(
                table.path,
                f"--index-col {index_col!r}: not the name of one column"
                + (
                    "; the file has no header row."
                    if table.names is None
                    else f"; the columns are {', '.join(repr(c) for c in table.names)}."
                ),
            )
        drop = table.names.index(index_col)
    elif 0 <= index_col < width:
        drop = index_col
    else:
        raise DataFileError(
            table.path, f"--index-col {index_col}: the file has {width} columns (0 to {width - 1})."
        )
    if width == 1:
        raise DataFileError(table.path, "--index-col: the file has no other column.")
    keep = [j for j in range(width) if j != drop]
    return dataclasses.replace(
        table,
        values=table.values[:, keep],
        names=None if table.names is None else tuple(table.names[j] for j in keep),
        columns=tuple(table.columns[j] for j in keep),
    )


# --------------------------------------------------------------------------------------------
# .npy files
# --------------------------------------------------------------------------------------------


def _read_npy(path: str | os.PathLike) -> Table:
    with open(path, "rb") as f:
        try:
            arr = np.load(f, allow_pickle=False)
        except (ValueError, EOFError) as err:
            raise DataFileError(
                path,
                f"not a plain .npy array of numbers ({err}). Pickled and object arrays are "
                "refused; save a numeric array with np.save.",
            ) from err
    if not isinstance(arr, np.ndarray):  # an .npz archive with an .npy name
        raise DataFileError(path, "is an .npz archive; save one array with np.save instead.")
    if arr.dtype.kind not in "biuf":
        raise DataFileError(path, f"holds {arr.dtype} values; expected numbers.")
    if arr.ndim not in (1, 2):
        raise DataFileError(
            path, f"expected a 1-D or 2-D array (one row per sample); got shape {arr.shape}."
        )
    arr = arr.astype(np.float64)
    arr = arr[:, None] if arr.ndim == 1 else arr
    if arr.size == 0:
        raise DataFileError(path, f"is empty (shape {arr.shape}).")
    table = Table(
        os.fspath(path), arr, None, tuple(range(1, arr.shape[1] + 1)), None,
        np.zeros(len(arr), dtype=bool),
    )
    infinite = np.argwhere(np.isinf(arr))
    if len(infinite):
        raise table.error("holds inf; drop or fill in such rows.", int(infinite[0][0]))
    return table

