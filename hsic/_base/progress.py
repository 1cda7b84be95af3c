"""Progress bars: the one rule for the ``progress`` argument of every function that can run long.

``progress`` takes ``True`` (show a bar), ``False`` (never) or ``None`` (the default, auto):
show one when stderr is a terminal and the work is long, ``work >= LONG_WORK``. ``work``
counts the entries a function reads, e.g. ``B·n²`` for B permutations of an ``n × n`` Gram
matrix: 2·10⁹ of them take a few seconds on one CPU core. Bars are tqdm's, on stderr, and
tqdm is imported only when a bar is shown.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["LONG_WORK", "make_bar", "resolve_progress"]

#: The work (entries read) above which ``progress=None`` shows a bar on a terminal.
LONG_WORK = 2e9


def resolve_progress(progress: Any, work: float = float("inf"), name: str = "progress") -> bool:
    """Whether to show a bar: ``progress`` itself, or for ``None`` a terminal and long work.

    Example:
      >>> from hsic._base.progress import resolve_progress
      >>> resolve_progress(True, 0), resolve_progress(None, 10)
      (True, False)
    """
    if progress is None:
        return bool(work >= LONG_WORK and sys.stderr.isatty())
    if not isinstance(progress, bool):
        raise ValueError(f"`{name}` must be True, False or None (auto); got {progress!r}.")
    return progress


def make_bar(enabled: bool, total: int | None, desc: str, unit: str = "it") -> Any:
    """A tqdm bar on stderr when ``enabled``, else ``None`` (callers test for it); ``total``
    ``None`` when the length is not known."""
    if not enabled:
        return None
    from tqdm.auto import tqdm  # deferred: only progress bars need it

    return tqdm(total=total, desc=desc, unit=unit, leave=False)
