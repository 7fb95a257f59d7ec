from django.core.management.base import CommandError

from migration.management.base import EXIT_FINDINGS, ReportCommand
from migration.progress import terminal_progress
from migration.reports import render_verify
from migration.verify.run import verify_import


class Command(ReportCommand):
    help = (
        "Prove that the target matches the legacy file, row by row. "
        f"Exits 0 only when everything holds, {EXIT_FINDINGS} otherwise."
    )
    formats = ("text", "json")
    target_action = "verify"

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--strict",
            action="store_true",
            help="Count rows edited in Django since their import as failures.",
        )

    def handle(self, *args, **options):
        with self.legacy_source(options["source"]) as source:
            report = verify_import(
                source=source,
                using=options["database"],
                strict=options["strict"],
                progress=terminal_progress(self.stderr, options["verbosity"]),
            )
        self.write_report(render_verify(self.shown(report, options), options["format"]), options)
        if not report.passed:
            raise CommandError(
                f"verification failed: {len(report.failures)} finding(s) (see the report)",
                returncode=EXIT_FINDINGS,
            )
