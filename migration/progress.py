"""Progress on a terminal: a bar per table (or per stage) with what is done, its rate,
and time left.

The engine only calls `progress(table, done, total)`, per batch or part, never
per row; this module draws it, and the command decides whether to (a terminal,
--verbosity 1 or more: see `terminal_progress`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# What the engine calls: the table (or stage), how much of it is done, how much in all.
Progress = Callable[[str, int, int], None]

BAR_WIDTH = 24


def progress_line(table: str, done: int, total: int, seconds: float, unit: str = "rows") -> str:
    """One line: `sessions  [######......]  412,000/900,000  48,210 rows/s  0:10 left`."""
    share = done / total if total else 1.0
    filled = round(BAR_WIDTH * share)
    rate = done / seconds if seconds > 0 else 0.0
    left = (total - done) / rate if rate > 0 else None
    eta = "" if left is None or done >= total else f"  {_clock(left)} left"
    return (
        f"  {table:<18} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
        f"{done:>11,}/{total:,}  {rate:>9,.0f} {unit}/s{eta}"
    )


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}:{seconds:02d}"


class TerminalProgress:
    """Redraws one line per table in place; a finished table keeps its last line."""

    def __init__(
        self,
        write: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
        *,
        unit: str = "rows",
    ):
        self.write, self.clock, self.unit = write, clock, unit
        self._table: str | None = None
        self._started = 0.0

    def __call__(self, table: str, done: int, total: int) -> None:
        if table != self._table:
            self._table, self._started = table, self.clock()
        line = progress_line(table, done, total, self.clock() - self._started, self.unit)
        self.write(f"\r{line}\x1b[K" + ("\n" if done >= total else ""))


def terminal_progress(stream: Any, verbosity: int, *, unit: str = "rows") -> Progress | None:
    """A progress callback drawing on `stream` (a command's stderr), or None when
    nothing should be drawn: piped output and CI logs stay clean, and --verbosity 0
    is quiet."""
    if verbosity < 1 or not stream.isatty():
        return None

    def write(text: str) -> None:
        # In the terminal's own colours: a command's stderr would draw it as an error.
        stream.write(text, style_func=_as_it_is, ending="")
        stream.flush()

    return TerminalProgress(write, unit=unit)


def _as_it_is(text: str) -> str:
    return text
