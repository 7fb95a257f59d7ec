from django.core.management.base import CommandError
from django.db import DatabaseError

from migration.errors import first_line
from migration.load.report import ImportFailed, OnConflict
from migration.load.run import import_legacy
from migration.management.base import EXIT_FINDINGS, ReportCommand
from migration.progress import terminal_progress
from migration.reports import render_import
from migration.workers import WorkerLost


class Command(ReportCommand):
    help = (
        "Import a legacy file into the target database through the ORM, one atomic "
        "transaction per target table, keeping a ledger that makes re-runs safe."
    )
    formats = ("text", "json")
    target_action = "import into"

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Run the whole import and roll it back: the database is unchanged afterwards.",
        )
        parser.add_argument(
            "--on-conflict",
            choices=[choice.value for choice in OnConflict],
            default=OnConflict.REPORT.value,
            help=(
                "A legacy row changed since its import whose target row was edited in Django "
                "too: report it and leave both (report, the default), write the legacy row "
                "over the edit (take-legacy), or keep the edit and let the legacy change go "
                "(keep-target). Try it with --dry-run first."
            ),
        )

    def handle(self, *args, **options):
        with self.legacy_source(options["source"]) as source:
            report = import_legacy(
                source=source,
                using=options["database"],
                dry_run=options["dry_run"],
                on_conflict=OnConflict(options["on_conflict"]),
                progress=terminal_progress(self.stderr, options["verbosity"]),
            )
        self.write_report(render_import(self.shown(report, options), options["format"]), options)
        if report.conflicts:
            raise CommandError(
                f"{len(report.conflicts)} conflict(s): rows edited in Django since their import "
                "were not overwritten (listed in the report); to settle them, run again with "
                "--on-conflict take-legacy or keep-target",
                returncode=EXIT_FINDINGS,
            )

    def error_line(self, error: Exception, options) -> str:
        if not isinstance(error, ImportFailed | DatabaseError | WorkerLost):
            return super().error_line(error, options)
        after = (
            "Nothing was written (dry run)"
            if options["dry_run"]
            else "Tables before it are committed; run import_legacy again to finish"
        )
        return f"import stopped: {first_line(error)}. {after}"
