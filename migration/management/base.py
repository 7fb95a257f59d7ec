"""What every command that reads a legacy file and writes a report has in common.

Every such command runs through `ReportCommand.execute`, which makes two of
the README's promises hold for all of them, whatever their handle() does:

- nothing is worked on until what the command will write is known to be
  writable and never the legacy file (paths.check_outputs), and its target
  database, if it has one, is there and migrated (target.check_target);
- every error ends the run as one line with the shared exit code, never a
  traceback (unless --traceback asks for one), with its personal data masked
  under --redact (errors_as_one_line);
- Ctrl-C and SIGTERM stop the work cleanly and say so in one line, exit 1
  (stops.stopped_in_one_line).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, SystemCheckError
from django.db import DEFAULT_DB_ALIAS, DatabaseError

from migration.errors import (
    EXIT_FINDINGS,
    EXIT_UNREADABLE,
    OperatorError,
    first_line,
    kept_on_one_line,
)
from migration.guard import check_written
from migration.legacy import LegacySource, open_legacy
from migration.paths import Output, renamed_over, temporary_beside
from migration.redaction import redact_finding, redact_line, redacted
from migration.reports import FORMATS
from migration.stops import stopped_in_one_line
from migration.target import check_target

__all__ = ["EXIT_FINDINGS", "EXIT_UNREADABLE", "ReportCommand"]


class ReportCommand(BaseCommand):
    formats: tuple[str, ...] = FORMATS
    # Where the report goes; a command whose --output is a data file renames this.
    report_option = "--output"
    # What a command with a target database does to it ("import into"): it takes --database.
    target_action: str | None = None

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
        if self.target_action:
            parser.add_argument(
                "--database",
                default=DEFAULT_DB_ALIAS,
                help=f"Nominates the database to {self.target_action}. "
                'Defaults to the "default" database.',
            )

    # --- the boundary: checked before handle() does any work ---------------------

    def execute(self, *args, **options):
        stops = stopped_in_one_line(EXIT_FINDINGS, process_ends=self._called_from_command_line)
        with stops, self.errors_as_one_line(options):
            self.check_boundary(options)
            return super().execute(*args, **options)

    def check_boundary(self, options) -> None:
        check_written(options["source"], self.outputs(options))
        if self.target_action:
            check_target(options["database"])

    def outputs(self, options) -> list[Output]:
        """Every file this run writes, named by its option (a command with more adds them)."""
        destination = self.report_destination(options)
        return [] if destination is None else [Output(self.report_option, Path(destination))]

    @contextmanager
    def errors_as_one_line(self, options) -> Iterator[None]:
        """Whatever ends the run with an error ends it as one line: a CommandError, which
        Django prints with its exit code (or, with --traceback, re-raises with its cause)."""
        try:
            yield
        except SystemCheckError:
            raise  # Django's own report of the project's checks, formatted by Django
        except Exception as error:
            raise self.one_line(error, options) from error

    def one_line(self, error: Exception, options) -> CommandError:
        if isinstance(error, CommandError):
            code = error.returncode
        elif isinstance(error, OperatorError):
            code = error.exit_code
        else:
            code = EXIT_FINDINGS  # a database error or a bug: what the command met
        for item in getattr(error, "findings", ()):  # what blocked it, listed before the line
            shown = redact_finding(item) if options.get("redact") else item
            self.stderr.write(f"  [{shown.code}] {shown.summary}")
        line = first_line(self.error_line(error, options))
        if options.get("redact"):
            line = redact_line(line, personal=getattr(error, "personal", ()))
        return CommandError(line, returncode=code)

    def error_line(self, error: Exception, options) -> str:
        """What went wrong, in words (a command may add what it means for its run)."""
        if isinstance(error, CommandError | OperatorError):
            return kept_on_one_line(str(error))
        if isinstance(error, DatabaseError):
            return (
                f"{self.command_name}: the database refused or failed ({first_line(error)}); "
                f"fix what it names, then run {self.command_name} again"
            )
        # Its message is not shown under --redact: nothing says what it quotes.
        what = type(error).__name__
        if not options.get("redact"):
            what = f"{what}: {first_line(error)}"
        return (
            f"{self.command_name} failed unexpectedly ({what}); run it again with --traceback "
            "for the details"
        )

    @property
    def command_name(self) -> str:
        return self.__module__.rpartition(".")[2]

    # --- the work's ends ---------------------------------------------------------

    def shown(self, report: Any, options) -> Any:
        """The report as this run shows it: its personal data masked under --redact."""
        return redacted(report) if options["redact"] else report

    def report_destination(self, options) -> str | None:
        return options[self.report_option.removeprefix("--")]

    def legacy_source(self, path: str) -> AbstractContextManager[LegacySource]:
        return open_legacy(path)

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
            with renamed_over(target, temporary_beside(target)) as temporary:
                temporary.write_text(rendered, encoding="utf-8")
        except OSError as error:
            raise CommandError(
                f"{output}: cannot write the report ({error.strerror}); make room there, "
                "or choose another file, and run this again"
            ) from error
