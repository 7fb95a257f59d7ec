"""Progress on a terminal: a bar per table with rows, rows per second, and time left.

The engine only calls `progress(table, done, total)`; this module draws it,
and the command decides whether to (a terminal, --verbosity 1 or more).
"""

from __future__ import annotations

import time
from collections.abc import Callable

BAR_WIDTH = 24


def progress_line(table: str, done: int, total: int, seconds: float) -> str:
    """One line: `sessions  [######......]  412,000/900,000  48,210 rows/s  0:10 left`."""
    share = done / total if total else 1.0
    filled = round(BAR_WIDTH * share)
    rate = done / seconds if seconds > 0 else 0.0
    left = (total - done) / rate if rate > 0 else None
    eta = "" if left is None or done >= total else f"  {_clock(left)} left"
    return (
        f"  {table:<18} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
        f"{done:>11,}/{total:,}  {rate:>9,.0f} rows/s{eta}"
    )


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}:{seconds:02d}"


class TerminalProgress:
    """Redraws one line per table in place; a finished table keeps its last line."""

    def __init__(self, write: Callable[[str], None], clock: Callable[[], float] = time.monotonic):
        self.write, self.clock = write, clock
        self._table: str | None = None
        self._started = 0.0

    def __call__(self, table: str, done: int, total: int) -> None:
        if table != self._table:
            self._table, self._started = table, self.clock()
        line = progress_line(table, done, total, self.clock() - self._started)
        self.write(f"\r{line}\x1b[K" + ("\n" if done >= total else ""))
