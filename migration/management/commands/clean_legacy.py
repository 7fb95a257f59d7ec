from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from django.core.management.base import CommandError

from migration.clean import (
    CleanError,
    CleanFault,
    CleanReport,
    clean_legacy,
    refuse_source_as_output,
    same_file,
)
from migration.legacy import LegacySource
from migration.management.base import EXIT_FINDINGS, EXIT_UNREADABLE, ReportCommand
from migration.precheck import run_precheck
from migration.reports import render_clean


class Command(ReportCommand):
    help = (
        "Write a cleaned copy of a legacy file (the source is only read): duplicate e-mails, "
        "duplicate pair rows, missing trainers, fee breakdowns and unstorable text fixed, rows "
        "pointing at nothing quarantined, every change logged inside the copy. Exits "
        f"{EXIT_FINDINGS} when something is left for a person."
    )

    # --output is the cleaned copy here, so the report file is --report.
    report_option = "--report"

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--output", required=True, help="Where to write the cleaned copy (a new file)."
        )
        parser.add_argument(
            "--email",
            action="append",
            default=[],
            metavar="USERNAME=ADDRESS",
            help="Give this trainer this address instead of a plus-address (repeatable).",
        )
        parser.add_argument(
            "--force", action="store_true", help="Replace the --output file if it exists."
        )

    def handle(self, *args, **options):
        with self.legacy_source(options["source"]) as source, self.refusing_on_error():
            report = self.clean(source, options)
        with self.legacy_source(report.output) as cleaned:
            report = report.with_precheck(run_precheck(cleaned))
        self.write_report(render_clean(self.shown(report, options), options["format"]), options)
        if report.needs_person:
            raise CommandError(
                f"{report.output} is written, but {len(report.conflicts)} conflict(s) and "
                f"{len(report.other_blocking)} other blocking finding(s) need a person "
                "(listed in the report)",
                returncode=EXIT_FINDINGS,
            )

    def clean(self, source: LegacySource, options: dict) -> CleanReport:
        output = Path(options["output"])
        report_destination = self.report_destination(options)
        report_file = Path(report_destination) if report_destination else None
        check_output(source=source.path, output=output, force=options["force"], report=report_file)
        emails = parse_explicit_emails(options["email"])
        return clean_legacy(source=source, output=output, explicit_emails=emails)

    @contextmanager
    def refusing_on_error(self) -> Iterator[None]:
        # Refusals and failures leave no output file behind: say why, in one line.
        # A failed check of clean_legacy's own work is neither the file's fault
        # nor the command line's: it stands in the way (exit 1).
        try:
            yield
        except CleanFault as error:
            raise CommandError(str(error), returncode=EXIT_FINDINGS) from error
        except CleanError as error:
            raise CommandError(str(error), returncode=EXIT_UNREADABLE) from error


def parse_explicit_emails(values: Sequence[str]) -> dict[str, str]:
    """--email USERNAME=ADDRESS options as {username: address}."""
    emails: dict[str, str] = {}
    for value in values:
        username, equals, address = value.partition("=")
        username, address = username.strip(), address.strip()
        if not equals or not username:
            raise CleanError(f"--email {value!r}: write it as USERNAME=ADDRESS")
        if username in emails:
            raise CleanError(f"--email: {username} is given twice; give one address each")
        local, at, domain = address.rpartition("@")
        if not (at and local and domain):
            raise CleanError(f"--email {username}={address}: that is not an e-mail address")
        emails[username] = address
    return emails


def check_output(*, source: Path, output: Path, force: bool, report: Path | None = None) -> None:
    """Refuse an --output (or --report) that would overwrite the source or an existing file."""
    refuse_source_as_output(source, output)
    if report is not None:
        refuse_source_as_output(source, report, option="--report")
        if same_file(output, report):
            raise CleanError(f"{report}: --report and --output must be different files")
    if output.is_dir():
        raise CleanError(f"{output}: is a directory; --output takes the cleaned file's name")
    if output.exists() and not force:
        raise CleanError(f"{output} already exists: choose another --output, or add --force")
