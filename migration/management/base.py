"""What every command that reads a legacy file and writes a report has in common."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from migration.legacy import LegacyFileError, LegacySource, open_legacy
from migration.redaction import redacted
from migration.reports import FORMATS

# Exit codes, the same for every command (documented in the README).
EXIT_FINDINGS = 1  # the command ran, and what it found stands in the way
EXIT_UNREADABLE = 2  # the legacy file cannot be read


class ReportCommand(BaseCommand):
    formats: tuple[str, ...] = FORMATS
    # Where the report goes; a command whose --output is a data file renames this.
    report_option = "--output"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--source", required=True, help="The legacy SQLite file to read.")
        parser.add_argument(
            "--format",
            choices=self.formats,
            default="text",
            help="How to write the report (default: text).",
        )
        parser.add_argument(
            self.report_option, help="Write the report to this file instead of standard output."
        )
        parser.add_argument(
            "--redact",
            action="store_true",
            help="Mask personal data (names, e-mail addresses, quoted values) in the report "
            "and in error messages, for a CI log or a ticket.",
        )

    def shown(self, report: Any, options) -> Any:
        """The report as this run shows it: its personal data masked under --redact."""
        return redacted(report) if options["redact"] else report

    def report_destination(self, options) -> str | None:
        return options[self.report_option.removeprefix("--")]

    @contextmanager
    def legacy_source(self, path: str) -> Iterator[LegacySource]:
        try:
            with open_legacy(path) as source:
                yield source
        except LegacyFileError as error:
            raise CommandError(str(error), returncode=EXIT_UNREADABLE) from error

    def write_report(self, rendered: str, options) -> None:
        """The report to --output (or the command's report option), else to stdout
        unless --verbosity 0 asked for quiet."""
        output = self.report_destination(options)
        if output is None and options["verbosity"] < 1:
            return
        self._write_report(rendered, output)

    def _write_report(self, rendered: str, output: str | None) -> None:
        # Legacy text that is not UTF-8 arrives as lone surrogates; a report
        # shows those bytes escaped (\udcff) rather than failing to be written.
        rendered = rendered.encode("utf-8", "backslashreplace").decode("utf-8")
        if output is None:
            self.stdout.write(rendered, ending="")
            return
        target = Path(output)
        try:
            # Written beside the target and renamed, so a report is never half there.
            fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(rendered)
            os.replace(temporary, target)
        except OSError as error:
            raise CommandError(f"{output}: cannot write the report ({error.strerror})") from error
