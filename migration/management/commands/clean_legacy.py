from pathlib import Path

from django.core.management.base import CommandError

from migration.clean.emails import explicit_addresses, trainer_usernames
from migration.clean.run import clean_legacy
from migration.management.base import EXIT_FINDINGS, ReportCommand
from migration.paths import Output
from migration.precheck.run import run_precheck
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

    def outputs(self, options) -> list[Output]:
        # The cleaned copy is an SQLite file: its journals are its too.
        copy = Output("--output", Path(options["output"]), database=True, replaces=options["force"])
        return [copy, *super().outputs(options)]

    def handle(self, *args, **options):
        with self.legacy_source(options["source"]) as source:
            emails = explicit_addresses(options["email"], trainer_usernames(source))
            report = clean_legacy(
                source=source, output=Path(options["output"]), explicit_emails=emails
            )
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
