"""What clean_legacy raises: a refusal the user can act on, or a fault in its own work."""

from __future__ import annotations

from migration.errors import EXIT_FINDINGS, InputError


class CleanError(InputError):
    """clean_legacy cannot do what was asked; the message is one line saying why."""


class CleanFault(CleanError):
    """clean_legacy's check of its own work failed: not the file's fault, nor the command line's."""

    exit_code = EXIT_FINDINGS
