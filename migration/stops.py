"""How a command stops when it is asked to: SIGTERM taken as Ctrl-C, and either said in one line.

Ctrl-C raises KeyboardInterrupt where the command is, and every `with` and
`finally` on the way out runs: a table's transaction rolls back, a report or
a cleaned copy not yet renamed into place is removed, worker processes are
stopped (workers.py). SIGTERM (`kill`, a service manager, a CI job's
timeout) would end the process without any of that; here it does the same
as Ctrl-C. (SIGKILL cannot be caught: what is not committed is lost with the
connection, and a worker dies with its parent.)

A stop is asked for once: Ctrl-C pressed again while the work stops (the
run recorded, the sequences of committed tables moved) is ignored rather than
leave that half done, and so it is once the command has said its line, when
the process ends. (A stop that cannot finish, the database gone silent, ends
with SIGKILL, as any process does.)

A KeyboardInterrupt raised in Python code that C code called (orjson's
`default`, for one) may come out of the C code as an error of its own: what
a stop looks like is decided in one place, `is_stop`.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import CommandError

# Said when the work stopped leaves nothing that needs saying: every command
# writes its report, its copy and each table whole or not at all.
NOTHING_LEFT_HALF_DONE = "nothing was left half-written; run the command again"

_STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_asked = threading.Event()  # set by the signal handler: a stop was asked for


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, raised again by the work it stopped with what that work left
    behind and what to do next (its message, said to the operator)."""


def is_stop(error: BaseException) -> bool:
    """Whether `error` is how Ctrl-C or SIGTERM came out: the KeyboardInterrupt
    itself, an error raised from one, or any error once a stop was asked for."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return _asked.is_set()


@contextmanager
def stopped_in_one_line(exit_code: int, *, process_ends: bool) -> Iterator[None]:
    """Within the block, SIGTERM is Ctrl-C; either ends the command with one line and
    `exit_code`, never a traceback. `process_ends`: the command is the process's
    (run from the command line), which ends with it."""
    with _stopping_on_signals(process_ends):
        try:
            yield
        except BaseException as stop:
            if not is_stop(stop):
                raise
            said = str(stop) if isinstance(stop, Interrupted) else NOTHING_LEFT_HALF_DONE
            raise CommandError(f"interrupted: {said}", returncode=exit_code) from None


@contextmanager
def _stopping_on_signals(process_ends: bool) -> Iterator[None]:
    # Signal handlers belong to the main thread; a command called from another
    # thread (call_command in a server's worker thread) leaves them alone.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # A signal ignored on purpose (a background job's Ctrl-C, nohup) stays ignored.
    previous = {
        signum: signal.getsignal(signum)
        for signum in _STOPPING_SIGNALS
        if signal.getsignal(signum) is not signal.SIG_IGN
    }
    _asked.clear()
    for signum in previous:
        signal.signal(signum, _stop)
    try:
        yield
    finally:
        stopping = process_ends and _asked.is_set()
        for signum, handler in previous.items():
            if stopping:
                handler = signal.SIG_IGN  # the line is said; the process ends
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        _asked.clear()


def _stop(signum: int, frame: Any) -> None:
    if _asked.is_set():
        return  # already stopping
    _asked.set()
    raise KeyboardInterrupt
