"""The errors an operator acts on: one line saying what is wrong and what to do next.

Every error the engine raises for an operator is an `OperatorError`. Its class
says whose the problem is, as the exit code every command shares (documented
in the README): the legacy file or the command line (2), or what the command
met, the target included (1). Its `personal` values are the ones its message
quotes that identify someone (a username, an address): the command masks them
under --redact, wherever the error was raised, so that no message needs to
know whether it will be shown redacted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

EXIT_FINDINGS = 1  # the command ran, and what it found or met stands in the way
EXIT_UNREADABLE = 2  # the legacy file cannot be read, or the command line is wrong


class OperatorError(Exception):
    """What stands in the way, in one line that says what to do next."""

    exit_code = EXIT_FINDINGS

    def __init__(self, message: str, *, personal: Iterable[Any] = ()):
        super().__init__(message)
        self.personal = tuple(str(value) for value in personal if value not in (None, ""))


class InputError(OperatorError):
    """The legacy file, or the command line, is not what the command can work with."""

    exit_code = EXIT_UNREADABLE


def first_line(error: BaseException) -> str:
    """An error's message as one line: what follows a database's first line may quote row data."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def kept_on_one_line(message: str) -> str:
    """A message of ours, whole, on one line: a path or a value it quotes may hold a line
    break, which would otherwise cut what to do next off the line."""
    return message.strip().replace("\r", "\\r").replace("\n", "\\n")
