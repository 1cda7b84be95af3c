"""Reading data files for the command-line tool.

This module owns the file formats that ``hsic test`` accepts (``.csv``, ``.tsv`` and ``.npy``,
one row per sample) and their error messages: :func:`read_table` either returns a float array
of shape ``(n, d)`` or raises a :class:`DataFileError` naming the file and, for text files, the
line. Checks on the statistics' side (matching n, constant data...) stay in :func:`hsic.test`.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import cast

import numpy as np

__all__ = ["DataFileError", "SUFFIXES", "read_table"]

#: The file types :func:`read_table` reads, and the delimiter of the text ones.
SUFFIXES = {".csv": ",", ".tsv": "\t", ".npy": None}


class DataFileError(ValueError):
    """A data file that cannot be used; the message starts with the file (and line).

    Attributes:
      path: the file, as given.
      line: the 1-based line of a text file where the problem is, or ``None``.
      column: the 1-based column of that line, or ``None``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        reason: str,
        line: int | None = None,
        column: int | None = None,
    ):
        self.path, self.line, self.column = os.fspath(path), line, column
        where = [self.path]
        where += [] if line is None else [f"line {line}"]
        where += [] if column is None else [f"column {column}"]
        super().__init__(f"{', '.join(where)}: {reason}")


def read_table(path: str | os.PathLike) -> np.ndarray:
    """Read a data file with one row per sample into a float64 array of shape ``(n, d)``.

    * ``.csv`` (comma-separated) and ``.tsv`` (tab-separated) text, UTF-8. The first row is a
      header, and is skipped, if none of its cells is a number. Blank lines are ignored. Every
      other row must have the same number of cells, each a finite number.
    * ``.npy``, read with ``np.load(path, allow_pickle=False)``: a 1-D or 2-D array of numbers
      (bool, int or float). Pickled and object arrays are refused.

    Args:
      path: the file; its type is given by its suffix (case-insensitive).

    Returns:
      A float64 array of shape ``(n, d)``; a single column gives ``d = 1``.

    Raises:
      DataFileError: (a ``ValueError``) if the file cannot be read, or holds ragged rows,
        non-numeric, missing or non-finite values, or no data.

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
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise DataFileError(
            path, f"unsupported file type {suffix or '(none)'!r}; use .csv, .tsv or .npy."
        )
    try:
        if suffix == ".npy":
            return _read_npy(path)
        return _read_text(path, cast(str, SUFFIXES[suffix]))  # only .npy has no delimiter
    except OSError as err:
        raise DataFileError(path, f"cannot read the file: {err.strerror or err}.") from err


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_text(path: str | os.PathLike, delimiter: str) -> np.ndarray:
    """Parse delimited text, keeping each row's line number for error messages."""
    rows: list[tuple[int, list[str]]] = []
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: drop Excel's BOM
        reader = csv.reader(f, delimiter=delimiter)
        try:
            for row in reader:
                if any(cell.strip() for cell in row):
                    rows.append((reader.line_num, row))
        except UnicodeDecodeError as err:
            raise DataFileError(path, "not a UTF-8 text file.") from err
        except csv.Error as err:
            raise DataFileError(path, f"malformed text: {err}.", reader.line_num) from err
    header = rows.pop(0)[1] if rows and not any(_is_number(c) for c in rows[0][1]) else None
    if not rows:
        raise DataFileError(path, "no data rows; expected one row of numbers per sample.")
    width = len(header if header is not None else rows[0][1])
    values: list[float] = []
    for line, row in rows:
        if len(row) != width:
            raise DataFileError(path, f"expected {width} values, got {len(row)}.", line)
        values.extend(_parse_cell(path, line, column, cell) for column, cell in enumerate(row, 1))
    return np.array(values, dtype=np.float64).reshape(len(rows), width)


def _parse_cell(path: str | os.PathLike, line: int, column: int, cell: str) -> float:
    text = cell.strip()
    if not text:
        raise DataFileError(
            path, "empty value; fill in or drop rows with missing values.", line, column
        )
    try:
        value = float(text)
    except ValueError:
        hint = " (a header row must have no numeric names)" if line == 1 else ""
        raise DataFileError(path, f"{text!r} is not a number{hint}.", line, column) from None
    if not math.isfinite(value):
        raise DataFileError(
            path, f"{text!r} is not finite; drop or impute such rows.", line, column
        )
    return value


def _read_npy(path: str | os.PathLike) -> np.ndarray:
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
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        raise DataFileError(
            path,
            f"row {int(np.argmin(finite))} (counting from 0) holds NaN or inf; "
            "drop or impute such rows.",
        )
    return arr
